package neuralsearch.elasticsearch.hybrid;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;

class HybridOptionsTest {

  private static String refused(int legs, List<String> names, String fusion, List<Double> weights) {
    return assertThrows(IllegalArgumentException.class, () -> HybridOptions.of(legs, names, fusion, weights))
        .getMessage();
  }

  @Test
  void defaultsAreLegNamesRrfAndUnitWeights() {
    HybridOptions options = HybridOptions.of(3, null, null, null);
    assertEquals(List.of("leg0", "leg1", "leg2"), options.names());
    assertEquals("rrf", options.fusion().toString());
    assertArrayEquals(new double[] {1.0, 1.0, 1.0}, options.weights());
  }

  @Test
  void keepsWhatTheRequestGives() {
    HybridOptions options = HybridOptions.of(2, List.of("bm25", "knn"), "linear:l2:harmonic", List.of(0.25, 2.0));
    assertEquals(List.of("bm25", "knn"), options.names());
    assertEquals("linear:l2:harmonic", options.fusion().toString());
    assertArrayEquals(new double[] {0.25, 2.0}, options.weights());
  }

  @Test
  void badFusionNamesTheFieldAndTheGrammar() {
    String message = refused(2, null, "linear:cosine", null);
    assertTrue(message.startsWith("[neural_hybrid] [fusion]"), message);
    assertTrue(message.contains("cosine"), message);
    assertTrue(refused(2, null, "rrf:0", null).contains("rank constant"));
    assertTrue(refused(2, null, "borda", null).contains("rrf, rrf:K or linear"));
  }

  @Test
  void zscoreAverageIsRefusedBecauseTheEngineCannotRankNegativeScores() {
    String message = refused(2, null, "linear:zscore", null);
    assertTrue(message.contains("negative") && message.contains("linear:zscore:geometric"), message);
    assertEquals("linear:zscore:harmonic", HybridOptions.of(2, null, "linear:zscore:harmonic", null).fusion().toString());
  }

  @Test
  void weightsMustBeOnePerLegFiniteAndNotAllZero() {
    String count = refused(2, null, null, List.of(1.0));
    assertTrue(count.contains("[weights] has 1 values for 2 retrievers"), count);
    assertTrue(refused(2, null, null, List.of(1.0, -0.5)).contains("[weights][1] must be a finite number >= 0"));
    assertTrue(refused(2, null, null, List.of(Double.NaN, 1.0)).contains("[weights][0]"));
    assertTrue(refused(2, null, null, List.of(1.0, Double.POSITIVE_INFINITY)).contains("Infinity"));
    assertTrue(refused(2, null, null, Arrays.asList(1.0, null)).contains("[weights][1]"));
    assertTrue(refused(2, null, null, List.of(0.0, 0.0)).contains("at least one leg needs a weight > 0"));
    assertArrayEquals(new double[] {0.0, 3.0}, HybridOptions.of(2, null, null, List.of(0.0, 3.0)).weights());
  }

  @Test
  void namesMustBeOnePerLegDistinctAndNotBlank() {
    assertTrue(refused(2, List.of("bm25"), null, null).contains("[names] has 1 entries for 2 retrievers"));
    String dup = refused(2, List.of("bm25", "bm25"), null, null);
    assertTrue(dup.contains("distinct") && dup.contains("[bm25]"), dup);
    assertTrue(refused(2, List.of("bm25", " "), null, null).contains("empty name"));
  }

  @Test
  void needsALeg() {
    assertTrue(refused(0, null, null, null).contains("at least one retriever"));
  }

  @Test
  void weightsAreCopiedOut() {
    HybridOptions options = HybridOptions.of(2, null, null, List.of(1.0, 2.0));
    options.weights()[0] = 99;
    assertEquals(1.0, options.weights()[0]);
  }
}
