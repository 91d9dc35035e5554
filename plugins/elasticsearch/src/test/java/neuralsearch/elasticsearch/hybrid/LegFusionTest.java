package neuralsearch.elasticsearch.hybrid;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import org.apache.lucene.search.ScoreDoc;
import org.elasticsearch.search.rank.RankDoc;
import org.junit.jupiter.api.Test;

class LegFusionTest {

  /** A leg's hits as the engine hands them over: shard-tagged rank docs in rank order. */
  private static ScoreDoc[] leg(int[][] docAndShard, float... scores) {
    ScoreDoc[] out = new ScoreDoc[scores.length];
    for (int i = 0; i < scores.length; i++) {
      RankDoc doc = new RankDoc(docAndShard[i][0], scores[i], docAndShard[i][1]);
      doc.rank = i + 1;
      out[i] = doc;
    }
    return out;
  }

  private static final HybridOptions RRF = HybridOptions.of(2, List.of("bm25", "knn"), "rrf", null);

  @Test
  void rrfScoresOrderAndBreakdown() {
    // bm25: A(doc 1, shard 0), B(doc 2, shard 1); knn: B, C(doc 3, shard 0)
    ScoreDoc[] bm25 = leg(new int[][] {{1, 0}, {2, 1}}, 7.2f, 5.1f);
    ScoreDoc[] knn = leg(new int[][] {{2, 1}, {3, 0}}, 0.9f, 0.8f);
    HybridRankDoc[] out = LegFusion.fuse(List.of(bm25, knn), RRF, 10, null);
    assertEquals(3, out.length);
    // B: 1/62 + 1/61 first; A (rank 1 in bm25) and C (rank 2 in knn) next
    assertEquals(2, out[0].doc);
    assertEquals(1, out[0].shardIndex);
    assertEquals(1.0 / 62 + 1.0 / 61, out[0].fusedScore(), 1e-15);
    assertEquals((float) (1.0 / 62 + 1.0 / 61), out[0].score);
    assertEquals(1, out[0].rank);
    assertEquals(1, out[1].doc);
    assertEquals(1.0 / 61, out[1].fusedScore(), 1e-15);
    assertEquals(3, out[2].doc);
    assertEquals(3, out[2].rank);
    Map<String, Object> legsOfB = LegBreakdown.of(out[0]);
    assertEquals(Map.of("rank", 2, "score", 5.1, "normalized", 1.0 / 62), legsOfB.get("bm25"));
    assertEquals(Map.of("rank", 1, "score", 0.9, "normalized", 1.0 / 61), legsOfB.get("knn"));
    assertNull(out[1].leg(1), "A was not retrieved by knn");
    assertEquals("rrf", out[0].fusion());
  }

  @Test
  void tiesFollowTheCoreAndStayStrictlyOrderedForTheEngine() {
    // A: rank 1 in bm25 only, C: rank 1 in knn only -> equal RRF; the core puts A (leg 0) first
    ScoreDoc[] bm25 = leg(new int[][] {{5, 2}}, 3.0f);
    ScoreDoc[] knn = leg(new int[][] {{4, 0}}, 0.5f);
    HybridRankDoc[] out = LegFusion.fuse(List.of(bm25, knn), RRF, 10, null);
    assertEquals(5, out[0].doc);
    assertEquals(4, out[1].doc);
    assertEquals(out[0].fusedScore(), out[1].fusedScore());
    // the engine sorts by float score, then shard: without the lift it would put shard 0's C first
    assertTrue(out[0].score > out[1].score);
  }

  @Test
  void rawScoresAreTheDecimalsTheClientParses() {
    // 0.1f is 0.100000001490116... in binary; the JSON a client reads says 0.1, and both sides must fuse the same double
    ScoreDoc[] a = leg(new int[][] {{1, 0}, {2, 0}}, 0.7510706f, 0.1f);
    HybridRankDoc[] out = LegFusion.fuse(List.of(a, new ScoreDoc[0]), RRF, 10, null);
    assertEquals(0.7510706, out[0].leg(0).score(), 0.0);
    assertEquals(0.1, out[1].leg(0).score(), 0.0);
    assertEquals(0.1, LegFusion.asClientSees(0.1f), 0.0);
  }

  @Test
  void linearFusesTheScoresAsTheClientSeesThem() {
    HybridOptions minmax = HybridOptions.of(2, List.of("a", "b"), "linear:minmax", List.of(1.0, 3.0));
    ScoreDoc[] a = leg(new int[][] {{1, 0}, {2, 0}, {3, 0}}, 3.0f, 2.0f, 1.0f);
    ScoreDoc[] b = leg(new int[][] {{3, 0}, {1, 0}}, 0.9f, 0.1f);
    HybridRankDoc[] out = LegFusion.fuse(List.of(a, b), minmax, 10, null);
    // doc 3: (1*0 + 3*1)/4 = 0.75; doc 1: (1*1 + 3*0)/4 = 0.25; doc 2: (1*0.5 + 0)/4 = 0.125
    assertEquals(3, out[0].doc);
    assertEquals(0.75, out[0].fusedScore(), 1e-12);
    assertEquals(1, out[1].doc);
    assertEquals(0.25, out[1].fusedScore(), 1e-12);
    assertEquals(2, out[2].doc);
    assertEquals(0.125, out[2].fusedScore(), 1e-12);
    assertEquals(0.5, out[2].leg(0).normalized(), 1e-12);
  }

  @Test
  void keepsAtMostTheWindowAndHonoursMinScore() {
    ScoreDoc[] bm25 = leg(new int[][] {{1, 0}, {2, 0}, {3, 0}}, 3f, 2f, 1f);
    ScoreDoc[] knn = leg(new int[][] {{4, 0}, {5, 0}}, 0.9f, 0.8f);
    assertEquals(2, LegFusion.fuse(List.of(bm25, knn), RRF, 2, null).length);
    HybridRankDoc[] kept = LegFusion.fuse(List.of(bm25, knn), RRF, 10, (float) (1.0 / 62));
    assertEquals(4, kept.length);
    for (HybridRankDoc doc : kept) {
      assertTrue(doc.fusedScore() >= (float) (1.0 / 62));
    }
  }

  @Test
  void aLegWithoutScoresIsRefusedByName() {
    ScoreDoc[] sorted = leg(new int[][] {{1, 0}}, Float.NaN);
    String message = assertThrows(IllegalArgumentException.class,
        () -> LegFusion.fuse(List.of(sorted, new ScoreDoc[0]), RRF, 10, null)).getMessage();
    assertTrue(message.contains("leg [bm25]"), message);
  }

  @Test
  void emptyLegsFuseToNothing() {
    assertEquals(0, LegFusion.fuse(List.of(new ScoreDoc[0], new ScoreDoc[0]), RRF, 10, null).length);
  }
}
