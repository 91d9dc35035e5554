package neuralsearch.fusion;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class FusionSpecTest {
  @ParameterizedTest
  @ValueSource(strings = {"rrf", "rrf:20", "linear:minmax", "linear:zscore:geometric", "linear:l2:harmonic"})
  void canonicalTextRoundTrips(String text) {
    assertEquals(text, FusionSpec.parse(text).toString());
  }

  @Test
  void defaultsAreWrittenShort() {
    assertEquals("rrf", FusionSpec.parse("RRF:60").toString());
    assertEquals("linear:minmax", FusionSpec.parse("linear:minmax:arithmetic").toString());
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "rrf:0", "rrf:x", "rrf:-3", "linear", "linear:softmax", "linear:minmax:median", "borda", "rrf:1:2"})
  void rejectsWithAReason(String text) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FusionSpec.parse(text));
    assertTrue(e.getMessage().contains("rrf") || e.getMessage().contains("choose one of"), e.getMessage());
  }

  @Test
  void weightsAreValidated() {
    FusionSpec rrf = FusionSpec.parse("rrf");
    List<List<Scored<String>>> legs = List.of(List.of(new Scored<>("a", 1.0)), List.of(new Scored<>("b", 1.0)));
    assertThrows(IllegalArgumentException.class, () -> rrf.fuse(legs, new double[] {1.0}, -1));
    assertThrows(IllegalArgumentException.class, () -> rrf.fuse(legs, new double[] {-1.0, 1.0}, -1));
    assertThrows(IllegalArgumentException.class, () -> rrf.fuse(legs, new double[] {Double.NaN, 1.0}, -1));
    assertThrows(IllegalArgumentException.class, () -> rrf.fuse(legs, new double[] {0.0, 0.0}, -1));
  }

  @Test
  void topIsAPrefixOfTheWholeList() {
    List<List<Scored<String>>> legs =
        List.of(
            List.of(new Scored<>("a", 3.0), new Scored<>("b", 2.0), new Scored<>("c", 1.0)),
            List.of(new Scored<>("c", 0.9), new Scored<>("d", 0.8)));
    for (String text : List.of("rrf", "linear:minmax", "linear:zscore:harmonic")) {
      List<FusedHit<String>> all = FusionSpec.parse(text).fuse(legs, null, -1);
      for (int top = 0; top <= all.size() + 1; top++) {
        assertEquals(all.subList(0, Math.min(top, all.size())), FusionSpec.parse(text).fuse(legs, null, top));
      }
    }
  }

  @Test
  void callersArraysAreNotKept() {
    double[] weights = {1.0, 1.0};
    List<List<Scored<String>>> legs = List.of(List.of(new Scored<>("a", 1.0)), List.of(new Scored<>("a", 0.5)));
    List<FusedHit<String>> fused = FusionSpec.parse("rrf").fuse(legs, weights, -1);
    weights[0] = 100.0;
    assertEquals(2.0 / 61, fused.get(0).score(), 1e-15);
  }
}
