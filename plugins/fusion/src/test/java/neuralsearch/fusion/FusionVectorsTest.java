package neuralsearch.fusion;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/** The shared test vectors of docs/fusion-vectors.json, the ones the Python tests check too. */
class FusionVectorsTest {
  private static final double TOLERANCE = 1e-12;

  static JsonNode vectors() throws Exception {
    String path = System.getProperty("neuralsearch.vectors");
    assertNotNull(path, "system property neuralsearch.vectors (set by plugins/pom.xml) is missing");
    return new ObjectMapper().readTree(Files.readString(Path.of(path)));
  }

  @TestFactory
  Stream<DynamicTest> everyCaseFusesAsSpecified() throws Exception {
    JsonNode cases = vectors().get("cases");
    assertTrue(cases.size() > 500, "too few shared cases: " + cases.size());
    List<DynamicTest> tests = new ArrayList<>();
    for (JsonNode c : cases) {
      tests.add(DynamicTest.dynamicTest(c.get("name").asText(), () -> check(c)));
    }
    return tests.stream();
  }

  private static void check(JsonNode c) {
    List<List<Scored<String>>> legs = new ArrayList<>();
    for (JsonNode leg : c.get("legs")) {
      List<Scored<String>> hits = new ArrayList<>();
      for (JsonNode hit : leg) {
        hits.add(new Scored<>(hit.get(0).asText(), hit.get(1).asDouble()));
      }
      legs.add(hits);
    }
    double[] weights = null;
    if (!c.get("weights").isNull()) {
      weights = new double[c.get("weights").size()];
      for (int i = 0; i < weights.length; i++) {
        weights[i] = c.get("weights").get(i).asDouble();
      }
    }
    int top = c.get("top").isNull() ? -1 : c.get("top").asInt();
    List<FusedHit<String>> fused = FusionSpec.parse(c.get("fusion").asText()).fuse(legs, weights, top);
    JsonNode expected = c.get("expected");
    assertEquals(expected.size(), fused.size(), "number of fused hits");
    for (int i = 0; i < fused.size(); i++) {
      JsonNode want = expected.get(i);
      FusedHit<String> got = fused.get(i);
      assertEquals(want.get("id").asText(), got.key(), "id at position " + i);
      assertClose(want.get("score").asDouble(), got.score(), "score of " + got.key());
      for (int leg = 0; leg < legs.size(); leg++) {
        JsonNode wantLeg = want.get("legs").get(leg);
        LegScore gotLeg = got.leg(leg);
        if (wantLeg.isNull()) {
          assertNull(gotLeg, "leg " + leg + " of " + got.key() + " should be 'not retrieved'");
          continue;
        }
        assertNotNull(gotLeg, "leg " + leg + " of " + got.key());
        assertEquals(wantLeg.get("rank").asInt(), gotLeg.rank(), "rank in leg " + leg);
        assertEquals(wantLeg.get("score").asDouble(), gotLeg.score(), 0.0, "raw score in leg " + leg);
        assertClose(wantLeg.get("normalized").asDouble(), gotLeg.normalized(), "normalized in leg " + leg);
      }
    }
  }

  private static void assertClose(double want, double got, String what) {
    assertEquals(want, got, TOLERANCE * Math.max(1.0, Math.abs(want)), what);
  }
}
