package neuralsearch.solr;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.List;
import neuralsearch.fusion.FusedHit;
import neuralsearch.fusion.FusionSpec;
import neuralsearch.fusion.Scored;
import org.apache.solr.common.util.NamedList;
import org.junit.jupiter.api.Test;

class ResponseSectionTest {
  private static final List<List<Scored<String>>> LEGS = List.of(
      List.of(new Scored<>("a", 7.5), new Scored<>("b", 5.0)),
      List.of(new Scored<>("c", 0.9), new Scored<>("a", 0.8)));

  @Test
  void rrfSectionListsEachPageDocsLegsInPageOrder() {
    FusionSpec rrf = FusionSpec.parse("rrf:10");
    List<FusedHit<String>> fused = rrf.fuse(LEGS, null, -1);
    NamedList<?> section = ResponseSection.fusion(rrf, 25, fused.subList(0, 2), HybridSearchHandler.LEG_NAMES);
    assertEquals("rrf:10", section.get("fusion"));
    assertEquals(25, section.get("depth"));
    NamedList<?> legs = (NamedList<?>) section.get("legs");
    assertEquals(List.of("a", "c"), List.of(legs.getName(0), legs.getName(1)));
    NamedList<?> a = (NamedList<?>) legs.get("a");
    NamedList<?> aBm25 = (NamedList<?>) a.get("bm25");
    assertEquals(1, aBm25.get("rank"));
    assertEquals(7.5, aBm25.get("score"));
    assertEquals(1.0 / 11, aBm25.get("normalized"));
    NamedList<?> aKnn = (NamedList<?>) a.get("knn");
    assertEquals(2, aKnn.get("rank"));
    assertEquals(0.8, aKnn.get("score"));
    assertEquals(1.0 / 12, aKnn.get("normalized"));
    NamedList<?> c = (NamedList<?>) legs.get("c");
    assertNull(c.get("bm25"), "a leg that did not retrieve the doc is absent");
    assertEquals(1, c.size());
  }

  @Test
  void linearSectionCarriesNormalisedScores() {
    FusionSpec minmax = FusionSpec.parse("linear:minmax");
    List<FusedHit<String>> fused = minmax.fuse(LEGS, new double[] {1, 1}, -1);
    NamedList<?> section = ResponseSection.fusion(minmax, 100, fused, HybridSearchHandler.LEG_NAMES);
    NamedList<?> b = (NamedList<?>) ((NamedList<?>) section.get("legs")).get("b");
    assertEquals(0.0, ((NamedList<?>) b.get("bm25")).get("normalized"));
    assertEquals("linear:minmax", section.get("fusion"));
  }

  @Test
  void describeNamesThePluginAndSolr() {
    NamedList<?> section = ResponseSection.describe("9.10.1");
    assertEquals("neural-search-solr", section.get("plugin"));
    assertEquals("0.1.0", section.get("version"));
    assertEquals("9.10.1", section.get("solr"));
    assertEquals("9.10.1", section.get("built_for_solr"));
  }
}
