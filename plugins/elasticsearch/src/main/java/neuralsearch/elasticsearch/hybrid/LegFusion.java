package neuralsearch.elasticsearch.hybrid;

import java.util.ArrayList;
import java.util.List;

import org.apache.lucene.search.ScoreDoc;
import org.elasticsearch.search.rank.RankDoc;

import neuralsearch.fusion.FusedHit;
import neuralsearch.fusion.Scored;

/**
 * Fuses the legs' ranked hits, as the coordinating node received them, into the rank docs the final
 * search returns. The maths (and the tie rules) are the shared fusion core's.
 */
public final class LegFusion {
  private LegFusion() {}

  /**
   * @param legs one array per leg, in the leg's rank order (the engine's shard-tagged hits)
   * @param window the most fused hits to keep (rank_window_size)
   * @param minScore drop fused hits scoring below it; null keeps all
   */
  public static HybridRankDoc[] fuse(List<ScoreDoc[]> legs, HybridOptions options, int window, Float minScore) {
    if (legs.size() != options.legCount()) {
      throw new IllegalStateException("[neural_hybrid] got results for " + legs.size() + " legs, expected "
          + options.legCount());
    }
    List<List<Scored<RankDoc.RankKey>>> input = new ArrayList<>(legs.size());
    for (int leg = 0; leg < legs.size(); leg++) {
      List<Scored<RankDoc.RankKey>> hits = new ArrayList<>();
      for (ScoreDoc hit : legs.get(leg)) {
        if (Float.isNaN(hit.score)) {
          throw new IllegalArgumentException("[neural_hybrid] leg [" + options.names().get(leg)
              + "] returned a hit without a score; a leg must rank by score (drop its sort)");
        }
        hits.add(new Scored<>(new RankDoc.RankKey(hit.doc, hit.shardIndex), asClientSees(hit.score)));
      }
      input.add(hits);
    }
    List<FusedHit<RankDoc.RankKey>> fused = options.fusion().fuse(input, options.weights(), window);
    if (minScore != null) {
      fused = fused.stream().filter(h -> h.score() >= minScore).toList();
    }
    double[] exact = new double[fused.size()];
    for (int i = 0; i < exact.length; i++) {
      exact[i] = fused.get(i).score();
    }
    float[] ranked = EngineScores.strictlyDecreasing(exact);
    String fusion = options.fusion().toString();
    String[] names = options.names().toArray(String[]::new);
    double[] weights = options.weights();
    HybridRankDoc[] out = new HybridRankDoc[fused.size()];
    for (int i = 0; i < out.length; i++) {
      FusedHit<RankDoc.RankKey> hit = fused.get(i);
      out[i] = new HybridRankDoc(hit.key().doc(), ranked[i], hit.key().shardIndex(), fusion, hit.score(), names,
          weights, hit.legs());
      out[i].rank = i + 1;
    }
    return out;
  }

  /**
   * A float score as the double a client parses from Elasticsearch's JSON: its shortest decimal
   * form (Float.toString, shortest since JDK 19, is what the JSON writer prints). Fusing these, not
   * the float's exact binary value, makes engine-side and client-side fusion bit-identical: z-score
   * over a narrow leg otherwise magnifies the 1e-8 gap to 1e-6.
   */
  static double asClientSees(float score) {
    return Double.parseDouble(Float.toString(score));
  }
}
