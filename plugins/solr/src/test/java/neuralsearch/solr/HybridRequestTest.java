package neuralsearch.solr;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.solr.common.SolrException;
import org.apache.solr.common.params.ModifiableSolrParams;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class HybridRequestTest {
  private static ModifiableSolrParams params(String... pairs) {
    ModifiableSolrParams params = new ModifiableSolrParams();
    params.set("text", "space ship");
    params.set("vector", "[0.5,-0.5]");
    for (int i = 0; i < pairs.length; i += 2) {
      params.set(pairs[i], pairs[i + 1]);
    }
    return params;
  }

  private static String rejected(ModifiableSolrParams params) {
    SolrException e = assertThrows(SolrException.class, () -> HybridRequest.from(params));
    assertEquals(400, e.code());
    return e.getMessage();
  }

  @Test
  void defaults() {
    HybridRequest request = HybridRequest.from(params());
    assertEquals("space ship", request.text());
    assertArrayEquals(new float[] {0.5f, -0.5f}, request.vector());
    assertEquals(100, request.depth());
    assertEquals("rrf", request.fusion().toString());
    assertArrayEquals(new double[] {1.0, 1.0}, request.weights(), 0.0);
    assertEquals(0, request.start());
    assertEquals(10, request.rows());
    assertEquals("content", request.qf());
    assertEquals("vector", request.vf());
    assertEquals("id", request.fl());
  }

  @Test
  void readsEveryParameter() {
    HybridRequest request = HybridRequest.from(params("depth", "50", "fusion", "LINEAR:zscore:harmonic", "weights", "0.3,0.7",
        "start", "20", "rows", "30", "qf", " title^2   content ", "vf", "emb_1", "fl", "id,title"));
    assertEquals(50, request.depth());
    assertEquals("linear:zscore:harmonic", request.fusion().toString());
    assertArrayEquals(new double[] {0.3, 0.7}, request.weights(), 0.0);
    assertEquals(20, request.start());
    assertEquals(30, request.rows());
    assertEquals("title^2 content", request.qf());
    assertEquals("emb_1", request.vf());
    assertEquals("id,title", request.fl());
  }

  @Test
  void pageBeyondDepthNamesStartRowsAndTheFix() {
    String message = rejected(params("depth", "20", "start", "15", "rows", "10"));
    assertTrue(message.contains("start (15)") && message.contains("rows (10)") && message.contains("depth (20)"), message);
    assertTrue(message.contains("raise depth to at least 25"), message);
    assertEquals(20, HybridRequest.from(params("depth", "20", "start", "10", "rows", "10")).depth());
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "depth|0|depth must be an integer from 1 to 10000",
      "depth|10001|depth must be an integer from 1 to 10000",
      "depth|ten|got 'ten'",
      "start|-1|start must be an integer from 0",
      "rows|-5|rows must be an integer from 0",
      "rows|1.5|rows must be an integer",
      "fusion|rrf:0|bad fusion",
      "fusion|linear|bad fusion",
      "fusion|linear:minmax:median|bad fusion",
      "fusion|bm25|bad fusion",
      "weights|1,0,1|bad weights",
      "weights|0,0|bad weights",
      "vector|[1,x]|bad vector",
      "vector|1,2|bad vector",
      "qf|content}^x|qf must list text fields",
      "qf|{!func}|qf must list text fields",
      "tie|1.5|tie must be a number from 0 to 1",
      "tie|-0.1|tie must be a number from 0 to 1",
      "tie|NaN|tie must be a number from 0 to 1",
      "tie|half|tie must be a number from 0 to 1",
      "vf|vector topK=1|vf must name one dense vector field",
      "vf|v}|vf must name one dense vector field"})
  void rejectsWithAMessageNamingTheParameter(String name, String value, String expected) {
    String message = rejected(params(name, value));
    assertTrue(message.contains(expected), message);
  }

  @Test
  void requiresTextAndVector() {
    ModifiableSolrParams noText = params();
    noText.remove("text");
    assertTrue(rejected(noText).contains("text is required"));
    assertTrue(rejected(params("text", "   ")).contains("text is required"));
    ModifiableSolrParams noVector = params();
    noVector.remove("vector");
    assertTrue(rejected(noVector).contains("vector is required"));
  }
}
