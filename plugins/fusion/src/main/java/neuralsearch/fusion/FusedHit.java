package neuralsearch.fusion;

import java.util.Arrays;

/** A fused hit; {@code legs[i]} is null when leg i did not retrieve the document. */
public record FusedHit<K>(K key, double score, LegScore[] legs) {
  public FusedHit {
    legs = legs.clone();
  }

  @Override
  public LegScore[] legs() {
    return legs.clone();
  }

  public LegScore leg(int index) {
    return legs[index];
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof FusedHit<?> hit
        && key.equals(hit.key)
        && Double.compare(score, hit.score) == 0
        && Arrays.equals(legs, hit.legs);
  }

  @Override
  public int hashCode() {
    return 31 * key.hashCode() + Arrays.hashCode(legs);
  }

  @Override
  public String toString() {
    return "FusedHit[" + key + ", " + score + ", " + Arrays.toString(legs) + "]";
  }
}
