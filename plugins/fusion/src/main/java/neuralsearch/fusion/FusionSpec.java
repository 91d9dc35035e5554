package neuralsearch.fusion;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A fusion method as written in a request ({@code rrf}, {@code rrf:K},
 * {@code linear:minmax|zscore|l2[:arithmetic|geometric|harmonic]}, the grammar of the Python
 * client's {@code FusionSpec}) and the fusion itself. Immutable; safe to share between threads.
 */
public final class FusionSpec {
  public static final int DEFAULT_RANK_CONSTANT = 60;

  private final String method;
  private final int rankConstant;
  private final Normalization normalization;
  private final Combination combination;

  private FusionSpec(String method, int rankConstant, Normalization normalization, Combination combination) {
    this.method = method;
    this.rankConstant = rankConstant;
    this.normalization = normalization;
    this.combination = combination;
  }

  public static FusionSpec rrf(int rankConstant) {
    if (rankConstant < 1) {
      throw new IllegalArgumentException("the RRF rank constant must be an integer >= 1, got " + rankConstant);
    }
    return new FusionSpec("rrf", rankConstant, Normalization.MINMAX, Combination.ARITHMETIC);
  }

  public static FusionSpec linear(String normalization, String combination) {
    return new FusionSpec(
        "linear", DEFAULT_RANK_CONSTANT, Normalization.parse(normalization), Combination.parse(combination));
  }

  public static FusionSpec parse(String text) {
    if (text == null || text.isBlank()) {
      throw new IllegalArgumentException("fusion is empty; use rrf, rrf:K or linear:minmax|zscore|l2[:arithmetic|geometric|harmonic]");
    }
    String[] parts = text.strip().toLowerCase(java.util.Locale.ROOT).split(":", -1);
    if (parts[0].equals("rrf") && parts.length <= 2) {
      if (parts.length == 1) {
        return rrf(DEFAULT_RANK_CONSTANT);
      }
      if (!parts[1].matches("[0-9]{1,9}") || Integer.parseInt(parts[1]) < 1) {
        throw new IllegalArgumentException("in [" + text + "] the RRF rank constant must be a positive integer");
      }
      return rrf(Integer.parseInt(parts[1]));
    }
    if (parts[0].equals("linear") && parts.length >= 2 && parts.length <= 3) {
      return linear(parts[1], parts.length == 3 ? parts[2] : "arithmetic");
    }
    throw new IllegalArgumentException(
        "unknown fusion [" + text + "]; use rrf, rrf:K or linear:minmax|zscore|l2[:arithmetic|geometric|harmonic]");
  }

  public String method() {
    return method;
  }

  public int rankConstant() {
    return rankConstant;
  }

  public String normalization() {
    return normalization.text();
  }

  public String combination() {
    return combination.text();
  }

  /** The canonical text, as the Python client writes it ({@code str(FusionSpec)}). */
  @Override
  public String toString() {
    if (method.equals("rrf")) {
      return rankConstant == DEFAULT_RANK_CONSTANT ? "rrf" : "rrf:" + rankConstant;
    }
    return "linear:" + normalization.text() + (combination == Combination.ARITHMETIC ? "" : ":" + combination.text());
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof FusionSpec spec && toString().equals(spec.toString());
  }

  @Override
  public int hashCode() {
    return toString().hashCode();
  }

  /**
   * Fuses ranked legs. {@code legs.get(i)} is leg i's hits in the engine's rank order;
   * {@code weights} has one finite weight >= 0 per leg (null: 1.0 each), at least one positive;
   * {@code top} keeps the first {@code top} fused hits (negative: all of them).
   */
  public <K> List<FusedHit<K>> fuse(List<List<Scored<K>>> legs, double[] weights, int top) {
    if (legs == null) {
      throw new IllegalArgumentException("legs must not be null");
    }
    double[] w = checkWeights(legs.size(), weights);
    Candidates<K> candidates = new Candidates<>(legs);
    Map<K, Double> scores = new LinkedHashMap<>();
    List<Map<K, Double>> contribution = new ArrayList<>();
    if (method.equals("rrf")) {
      for (int leg = 0; leg < candidates.legs.size(); leg++) {
        Map<K, Double> mine = new HashMap<>();
        List<Scored<K>> hits = candidates.legs.get(leg);
        for (int i = 0; i < hits.size(); i++) {
          double value = w[leg] / (rankConstant + i + 1);
          mine.put(hits.get(i).key(), value);
          scores.merge(hits.get(i).key(), value, Double::sum);
        }
        contribution.add(mine);
      }
    } else {
      for (List<Scored<K>> hits : candidates.legs) {
        double[] raw = new double[hits.size()];
        for (int i = 0; i < raw.length; i++) {
          raw[i] = hits.get(i).score();
        }
        double[] normalized = normalization.apply(raw);
        Map<K, Double> mine = new HashMap<>();
        for (int i = 0; i < raw.length; i++) {
          mine.put(hits.get(i).key(), normalized[i]);
        }
        contribution.add(mine);
      }
      for (K key : candidates.byKey.keySet()) {
        Double[] perLeg = new Double[w.length];
        for (int leg = 0; leg < w.length; leg++) {
          perLeg[leg] = contribution.get(leg).get(key);
        }
        scores.put(key, combination.combine(perLeg, w));
      }
    }
    List<FusedHit<K>> out = new ArrayList<>();
    for (K key : candidates.order(scores, top)) {
      Candidates.Hit[] perLeg = candidates.byKey.get(key);
      LegScore[] detail = new LegScore[perLeg.length];
      for (int leg = 0; leg < perLeg.length; leg++) {
        if (perLeg[leg] != null) {
          detail[leg] = new LegScore(perLeg[leg].rank(), perLeg[leg].score(), contribution.get(leg).get(key));
        }
      }
      out.add(new FusedHit<>(key, scores.get(key), detail));
    }
    return out;
  }

  private static double[] checkWeights(int legs, double[] weights) {
    if (weights == null) {
      double[] ones = new double[legs];
      Arrays.fill(ones, 1.0);
      return ones;
    }
    if (weights.length != legs) {
      throw new IllegalArgumentException(
          "got " + weights.length + " weights for " + legs + " legs; give one weight per leg");
    }
    double total = 0.0;
    for (int i = 0; i < weights.length; i++) {
      if (!Double.isFinite(weights[i]) || weights[i] < 0) {
        throw new IllegalArgumentException("weight of leg " + i + " must be a finite number >= 0, got " + weights[i]);
      }
      total += weights[i];
    }
    if (legs > 0 && total <= 0) {
      throw new IllegalArgumentException("at least one leg needs a positive weight");
    }
    return weights.clone();
  }
}
