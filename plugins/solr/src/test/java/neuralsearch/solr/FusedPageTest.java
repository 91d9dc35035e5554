package neuralsearch.solr;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.List;
import java.util.Map;
import neuralsearch.fusion.FusedHit;
import neuralsearch.fusion.FusionSpec;
import neuralsearch.fusion.Scored;
import org.apache.solr.common.SolrDocument;
import org.apache.solr.common.SolrDocumentList;
import org.junit.jupiter.api.Test;

class FusedPageTest {
  @Test
  void pageKeepsFusedOrderAndFusedScores() {
    List<FusedHit<String>> fused = FusionSpec.parse("rrf").fuse(List.of(
        List.of(new Scored<>("a", 3.0), new Scored<>("b", 2.0), new Scored<>("c", 1.0)),
        List.of(new Scored<>("c", 0.9), new Scored<>("d", 0.5))), null, -1);
    SolrDocument b = new SolrDocument(Map.of("id", "b", "title", "B", "score", 1.0f));
    SolrDocument a = new SolrDocument(Map.of("id", "a", "title", "A"));
    List<FusedHit<String>> page = fused.subList(1, 3);
    SolrDocumentList docs = FusedPage.of(fused.size(), 1, page, Map.of("b", b, "a", a), "id");
    assertEquals(4, docs.getNumFound());
    assertEquals(1, docs.getStart());
    assertEquals(List.of(page.get(0).key(), page.get(1).key()), List.of(docs.get(0).get("id"), docs.get(1).get("id")));
    for (int i = 0; i < page.size(); i++) {
      assertEquals(page.get(i).score(), docs.get(i).get("score"));
    }
  }

  @Test
  void aDocTheFetchMissedKeepsIdAndScore() {
    List<FusedHit<String>> fused = FusionSpec.parse("rrf").fuse(List.of(List.of(new Scored<>("gone", 1.0)), List.of()), null, -1);
    SolrDocumentList docs = FusedPage.of(1, 0, fused, Map.of(), "id");
    assertEquals("gone", docs.get(0).get("id"));
    assertEquals(1.0 / 61, docs.get(0).get("score"));
    assertNull(docs.get(0).get("title"));
  }
}
