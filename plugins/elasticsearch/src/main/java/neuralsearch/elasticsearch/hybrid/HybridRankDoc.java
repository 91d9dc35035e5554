package neuralsearch.elasticsearch.hybrid;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

import org.apache.lucene.search.Explanation;
import org.elasticsearch.common.io.stream.StreamInput;
import org.elasticsearch.common.io.stream.StreamOutput;
import org.elasticsearch.search.rank.RankDoc;
import org.elasticsearch.xcontent.XContentBuilder;

import neuralsearch.fusion.FusionSpec;
import neuralsearch.fusion.LegScore;

/**
 * One fused hit as the coordinating node ranked it, with how each leg saw it. It travels to every
 * shard inside the rank-docs query (hence a registered named writeable: without the registration a
 * shard on another node cannot read it), where the fetch phase turns the legs into the hit's
 * {@code _neural_search_legs} field and explain=true into a per-leg explanation.
 *
 * <p>{@link #score} is what Elasticsearch sorts and reports as {@code _score} (a float, see
 * {@link EngineScores}); {@link #fusedScore()} is the fusion core's exact value.
 */
public final class HybridRankDoc extends RankDoc {
  public static final String NAME = "neural_hybrid_rank_doc";

  private final String fusion;
  private final double fusedScore;
  private final String[] legNames;
  private final double[] weights;
  private final LegScore[] legs;

  public HybridRankDoc(int doc, float score, int shardIndex, String fusion, double fusedScore,
      String[] legNames, double[] weights, LegScore[] legs) {
    super(doc, score, shardIndex);
    if (legNames.length != legs.length || weights.length != legs.length) {
      throw new IllegalArgumentException("leg names, weights and leg scores differ in length: "
          + legNames.length + ", " + weights.length + ", " + legs.length);
    }
    this.fusion = Objects.requireNonNull(fusion);
    this.fusedScore = fusedScore;
    this.legNames = legNames.clone();
    this.weights = weights.clone();
    this.legs = legs.clone();
  }

  public HybridRankDoc(StreamInput in) throws IOException {
    super(in);
    fusion = in.readString();
    fusedScore = in.readDouble();
    legNames = in.readStringArray();
    weights = in.readDoubleArray();
    legs = new LegScore[legNames.length];
    for (int i = 0; i < legs.length; i++) {
      if (in.readBoolean()) {
        legs[i] = new LegScore(in.readVInt(), in.readDouble(), in.readDouble());
      }
    }
  }

  @Override
  protected void doWriteTo(StreamOutput out) throws IOException {
    out.writeString(fusion);
    out.writeDouble(fusedScore);
    out.writeStringArray(legNames);
    out.writeDoubleArray(weights);
    for (LegScore leg : legs) {
      out.writeBoolean(leg != null);
      if (leg != null) {
        out.writeVInt(leg.rank());
        out.writeDouble(leg.score());
        out.writeDouble(leg.normalized());
      }
    }
  }

  @Override
  public String getWriteableName() {
    return NAME;
  }

  public String fusion() {
    return fusion;
  }

  public double fusedScore() {
    return fusedScore;
  }

  public int legCount() {
    return legs.length;
  }

  public String legName(int leg) {
    return legNames[leg];
  }

  /** Null when that leg did not retrieve the document. */
  public LegScore leg(int leg) {
    return legs[leg];
  }

  @Override
  public Explanation explain(Explanation[] sourceExplanations, String[] queryNames) {
    FusionSpec spec = FusionSpec.parse(fusion);
    boolean rrf = spec.method().equals("rrf");
    List<Explanation> details = new ArrayList<>();
    for (int i = 0; i < legs.length; i++) {
      Explanation[] source = sourceExplanations != null && i < sourceExplanations.length
          && sourceExplanations[i] != null ? new Explanation[] {sourceExplanations[i]} : new Explanation[0];
      LegScore leg = legs[i];
      if (leg == null) {
        details.add(Explanation.noMatch("leg [" + legNames[i] + "] did not retrieve this document in its top"
            + " rank_window_size hits, so it adds nothing", source));
        continue;
      }
      String what = rrf
          ? String.format(Locale.ROOT, "RRF contribution weight / (k + rank) = %s / (%d + %d)",
              weights[i], spec.rankConstant(), leg.rank())
          : String.format(Locale.ROOT, "%s-normalised score (weight %s)", spec.normalization(), weights[i]);
      details.add(Explanation.match((float) leg.normalized(), String.format(Locale.ROOT,
          "leg [%s]: rank [%d], raw score [%s], %s = [%s]", legNames[i], leg.rank(), leg.score(), what,
          leg.normalized()), source));
    }
    String how = rrf ? "the sum of the legs' RRF contributions"
        : "the legs' normalised scores, " + spec.combination() + " mean by weight";
    return Explanation.match((float) fusedScore, String.format(Locale.ROOT,
        "neural_hybrid fusion [%s]: fused score [%s] at rank [%d], %s", spec, fusedScore, rank, how), details);
  }

  @Override
  protected void doToXContent(XContentBuilder builder, Params params) throws IOException {
    builder.field("fusion", fusion);
    builder.field("fused_score", fusedScore);
    builder.field(LegsFetchSubPhase.FIELD, LegBreakdown.of(this));
  }

  @Override
  protected boolean doEquals(RankDoc rd) {
    HybridRankDoc other = (HybridRankDoc) rd;
    return fusion.equals(other.fusion) && Double.compare(fusedScore, other.fusedScore) == 0
        && Arrays.equals(legNames, other.legNames) && Arrays.equals(weights, other.weights)
        && Arrays.equals(legs, other.legs);
  }

  @Override
  protected int doHashCode() {
    return Objects.hash(fusion, fusedScore, Arrays.hashCode(legNames), Arrays.hashCode(weights),
        Arrays.hashCode(legs));
  }

  @Override
  public String toString() {
    return "HybridRankDoc{_rank=" + rank + ", _doc=" + doc + ", _shard=" + shardIndex + ", _score=" + score
        + ", fusion=" + fusion + ", fused=" + fusedScore + ", legs=" + LegBreakdown.of(this) + "}";
  }
}
