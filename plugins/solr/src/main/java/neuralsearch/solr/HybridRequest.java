package neuralsearch.solr;

import java.util.Set;
import java.util.regex.Pattern;
import neuralsearch.fusion.FusionSpec;
import org.apache.solr.common.SolrException;
import org.apache.solr.common.SolrException.ErrorCode;
import org.apache.solr.common.params.SolrParams;

/**
 * A validated hybrid request: everything the handler reads from its parameters. Any invalid
 * value is a 400 whose message names the parameter and what would be accepted.
 */
record HybridRequest(
    String text,
    float[] vector,
    int depth,
    FusionSpec fusion,
    double[] weights,
    int start,
    int rows,
    String qf,
    double tie,
    String vf,
    String fl) {

  static final String TEXT = "text";
  static final String VECTOR = "vector";
  static final String DEPTH = "depth";
  static final String FUSION = "fusion";
  static final String WEIGHTS = "weights";
  static final String QF = "qf";
  /** With several qf fields: Lucene's DisjunctionMaxQuery tie breaker (best_fields), 0 to 1. */
  static final String TIE = "tie";
  static final String VF = "vf";
  static final String DESCRIBE = "describe";
  static final String START = "start";
  static final String ROWS = "rows";
  static final String FL = "fl";

  /** The handler's own parameters: read here, never passed on to the legs. */
  static final Set<String> OWN = Set.of(TEXT, VECTOR, DEPTH, FUSION, WEIGHTS, QF, TIE, VF, DESCRIBE);

  static final int DEFAULT_DEPTH = 100;
  static final int MAX_DEPTH = 10_000;
  static final int DEFAULT_ROWS = 10;

  private static final Pattern FIELD = Pattern.compile("[A-Za-z_][A-Za-z0-9_.\\-]*");
  private static final Pattern BOOSTED_FIELD = Pattern.compile("[A-Za-z_][A-Za-z0-9_.\\-]*(?:\\^[0-9]+(?:\\.[0-9]+)?)?");

  /** Reads and checks the parameters (handler defaults already merged in by Solr). */
  static HybridRequest from(SolrParams params) {
    String text = params.get(TEXT);
    if (text == null || text.isBlank()) {
      throw badRequest("text is required: the user's words for the BM25 leg (plain text, never query syntax)");
    }
    String vectorText = params.get(VECTOR);
    if (vectorText == null || vectorText.isBlank()) {
      throw badRequest("vector is required: the query embedding for the kNN leg, like [0.1,-0.2,0.3]");
    }
    float[] vector = parse(VECTOR, () -> NumberLists.vector(vectorText));
    int depth = integer(params, DEPTH, DEFAULT_DEPTH, 1, MAX_DEPTH);
    FusionSpec fusion = parse(FUSION, () -> FusionSpec.parse(params.get(FUSION, "rrf")));
    String weightsText = params.get(WEIGHTS);
    double[] weights = weightsText == null ? new double[] {1.0, 1.0} : parse(WEIGHTS, () -> NumberLists.weights(weightsText, 2));
    int start = integer(params, START, 0, 0, MAX_DEPTH);
    int rows = integer(params, ROWS, DEFAULT_ROWS, 0, MAX_DEPTH);
    if (start + rows > depth) {
      throw badRequest(
          "start (" + start + ") + rows (" + rows + ") = " + (start + rows) + " is beyond depth (" + depth
              + "): each leg only ranks its top depth hits; raise depth to at least " + (start + rows)
              + " (at most " + MAX_DEPTH + ")");
    }
    String qf = fieldList(params.get(QF, "content"));
    double tie = tieBreaker(params.get(TIE));
    String vf = params.get(VF, "vector").strip();
    if (!FIELD.matcher(vf).matches()) {
      throw badRequest("vf must name one dense vector field, got '" + vf + "'");
    }
    String fl = params.get(FL, "id");
    return new HybridRequest(text, vector, depth, fusion, weights, start, rows, qf, tie, vf, fl);
  }

  private static double tieBreaker(String raw) {
    if (raw == null) {
      return 0.0;
    }
    double value;
    try {
      value = Double.parseDouble(raw.strip());
    } catch (NumberFormatException e) {
      throw badRequest("tie must be a number from 0 to 1, got '" + raw + "'");
    }
    if (!(value >= 0.0 && value <= 1.0)) {
      throw badRequest("tie must be a number from 0 to 1, got " + raw.strip());
    }
    return value;
  }

  private static String fieldList(String qf) {
    String[] fields = qf.strip().split("\\s+");
    for (String field : fields) {
      if (!BOOSTED_FIELD.matcher(field).matches()) {
        throw badRequest("qf must list text fields, each optionally boosted (title^2 content), got '" + qf + "'");
      }
    }
    return String.join(" ", fields);
  }

  private static int integer(SolrParams params, String name, int fallback, int min, int max) {
    String raw = params.get(name);
    if (raw == null) {
      return fallback;
    }
    int value;
    try {
      value = Integer.parseInt(raw.strip());
    } catch (NumberFormatException e) {
      throw badRequest(name + " must be an integer from " + min + " to " + max + ", got '" + raw + "'");
    }
    if (value < min || value > max) {
      throw badRequest(name + " must be an integer from " + min + " to " + max + ", got " + value);
    }
    return value;
  }

  private interface Parser<T> {
    T parse();
  }

  private static <T> T parse(String name, Parser<T> parser) {
    try {
      return parser.parse();
    } catch (IllegalArgumentException e) {
      throw badRequest("bad " + name + ": " + e.getMessage());
    }
  }

  static SolrException badRequest(String message) {
    return new SolrException(ErrorCode.BAD_REQUEST, message);
  }
}
