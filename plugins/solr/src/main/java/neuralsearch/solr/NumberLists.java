package neuralsearch.solr;

import java.util.regex.Pattern;

/**
 * Strict parsing of the number lists a hybrid request carries. Java's own parsers accept more
 * than decimal numbers ("NaN", "Infinity", "0x1p3", "1f"), none of which may reach a query.
 */
final class NumberLists {
  private static final Pattern DECIMAL = Pattern.compile("[+-]?(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?");

  private NumberLists() {}

  /** {@code [f1,f2,...]}: at least one finite float; whitespace around items is allowed. */
  static float[] vector(String text) {
    String body = text.strip();
    if (body.length() < 2 || body.charAt(0) != '[' || body.charAt(body.length() - 1) != ']') {
      throw new IllegalArgumentException("vector must be a bracketed list of numbers like [0.1,-0.2,0.3]");
    }
    String inner = body.substring(1, body.length() - 1).strip();
    if (inner.isEmpty()) {
      throw new IllegalArgumentException("vector is empty; give one number per dimension, like [0.1,-0.2,0.3]");
    }
    String[] items = inner.split(",", -1);
    float[] out = new float[items.length];
    for (int i = 0; i < items.length; i++) {
      String item = items[i].strip();
      if (!DECIMAL.matcher(item).matches()) {
        throw new IllegalArgumentException("vector item " + i + " is not a decimal number: '" + item + "'");
      }
      out[i] = Float.parseFloat(item);
      if (!Float.isFinite(out[i])) {
        throw new IllegalArgumentException("vector item " + i + " (" + item + ") is out of the float range");
      }
    }
    return out;
  }

  /** {@code w1,w2,...}: exactly {@code count} finite numbers >= 0, at least one of them > 0. */
  static double[] weights(String text, int count) {
    String[] items = text.split(",", -1);
    if (items.length != count) {
      throw new IllegalArgumentException(
          "weights needs " + count + " comma-separated numbers (bm25,knn), got " + items.length + ": '" + text + "'");
    }
    double[] out = new double[count];
    double total = 0;
    for (int i = 0; i < count; i++) {
      String item = items[i].strip();
      if (!DECIMAL.matcher(item).matches()) {
        throw new IllegalArgumentException("weight " + i + " is not a decimal number: '" + item + "'");
      }
      out[i] = Double.parseDouble(item);
      if (!Double.isFinite(out[i]) || out[i] < 0) {
        throw new IllegalArgumentException("weight " + i + " must be a finite number >= 0, got " + item);
      }
      total += out[i];
    }
    if (total <= 0) {
      throw new IllegalArgumentException("at least one weight must be > 0, got '" + text + "'");
    }
    return out;
  }
}
