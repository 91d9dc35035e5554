package neuralsearch.elasticsearch.hybrid;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.lucene.search.Explanation;
import org.elasticsearch.common.io.stream.BytesStreamOutput;
import org.elasticsearch.common.io.stream.NamedWriteableAwareStreamInput;
import org.elasticsearch.common.io.stream.NamedWriteableRegistry;
import org.elasticsearch.common.io.stream.StreamInput;
import org.elasticsearch.search.rank.RankDoc;
import org.junit.jupiter.api.Test;

import neuralsearch.fusion.LegScore;

class HybridRankDocTest {

  private static HybridRankDoc sample() {
    HybridRankDoc doc = new HybridRankDoc(42, 0.0325f, 3, "rrf:20", 0.03252032520325203,
        new String[] {"bm25", "knn"}, new double[] {1.0, 0.5}, new LegScore[] {new LegScore(2, 7.25, 1.0 / 22), null});
    doc.rank = 7;
    return doc;
  }

  @Test
  void roundTripsThroughTheWireAsARegisteredRankDoc() throws IOException {
    HybridRankDoc doc = sample();
    NamedWriteableRegistry registry = new NamedWriteableRegistry(new NeuralSearchPlugin().getNamedWriteables());
    try (BytesStreamOutput out = new BytesStreamOutput()) {
      out.writeNamedWriteable(doc);
      StreamInput in = new NamedWriteableAwareStreamInput(out.bytes().streamInput(), registry);
      RankDoc read = in.readNamedWriteable(RankDoc.class);
      HybridRankDoc back = assertInstanceOf(HybridRankDoc.class, read);
      assertEquals(doc, back);
      assertEquals(42, back.doc);
      assertEquals(3, back.shardIndex);
      assertEquals(7, back.rank);
      assertEquals(0.0325f, back.score);
      assertEquals(0.03252032520325203, back.fusedScore());
      assertEquals("rrf:20", back.fusion());
      assertEquals("knn", back.legName(1));
      assertEquals(new LegScore(2, 7.25, 1.0 / 22), back.leg(0));
      assertNull(back.leg(1));
      assertEquals(0, in.available(), "every byte written is read back");
    }
  }

  @Test
  void equalityCoversTheLegs() {
    HybridRankDoc other = new HybridRankDoc(42, 0.0325f, 3, "rrf:20", 0.03252032520325203,
        new String[] {"bm25", "knn"}, new double[] {1.0, 0.5}, new LegScore[] {new LegScore(3, 7.25, 1.0 / 23), null});
    other.rank = 7;
    assertNotEquals(sample(), other);
  }

  @Test
  void breakdownHoldsOnlyTheLegsThatRetrievedTheDoc() {
    Map<String, Object> expected = new LinkedHashMap<>();
    expected.put("bm25", Map.of("rank", 2, "score", 7.25, "normalized", 1.0 / 22));
    assertEquals(expected, LegBreakdown.of(sample()));
  }

  @Test
  void explainNamesEachLegWithRankRawScoreAndContribution() {
    Explanation bm25 = Explanation.match(7.25f, "bm25 details");
    Explanation knn = Explanation.noMatch("knn details");
    Explanation ex = sample().explain(new Explanation[] {bm25, knn}, new String[] {null, null});
    assertTrue(ex.isMatch());
    assertEquals(0.03252032520325203f, ex.getValue().floatValue());
    assertTrue(ex.getDescription().contains("[rrf:20]") && ex.getDescription().contains("rank [7]"),
        ex.getDescription());
    Explanation[] legs = ex.getDetails();
    assertEquals(2, legs.length);
    assertTrue(legs[0].getDescription().contains("leg [bm25]: rank [2], raw score [7.25]"), legs[0].getDescription());
    assertTrue(legs[0].getDescription().contains("1.0 / (20 + 2)"), legs[0].getDescription());
    assertEquals(List.of(bm25), List.of(legs[0].getDetails()));
    assertTrue(!legs[1].isMatch() && legs[1].getDescription().contains("leg [knn] did not retrieve"));
  }

  @Test
  void explainOfLinearFusionNamesTheNormalisation() {
    HybridRankDoc doc = new HybridRankDoc(1, 0.5f, 0, "linear:l2:harmonic", 0.5, new String[] {"a"},
        new double[] {2.0}, new LegScore[] {new LegScore(1, 3.0, 0.5)});
    String leg = doc.explain(new Explanation[0], new String[0]).getDetails()[0].getDescription();
    assertTrue(leg.contains("l2-normalised score (weight 2.0) = [0.5]"), leg);
  }
}
