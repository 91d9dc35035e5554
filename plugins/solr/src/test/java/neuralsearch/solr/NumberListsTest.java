package neuralsearch.solr;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class NumberListsTest {
  @Test
  void parsesDecimalVectors() {
    assertArrayEquals(new float[] {0.1f, -2f, 3e-2f, 0.5f, 7f}, NumberLists.vector(" [0.1, -2,3e-2 ,.5,+7.] "));
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "[]", "[ ]", "0.1,0.2", "[0.1,0.2", "0.1,0.2]", "[0.1,,0.2]", "[0.1,]", "[NaN]", "[Infinity]",
      "[-Infinity]", "[0x1p3]", "[1f]", "[1d]", "[1e39]", "[1,two]", "[[1]]", "[1 2]"})
  void rejectsAnythingButFiniteDecimals(String text) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> NumberLists.vector(text));
    assertTrue(e.getMessage().contains("vector"), e.getMessage());
  }

  @Test
  void parsesWeights() {
    assertArrayEquals(new double[] {0.25, 1.0}, NumberLists.weights("0.25, 1", 2), 0.0);
    assertArrayEquals(new double[] {0.0, 2.0}, NumberLists.weights("0,2", 2), 0.0);
  }

  @ParameterizedTest
  @ValueSource(strings = {"1", "1,1,1", "1,", "-1,1", "0,0", "NaN,1", "1,Infinity", "1,x", ""})
  void rejectsBadWeights(String text) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> NumberLists.weights(text, 2));
    assertTrue(e.getMessage().contains("weight"), e.getMessage());
  }
}
