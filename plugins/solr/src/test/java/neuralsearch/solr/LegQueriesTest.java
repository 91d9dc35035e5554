package neuralsearch.solr;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.apache.solr.common.params.ModifiableSolrParams;
import org.apache.solr.common.params.SolrParams;
import org.junit.jupiter.api.Test;

class LegQueriesTest {
  private static ModifiableSolrParams request() {
    ModifiableSolrParams params = new ModifiableSolrParams();
    params.set("text", "title:Titanic OR {!frange l=0}");
    params.set("vector", "[0.5, -0.25,1e-3]");
    params.set("depth", "40");
    params.set("fusion", "linear:minmax");
    params.set("weights", "1,2");
    params.set("describe", "false");
    params.set("rows", "5");
    params.set("start", "5");
    params.set("q", "*:*");
    params.set("sort", "id asc");
    params.set("fl", "id,title");
    params.set("wt", "json");
    params.set("nsqq", "*:*");
    params.add("fq", "{!term f=meta_genre_s v=$fv0_0}", "meta_year_l:[2000 TO *]");
    params.set("fv0_0", "scifi");
    params.set("mm", "2");
    params.set("facet", "true");
    params.set("facet.field", "meta_genre_s");
    params.set("group", "true");
    params.set("cursorMark", "*");
    params.set("debugQuery", "true");
    return params;
  }

  private static HybridRequest hybrid(ModifiableSolrParams params) {
    return HybridRequest.from(params);
  }

  @Test
  void lexicalLegIsTheClientsBm25Leg() {
    ModifiableSolrParams request = request();
    SolrParams leg = LegQueries.lexical(request, hybrid(request), "id");
    assertEquals("{!edismax qf=content uf=-* v=$nsqq}", leg.get("q"));
    assertEquals("title\\:Titanic or \\{\\!frange l=0\\}", leg.get("nsqq"));
    assertEquals("40", leg.get("rows"));
    assertEquals("0", leg.get("start"));
    assertEquals("id,score", leg.get("fl"));
  }

  @Test
  void severalQueryFieldsAreBestFieldsOfOneQueryPerField() {
    ModifiableSolrParams request = request();
    request.set("qf", "title^2 content");
    request.set("tie", "0.5");
    ModifiableSolrParams leg = LegQueries.lexical(request, hybrid(request), "id");
    assertEquals("{!maxscore tie=0.5 v=$nsbf}", leg.get("q"));
    assertEquals("_query_:\"{!edismax qf=title^2 uf=-* v=$nsqq}\" _query_:\"{!edismax qf=content uf=-* v=$nsqq}\"", leg.get("nsbf"));
    assertEquals("title\\:Titanic or \\{\\!frange l=0\\}", leg.get("nsqq"));
    assertNull(leg.get("tie"), "the handler's own parameter is not passed on");
  }

  @Test
  void knnLegIsTheClientsKnnLeg() {
    ModifiableSolrParams request = request();
    SolrParams leg = LegQueries.knn(request, hybrid(request), "id");
    assertEquals("{!knn f=vector topK=40}[0.5,-0.25,0.001]", leg.get("q"));
    assertEquals("40", leg.get("rows"));
    assertNull(leg.get("nsqq"));
  }

  @Test
  void legsKeepFiltersAndWhatTheyDereferenceAndDropTheRest() {
    ModifiableSolrParams request = request();
    for (SolrParams leg : List.of(LegQueries.lexical(request, hybrid(request), "id"), LegQueries.knn(request, hybrid(request), "id"))) {
      assertArrayEquals(new String[] {"{!term f=meta_genre_s v=$fv0_0}", "meta_year_l:[2000 TO *]"}, leg.getParams("fq"));
      assertEquals("scifi", leg.get("fv0_0"));
      assertEquals("2", leg.get("mm"));
      for (String dropped : List.of("text", "vector", "depth", "fusion", "weights", "describe", "wt", "facet",
          "facet.field", "group", "cursorMark", "debugQuery")) {
        assertNull(leg.get(dropped), dropped);
      }
      // The request's own sort (id asc) is replaced: a leg ranks by score, ties in key order.
      assertEquals("score desc,id asc", leg.get("sort"));
    }
  }

  @Test
  void fetchAsksForThePageIdsWithoutFilters() {
    ModifiableSolrParams request = request();
    SolrParams fetch = LegQueries.fetch(request, hybrid(request), "id", List.of("a,1", "b"));
    assertEquals("{!terms f=id separator=$nssep v=$nsids}", fetch.get("q"));
    assertEquals("\u001f", fetch.get("nssep"));
    assertEquals("a,1\u001fb", fetch.get("nsids"));
    assertEquals("2", fetch.get("rows"));
    assertEquals("id,title,_neural_search_key_:id", fetch.get("fl"));
    assertNull(fetch.get("fq"));
    assertNull(fetch.get("sort"));
  }

  @Test
  void separatorIsACharacterNoIdContains() {
    assertEquals("\u001f", LegQueries.separatorFor(List.of("x", "y")));
    assertEquals("\u001e", LegQueries.separatorFor(List.of("x\u001f", "y")));
    StringBuilder controls = new StringBuilder();
    for (char c = '\u0001'; c <= '\u001f'; c++) {
      controls.append(c);
    }
    String separator = LegQueries.separatorFor(List.of(controls.toString(), "\ue000"));
    assertEquals("\ue001", separator);
    assertFalse(controls.toString().contains(separator));
  }

  @Test
  void vectorTextRoundTripsEveryFloat() {
    float[] vector = {0.1f, -1.0E-7f, 123456.79f, Float.MIN_VALUE};
    String text = LegQueries.vectorText(vector);
    assertTrue(text.startsWith("[") && text.endsWith("]"));
    assertArrayEquals(vector, NumberLists.vector(text));
  }

  @Test
  void vectorTextWritesWholeValuesAsIntegersForByteFields() {
    float[] vector = {-1.0f, 127.0f, -128.0f, 0.0f, -0.0f, 3.5f};
    String text = LegQueries.vectorText(vector);
    assertEquals("[-1,127,-128,0,0,3.5]", text);
    float[] back = NumberLists.vector(text);
    assertArrayEquals(new float[] {-1.0f, 127.0f, -128.0f, 0.0f, 0.0f, 3.5f}, back);
  }

  @Test
  void vectorTextKeepsLargeWholeFloatsExact() {
    float[] vector = {1.0E30f, 16777216.0f, 16777218.0f};
    assertArrayEquals(vector, NumberLists.vector(LegQueries.vectorText(vector)));
  }
}
