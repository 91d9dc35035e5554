package neuralsearch.fusion;

/**
 * Weighted mean of a document's normalised leg scores (docs/fusion.md, "Linear"). A leg that did
 * not retrieve the document counts as 0 with its full weight in the arithmetic mean (agreement is
 * rewarded); the geometric and harmonic means are only defined over positive values, so they
 * average over the legs where the document has a positive score and a positive weight.
 */
public enum Combination {
  ARITHMETIC("arithmetic"),
  GEOMETRIC("geometric"),
  HARMONIC("harmonic");

  private final String text;

  Combination(String text) {
    this.text = text;
  }

  public String text() {
    return text;
  }

  static Combination parse(String text) {
    for (Combination c : values()) {
      if (c.text.equals(text)) {
        return c;
      }
    }
    throw new IllegalArgumentException(
        "unknown combination [" + text + "]; choose one of arithmetic, geometric, harmonic");
  }

  /** {@code normalized[i]} is null when leg i did not retrieve the document. */
  double combine(Double[] normalized, double[] weights) {
    if (this == ARITHMETIC) {
      double total = 0.0;
      double sum = 0.0;
      for (int i = 0; i < weights.length; i++) {
        total += weights[i];
        sum += weights[i] * (normalized[i] == null ? 0.0 : normalized[i]);
      }
      return sum / total;
    }
    double total = 0.0;
    double sum = 0.0;
    for (int i = 0; i < weights.length; i++) {
      Double s = normalized[i];
      if (s == null || s <= 0.0 || weights[i] <= 0.0) {
        continue;
      }
      total += weights[i];
      sum += this == GEOMETRIC ? weights[i] * Math.log(s) : weights[i] / s;
    }
    if (total == 0.0) {
      return 0.0;
    }
    return this == GEOMETRIC ? Math.exp(sum / total) : total / sum;
  }
}
