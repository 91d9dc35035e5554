package neuralsearch.elasticsearch.hybrid;

/**
 * The float scores Elasticsearch ranks the fused list by. Its rank-docs query orders hits by float
 * score, then shard, then Lucene doc id, and scores a rank doc at least {@link Float#MIN_VALUE}; the
 * fusion core breaks ties by best leg rank instead, and two close doubles can round to one float.
 * So where a hit's float would not be strictly below the one before it, it (and, if needed, those
 * above it) is lifted by the fewest float steps that keep the core's order: each value stays
 * within a few ulps of the fused score.
 */
public final class EngineScores {
  private EngineScores() {}

  /**
   * @param fused the fused scores in the core's order (non-increasing, >= 0)
   * @return floats, each >= the fused score rounded to float, strictly decreasing as the engine sees them
   */
  public static float[] strictlyDecreasing(double[] fused) {
    float[] out = new float[fused.length];
    float below = 0f;
    for (int i = fused.length - 1; i >= 0; i--) {
      if (!(fused[i] >= 0) || Double.isInfinite(fused[i])) {
        throw new IllegalArgumentException("fused score [" + fused[i] + "] at position " + i
            + " is not a finite number >= 0; Elasticsearch ranks only such scores");
      }
      float f = (float) fused[i];
      if (i < fused.length - 1 && asRanked(f) <= below) {
        f = Math.nextUp(below);
      }
      out[i] = f;
      below = asRanked(f);
    }
    return out;
  }

  private static float asRanked(float score) {
    return Math.max(score, Float.MIN_VALUE);
  }
}
