package neuralsearch.elasticsearch.hybrid;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class EngineScoresTest {

  private static void assertStrictlyDecreasingAsRanked(float[] scores) {
    for (int i = 1; i < scores.length; i++) {
      float above = Math.max(scores[i - 1], Float.MIN_VALUE);
      float below = Math.max(scores[i], Float.MIN_VALUE);
      assertTrue(above > below, "position " + i + ": " + above + " vs " + below);
    }
  }

  @Test
  void distinctScoresAreTheFloatsOfTheFusedScores() {
    float[] out = EngineScores.strictlyDecreasing(new double[] {0.9, 0.5, 0.25});
    assertEquals(0.9f, out[0]);
    assertEquals(0.5f, out[1]);
    assertEquals(0.25f, out[2]);
  }

  @Test
  void tiesAreLiftedByTheSmallestStepsInTheCoresOrder() {
    double tie = 1.0 / 61;
    float[] out = EngineScores.strictlyDecreasing(new double[] {0.5, tie, tie, tie});
    assertEquals((float) tie, out[3]);
    assertEquals(Math.nextUp((float) tie), out[2]);
    assertEquals(Math.nextUp(Math.nextUp((float) tie)), out[1]);
    assertEquals(0.5f, out[0]);
    assertStrictlyDecreasingAsRanked(out);
  }

  @Test
  void doublesThatRoundToOneFloatStayApart() {
    double high = 0.3;
    double low = Math.nextDown(0.3);
    assertEquals((float) high, (float) low);
    float[] out = EngineScores.strictlyDecreasing(new double[] {high, low});
    assertStrictlyDecreasingAsRanked(out);
  }

  @Test
  void zerosStayAboveTheEnginesFloorAndInOrder() {
    float[] out = EngineScores.strictlyDecreasing(new double[] {0.2, 0.0, 0.0, 0.0});
    assertEquals(0f, out[3]);
    assertStrictlyDecreasingAsRanked(out);
    assertTrue(out[1] < 1e-40f);
  }

  @Test
  void negativeOrNaNScoresAreRefused() {
    assertThrows(IllegalArgumentException.class, () -> EngineScores.strictlyDecreasing(new double[] {0.1, -0.1}));
    assertThrows(IllegalArgumentException.class, () -> EngineScores.strictlyDecreasing(new double[] {Double.NaN}));
  }
}
