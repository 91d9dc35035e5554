package neuralsearch.fusion;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The legs as fusion sees them: each leg de-duplicated (a repeated key keeps its first rank),
 * every document's per-leg hit, and the order of docs/fusion.md: fused score descending, then best
 * rank in any leg, then the index of the first leg holding that rank. That order needs no
 * document ids: two documents cannot reach the same best rank first in the same leg.
 */
final class Candidates<K> {
  /** Per document, in first-seen order: the raw score and rank in each leg, or null. */
  final Map<K, Hit[]> byKey = new LinkedHashMap<>();
  /** Per leg, its de-duplicated keys and raw scores in rank order. */
  final List<List<Scored<K>>> legs = new ArrayList<>();

  record Hit(int rank, double score) {}

  Candidates(List<List<Scored<K>>> input) {
    int count = input.size();
    for (int leg = 0; leg < count; leg++) {
      List<Scored<K>> kept = new ArrayList<>();
      Map<K, Boolean> seen = new HashMap<>();
      for (Scored<K> hit : input.get(leg)) {
        if (hit == null || hit.key() == null) {
          throw new IllegalArgumentException("leg " + leg + " holds a hit without a key");
        }
        if (seen.putIfAbsent(hit.key(), Boolean.TRUE) != null) {
          continue;
        }
        kept.add(hit);
        Hit[] perLeg = byKey.computeIfAbsent(hit.key(), k -> new Hit[count]);
        perLeg[leg] = new Hit(kept.size(), hit.score());
      }
      legs.add(kept);
    }
  }

  /** Orders keys by the fused scores and returns the first {@code top} (all when negative). */
  List<K> order(Map<K, Double> scores, int top) {
    List<K> keys = new ArrayList<>(scores.keySet());
    Map<K, long[]> best = new HashMap<>();
    for (K key : keys) {
      Hit[] perLeg = byKey.get(key);
      long rank = Long.MAX_VALUE;
      long leg = Long.MAX_VALUE;
      for (int i = 0; i < perLeg.length; i++) {
        if (perLeg[i] != null && perLeg[i].rank() < rank) {
          rank = perLeg[i].rank();
          leg = i;
        }
      }
      best.put(key, new long[] {rank, leg});
    }
    keys.sort(
        (a, b) -> {
          int byScore = Double.compare(scores.get(b), scores.get(a));
          if (byScore != 0) {
            return byScore;
          }
          long[] x = best.get(a);
          long[] y = best.get(b);
          return x[0] != y[0] ? Long.compare(x[0], y[0]) : Long.compare(x[1], y[1]);
        });
    return top < 0 || top >= keys.size() ? keys : keys.subList(0, top);
  }
}
