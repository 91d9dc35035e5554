package neuralsearch.solr;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.solr.embedded.JettyConfig;
import org.apache.solr.embedded.JettySolrRunner;

/**
 * Minimal standalone Solr launcher: runs Solr (Jetty + SolrDispatchFilter, i.e. the same
 * servlet stack as bin/solr) in this JVM, bound to 127.0.0.1, context /solr.
 *
 * <p>Usage: {@code java -cp ... neuralsearch.solr.Main SOLR_HOME PORT}
 *
 * <p>Blocks until the JVM is asked to stop (SIGTERM/SIGINT), then stops Jetty, which closes
 * the CoreContainer (commits nothing new, closes index writers and releases locks).
 */
public final class Main {
  private Main() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: Main SOLR_HOME PORT");
      System.exit(2);
    }
    Path home = Paths.get(args[0]).toAbsolutePath().normalize();
    int port = Integer.parseInt(args[1]);
    if (!Files.isRegularFile(home.resolve("solr.xml"))) {
      System.err.println("no solr.xml in Solr home " + home);
      System.exit(2);
    }
    System.setProperty("solr.solr.home", home.toString());

    JettyConfig config =
        JettyConfig.builder()
            .setPort(port)
            .setContext("/solr")
            .withPortRetryTime(0) // fail fast if the port is taken
            .stopAtShutdown(false) // our own shutdown hook stops it
            .withSSLConfig(null)
            .build();
    JettySolrRunner runner = new JettySolrRunner(home.toString(), new Properties(), config);

    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  System.err.println("neural-search solr: stopping");
                  try {
                    runner.stop();
                  } catch (Throwable t) {
                    t.printStackTrace();
                  } finally {
                    stopped.countDown();
                  }
                  System.err.println("neural-search solr: stopped");
                },
                "solr-shutdown"));

    try {
      runner.start();
    } catch (Throwable t) {
      System.err.println("neural-search solr: failed to start: " + t);
      t.printStackTrace();
      Runtime.getRuntime().halt(1);
    }
    System.err.println(
        "neural-search solr: started on http://127.0.0.1:" + runner.getLocalPort() + "/solr"
            + " home=" + home);
    stopped.await();
  }
}
