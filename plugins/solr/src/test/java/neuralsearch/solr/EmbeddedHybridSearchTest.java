package neuralsearch.solr;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import neuralsearch.fusion.FusedHit;
import neuralsearch.fusion.FusionSpec;
import neuralsearch.fusion.Scored;
import org.apache.solr.client.solrj.SolrRequest;
import org.apache.solr.client.solrj.embedded.EmbeddedSolrServer;
import org.apache.solr.client.solrj.request.QueryRequest;
import org.apache.solr.common.SolrDocument;
import org.apache.solr.common.SolrDocumentList;
import org.apache.solr.common.SolrException;
import org.apache.solr.common.SolrInputDocument;
import org.apache.solr.common.params.ModifiableSolrParams;
import org.apache.solr.common.util.NamedList;
import org.apache.solr.core.CoreContainer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The handler on a real (embedded, in-JVM) core built from the project's configset: its answers
 * must equal fusing, with the shared fusion core, the two legs /select returns on the same core.
 * Responses travel through javabin, as they would between SolrCloud nodes.
 */
class EmbeddedHybridSearchTest {
  private static final String CORE = "hybrid";
  private static final float[] QUERY = {0.3f, -0.2f, 0.9f, 0.1f};

  @TempDir static Path home;
  private static EmbeddedSolrServer solr;

  @BeforeAll
  static void startSolr() throws Exception {
    Path configset = Path.of(System.getProperty("neuralsearch.configset", "../../mappings/solr/neural_search"));
    copyTree(configset, home.resolve("configsets/neural_search"));
    Files.createDirectories(home.resolve("cores"));
    Files.writeString(home.resolve("solr.xml"), "<solr><str name=\"coreRootDirectory\">cores</str>"
        + "<str name=\"configSetBaseDir\">configsets</str><bool name=\"shareSchema\">false</bool></solr>");
    CoreContainer container = new CoreContainer(home, new Properties());
    container.load();
    container.create(CORE, home.resolve("cores/" + CORE), Map.of("configSet", "neural_search",
        "neural_search.vector_dimension", "4", "neural_search.similarity", "cosine"), false);
    solr = new EmbeddedSolrServer(container, CORE);
    Random random = new Random(7);
    String[] words = "space ship alien planet love story war ocean king queen robot time travel dark night city".split(" ");
    List<SolrInputDocument> docs = new ArrayList<>();
    for (int i = 0; i < 24; i++) {
      SolrInputDocument doc = new SolrInputDocument();
      doc.setField("id", "d" + i + (i == 3 ? ",with comma" : ""));
      doc.setField("title", words[random.nextInt(words.length)] + " " + words[random.nextInt(words.length)]);
      StringBuilder text = new StringBuilder();
      for (int w = 0; w < 6; w++) {
        text.append(words[random.nextInt(words.length)]).append(' ');
      }
      doc.setField("text", text.toString());
      doc.setField("meta_genre_s", i % 2 == 0 ? "scifi" : "drama");
      List<Float> vector = new ArrayList<>();
      for (int d = 0; d < 4; d++) {
        vector.add(random.nextFloat() * 2 - 1);
      }
      doc.setField("vector", vector);
      docs.add(doc);
    }
    solr.add(docs);
    solr.commit();
  }

  @AfterAll
  static void stopSolr() throws IOException {
    if (solr != null) {
      solr.close();
    }
  }

  private static void copyTree(Path from, Path to) throws IOException {
    try (Stream<Path> paths = Files.walk(from)) {
      for (Path path : (Iterable<Path>) paths::iterator) {
        Path target = to.resolve(from.relativize(path).toString());
        if (Files.isDirectory(path)) {
          Files.createDirectories(target);
        } else {
          Files.copy(path, target);
        }
      }
    }
  }

  private static NamedList<Object> request(String path, ModifiableSolrParams params) throws Exception {
    QueryRequest request = new QueryRequest(params, SolrRequest.METHOD.POST);
    request.setPath(path);
    return solr.request(request);
  }

  private static ModifiableSolrParams hybridParams(String text, String... pairs) {
    ModifiableSolrParams params = new ModifiableSolrParams();
    params.set("text", text);
    params.set("vector", LegQueries.vectorText(QUERY));
    for (int i = 0; i < pairs.length; i += 2) {
      params.add(pairs[i], pairs[i + 1]);
    }
    return params;
  }

  /** A leg as a client fetches it: the Python client's bm25 / knn query through /select. */
  private static List<Scored<String>> selectLeg(String q, Map<String, String> extra, String... fq) throws Exception {
    ModifiableSolrParams params = new ModifiableSolrParams();
    params.set("q", q);
    params.set("rows", 100);
    params.set("sort", "score desc,id asc"); // as the Python client sorts its legs
    params.set("fl", "id,score");
    extra.forEach(params::set);
    if (fq.length > 0) {
      params.set("fq", fq);
    }
    List<Scored<String>> hits = new ArrayList<>();
    for (SolrDocument doc : (SolrDocumentList) request("/select", params).get("response")) {
      hits.add(new Scored<>((String) doc.get("id"), Double.parseDouble(doc.get("score").toString())));
    }
    return hits;
  }

  private static List<List<Scored<String>>> clientLegs(String text, String... fq) throws Exception {
    return List.of(
        selectLeg("{!edismax qf=content uf=-* v=$qq}", Map.of("qq", QueryText.escape(text)), fq),
        selectLeg("{!knn f=vector topK=100}" + LegQueries.vectorText(QUERY), Map.of(), fq));
  }

  private static void assertSameAsClientFusion(String text, String fusion, int start, int rows, String... fq) throws Exception {
    ModifiableSolrParams params = hybridParams(text, "fusion", fusion, "start", String.valueOf(start), "rows", String.valueOf(rows));
    for (String filter : fq) {
      params.add("fq", filter);
    }
    NamedList<Object> response = request("/neural-search/hybrid", params);
    List<FusedHit<String>> expected = FusionSpec.parse(fusion).fuse(clientLegs(text, fq), null, -1);
    SolrDocumentList docs = (SolrDocumentList) response.get("response");
    assertEquals(expected.size(), docs.getNumFound());
    assertEquals(start, docs.getStart());
    List<FusedHit<String>> page = expected.subList(Math.min(start, expected.size()), Math.min(start + rows, expected.size()));
    assertEquals(page.size(), docs.size());
    NamedList<?> section = (NamedList<?>) response.get("neural_search");
    assertEquals(FusionSpec.parse(fusion).toString(), section.get("fusion"));
    NamedList<?> legs = (NamedList<?>) section.get("legs");
    for (int i = 0; i < page.size(); i++) {
      FusedHit<String> hit = page.get(i);
      assertEquals(hit.key(), docs.get(i).get("id"));
      assertEquals(hit.score(), docs.get(i).get("score"));
      NamedList<?> perLeg = (NamedList<?>) legs.get(hit.key());
      for (int leg = 0; leg < 2; leg++) {
        NamedList<?> detail = (NamedList<?>) perLeg.get(HybridSearchHandler.LEG_NAMES.get(leg));
        if (hit.leg(leg) == null) {
          assertNull(detail);
        } else {
          assertEquals(hit.leg(leg).rank(), detail.get("rank"));
          assertEquals(hit.leg(leg).score(), detail.get("score"));
          assertEquals(hit.leg(leg).normalized(), detail.get("normalized"));
        }
      }
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"rrf", "rrf:5", "linear:minmax", "linear:zscore", "linear:l2:harmonic", "linear:minmax:geometric"})
  void equalsFusingTheSelectLegs(String fusion) throws Exception {
    assertSameAsClientFusion("space ship robot", fusion, 0, 10);
  }

  @Test
  void pagesWithinTheFusedList() throws Exception {
    assertSameAsClientFusion("love story", "rrf", 7, 5);
    assertSameAsClientFusion("love story", "rrf", 20, 10);
  }

  @ParameterizedTest
  @ValueSource(strings = {"{!frange l=0}", "*:*", ") OR (", "\"unbalanced quote", "title:Titanic OR text:*", "\\",
      "space:ship OR (alien*)", "{!knn f=vector topK=1}[1,0,0,0]", "$nsqq"})
  void hostileTextIsOnlyText(String text) throws Exception {
    assertSameAsClientFusion(text, "rrf", 0, 10);
  }

  @Test
  void filtersApplyInsideBothLegs() throws Exception {
    String fq = "{!term f=meta_genre_s v=$fv0_0}";
    ModifiableSolrParams params = hybridParams("space ship", "fq", fq, "fv0_0", "scifi", "rows", "24", "depth", "24",
        "fl", "id,meta_genre_s,title");
    SolrDocumentList docs = (SolrDocumentList) request("/neural-search/hybrid", params).get("response");
    assertEquals(12, docs.getNumFound(), "knn pre-filtered to the 12 scifi docs");
    Set<Object> genres = new HashSet<>();
    for (SolrDocument doc : docs) {
      genres.add(doc.get("meta_genre_s"));
      assertNotNull(doc.get("title"));
      assertNull(doc.get(LegQueries.KEY_ALIAS));
    }
    assertEquals(Set.of("scifi"), genres);
    assertSameAsClientFusion("space ship", "linear:minmax", 0, 10, "meta_genre_s:scifi");
  }

  @Test
  void idsWithCommasAreFetched() throws Exception {
    ModifiableSolrParams params = hybridParams("space", "fl", "id,title", "rows", "24", "depth", "24");
    boolean found = false;
    for (SolrDocument doc : (SolrDocumentList) request("/neural-search/hybrid", params).get("response")) {
      assertNotNull(doc.get("title"), "stored fields for " + doc.get("id"));
      found |= "d3,with comma".equals(doc.get("id"));
    }
    assertTrue(found);
  }

  @Test
  void rejectsAPageBeyondDepth() {
    SolrException e = assertThrows(SolrException.class,
        () -> request("/neural-search/hybrid", hybridParams("war", "depth", "10", "start", "5", "rows", "6")));
    assertEquals(400, e.code());
    assertTrue(e.getMessage().contains("raise depth to at least 11"), e.getMessage());
  }

  @Test
  void aLegFailureIsReportedWithTheLegsName() {
    ModifiableSolrParams params = hybridParams("war");
    params.set("vector", "[1,0,0]");
    SolrException e = assertThrows(SolrException.class, () -> request("/neural-search/hybrid", params));
    assertEquals(400, e.code());
    assertTrue(e.getMessage().contains("knn leg"), e.getMessage());
  }

  @Test
  void describeAnswersWithoutSearching() throws Exception {
    ModifiableSolrParams params = new ModifiableSolrParams();
    params.set("describe", "true");
    NamedList<?> section = (NamedList<?>) request("/neural-search/hybrid", params).get("neural_search");
    assertEquals("neural-search-solr", section.get("plugin"));
    assertEquals("9.10.1", section.get("solr"));
  }
}
