package neuralsearch.solr;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/** The plugin's name and version, written into plugin.properties by the build. */
final class PluginInfo {
  private static final Properties PROPERTIES = load();

  private PluginInfo() {}

  static String name() {
    return PROPERTIES.getProperty("plugin");
  }

  static String version() {
    return PROPERTIES.getProperty("version");
  }

  /** The Solr version the jar was compiled against (the running one may differ). */
  static String builtForSolr() {
    return PROPERTIES.getProperty("solr.built");
  }

  private static Properties load() {
    Properties properties = new Properties();
    try (InputStream in = PluginInfo.class.getResourceAsStream("plugin.properties")) {
      if (in == null) {
        throw new IllegalStateException("plugin.properties is missing from the neural-search-solr jar; rebuild it with Maven");
      }
      properties.load(in);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read plugin.properties from the neural-search-solr jar", e);
    }
    return properties;
  }
}
