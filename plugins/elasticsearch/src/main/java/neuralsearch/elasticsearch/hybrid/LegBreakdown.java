package neuralsearch.elasticsearch.hybrid;

import java.util.LinkedHashMap;
import java.util.Map;

import neuralsearch.fusion.LegScore;

/**
 * The value of a hit's {@code _neural_search_legs} field: keyed by leg name, in leg order, one
 * {@code {"rank", "score" (raw), "normalized"}} object per leg that retrieved the document; legs
 * that did not are absent.
 */
public final class LegBreakdown {
  private LegBreakdown() {}

  public static Map<String, Object> of(HybridRankDoc doc) {
    Map<String, Object> out = new LinkedHashMap<>();
    for (int i = 0; i < doc.legCount(); i++) {
      LegScore leg = doc.leg(i);
      if (leg != null) {
        Map<String, Object> one = new LinkedHashMap<>();
        one.put("rank", leg.rank());
        one.put("score", leg.score());
        one.put("normalized", leg.normalized());
        out.put(doc.legName(i), one);
      }
    }
    return out;
  }
}
