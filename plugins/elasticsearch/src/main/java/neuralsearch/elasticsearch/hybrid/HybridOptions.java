package neuralsearch.elasticsearch.hybrid;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

import neuralsearch.fusion.FusionSpec;

/**
 * The fusion settings of one {@code neural_hybrid} retriever, checked against its number of legs:
 * a name per leg, the fusion method and a weight per leg. Immutable.
 */
public final class HybridOptions {
  public static final String DEFAULT_FUSION = "rrf";

  private final List<String> names;
  private final FusionSpec fusion;
  private final double[] weights;

  private HybridOptions(List<String> names, FusionSpec fusion, double[] weights) {
    this.names = List.copyOf(names);
    this.fusion = fusion;
    this.weights = weights;
  }

  /**
   * Checks the request's values; {@code names}, {@code fusion} and {@code weights} may each be
   * null (defaults: leg0, leg1, ...; rrf; 1.0 per leg).
   *
   * @throws IllegalArgumentException naming the field at fault and how to fix it
   */
  public static HybridOptions of(int legs, List<String> names, String fusion, List<Double> weights) {
    if (legs < 1) {
      throw new IllegalArgumentException("[neural_hybrid] needs at least one retriever in [retrievers]");
    }
    return new HybridOptions(checkNames(legs, names), checkFusion(fusion), checkWeights(legs, weights));
  }

  private static List<String> checkNames(int legs, List<String> names) {
    if (names == null) {
      List<String> defaults = new ArrayList<>();
      for (int i = 0; i < legs; i++) {
        defaults.add("leg" + i);
      }
      return defaults;
    }
    if (names.size() != legs) {
      throw new IllegalArgumentException("[neural_hybrid] [names] has " + names.size() + " entries for " + legs
          + " retrievers; give one name per retriever, in the same order, or leave [names] out (leg0, leg1, ...)");
    }
    Set<String> seen = new HashSet<>();
    for (String name : names) {
      if (name == null || name.isBlank()) {
        throw new IllegalArgumentException("[neural_hybrid] [names] must not hold an empty name: " + names);
      }
      if (!seen.add(name)) {
        throw new IllegalArgumentException("[neural_hybrid] [names] must be distinct, but [" + name
            + "] appears more than once in " + names + "; each leg's breakdown is keyed by its name");
      }
    }
    return names;
  }

  private static FusionSpec checkFusion(String text) {
    FusionSpec spec;
    try {
      spec = FusionSpec.parse(text == null ? DEFAULT_FUSION : text);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("[neural_hybrid] [fusion]: " + e.getMessage(), e);
    }
    // Elasticsearch ranks the fused list with a query that refuses scores below zero, and a z-score
    // average is below zero for about half the documents; geometric and harmonic use positive ones only.
    if (spec.method().equals("linear") && spec.normalization().equals("zscore")
        && spec.combination().equals("arithmetic")) {
      throw new IllegalArgumentException("[neural_hybrid] [fusion] [" + spec + "] gives negative fused scores, which"
          + " Elasticsearch cannot rank (its scores must be >= 0); use linear:zscore:geometric,"
          + " linear:zscore:harmonic, linear:minmax or rrf");
    }
    return spec;
  }

  private static double[] checkWeights(int legs, List<Double> weights) {
    double[] out = new double[legs];
    if (weights == null) {
      Arrays.fill(out, 1.0);
      return out;
    }
    if (weights.size() != legs) {
      throw new IllegalArgumentException("[neural_hybrid] [weights] has " + weights.size() + " values for " + legs
          + " retrievers; give one weight per retriever, in the same order, or leave [weights] out (1.0 each)");
    }
    boolean anyPositive = false;
    for (int i = 0; i < legs; i++) {
      Double w = weights.get(i);
      if (w == null || !Double.isFinite(w) || w < 0) {
        throw new IllegalArgumentException(
            "[neural_hybrid] [weights][" + i + "] must be a finite number >= 0, got [" + w + "]");
      }
      anyPositive |= w > 0;
      out[i] = w;
    }
    if (!anyPositive) {
      throw new IllegalArgumentException("[neural_hybrid] [weights] " + weights
          + " are all 0; at least one leg needs a weight > 0");
    }
    return out;
  }

  public int legCount() {
    return names.size();
  }

  public List<String> names() {
    return names;
  }

  public FusionSpec fusion() {
    return fusion;
  }

  public double[] weights() {
    return weights.clone();
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof HybridOptions o
        && names.equals(o.names) && fusion.equals(o.fusion) && Arrays.equals(weights, o.weights);
  }

  @Override
  public int hashCode() {
    return Objects.hash(names, fusion, Arrays.hashCode(weights));
  }

  @Override
  public String toString() {
    return "names=" + names + " fusion=" + fusion + " weights=" + Arrays.toString(weights);
  }
}
