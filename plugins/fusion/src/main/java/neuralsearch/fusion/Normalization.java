package neuralsearch.fusion;

/** Per-leg score normalisation over that leg's candidate list (docs/fusion.md, "Linear"). */
public enum Normalization {
  MINMAX("minmax"),
  ZSCORE("zscore"),
  L2("l2");

  private final String text;

  Normalization(String text) {
    this.text = text;
  }

  public String text() {
    return text;
  }

  static Normalization parse(String text) {
    for (Normalization n : values()) {
      if (n.text.equals(text)) {
        return n;
      }
    }
    throw new IllegalArgumentException(
        "unknown normalisation [" + text + "]; choose one of minmax, zscore, l2");
  }

  /** The normalised values, in the same order; sums run in rank order, as the Python code does. */
  double[] apply(double[] values) {
    int n = values.length;
    double[] out = new double[n];
    if (n == 0) {
      return out;
    }
    switch (this) {
      case MINMAX -> {
        double low = values[0];
        double high = values[0];
        for (double v : values) {
          low = Math.min(low, v);
          high = Math.max(high, v);
        }
        for (int i = 0; i < n; i++) {
          // all-equal: every hit is that leg's best
          out[i] = high == low ? 1.0 : (values[i] - low) / (high - low);
        }
      }
      case ZSCORE -> {
        double sum = 0.0;
        for (double v : values) {
          sum += v;
        }
        double mean = sum / n;
        double squares = 0.0;
        for (double v : values) {
          squares += (v - mean) * (v - mean);
        }
        double std = Math.sqrt(squares / n);
        for (int i = 0; i < n; i++) {
          out[i] = std == 0.0 ? 0.0 : (values[i] - mean) / std;
        }
      }
      case L2 -> {
        double squares = 0.0;
        for (double v : values) {
          squares += v * v;
        }
        double norm = Math.sqrt(squares);
        for (int i = 0; i < n; i++) {
          out[i] = norm == 0.0 ? 0.0 : values[i] / norm;
        }
      }
    }
    return out;
  }
}
