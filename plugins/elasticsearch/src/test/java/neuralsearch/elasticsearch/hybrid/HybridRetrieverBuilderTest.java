package neuralsearch.elasticsearch.hybrid;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import org.elasticsearch.action.ActionRequestValidationException;
import org.elasticsearch.common.Strings;
import org.elasticsearch.index.query.MatchAllQueryBuilder;
import org.elasticsearch.index.query.QueryBuilder;
import org.elasticsearch.index.query.TermQueryBuilder;
import org.elasticsearch.search.builder.SearchSourceBuilder;
import org.elasticsearch.search.retriever.CompoundRetrieverBuilder.RetrieverSource;
import org.elasticsearch.search.retriever.RetrieverBuilder;
import org.elasticsearch.search.retriever.RetrieverParserContext;
import org.elasticsearch.search.retriever.StandardRetrieverBuilder;
import org.elasticsearch.usage.SearchUsage;
import org.elasticsearch.xcontent.NamedXContentRegistry;
import org.elasticsearch.xcontent.ParseField;
import org.elasticsearch.xcontent.XContentParser;
import org.elasticsearch.xcontent.XContentParserConfiguration;
import org.elasticsearch.xcontent.json.JsonXContent;
import org.junit.jupiter.api.Test;

class HybridRetrieverBuilderTest {

  private static final NamedXContentRegistry REGISTRY = new NamedXContentRegistry(List.of(
      new NamedXContentRegistry.Entry(RetrieverBuilder.class, new ParseField("standard"),
          (p, c) -> StandardRetrieverBuilder.fromXContent(p, (RetrieverParserContext) c)),
      new NamedXContentRegistry.Entry(RetrieverBuilder.class, new ParseField(HybridRetrieverBuilder.NAME),
          (p, c) -> HybridRetrieverBuilder.fromXContent(p, (RetrieverParserContext) c)),
      new NamedXContentRegistry.Entry(QueryBuilder.class, new ParseField("match_all"),
          (p, c) -> MatchAllQueryBuilder.fromXContent(p)),
      new NamedXContentRegistry.Entry(QueryBuilder.class, new ParseField("term"),
          (p, c) -> TermQueryBuilder.fromXContent(p))));

  private static final String LEGS =
      "\"retrievers\": [{\"standard\": {\"query\": {\"match_all\": {}}}}, {\"standard\": {\"query\": {\"term\": {\"id\": \"x\"}}}}]";

  /** Parses {@code {"neural_hybrid": {...}}} the way a search request's retriever section is parsed. */
  private static HybridRetrieverBuilder parse(String body) throws IOException {
    String json = "{\"" + HybridRetrieverBuilder.NAME + "\": {" + body + "}}";
    try (XContentParser parser = JsonXContent.jsonXContent.createParser(
        XContentParserConfiguration.EMPTY.withRegistry(REGISTRY), json)) {
      parser.nextToken();
      parser.nextToken();
      parser.nextToken();
      return HybridRetrieverBuilder.fromXContent(parser, new RetrieverParserContext(new SearchUsage(), f -> true));
    }
  }

  private static String refused(String body) {
    Exception e = assertThrows(Exception.class, () -> parse(body));
    return e.getMessage() + (e.getCause() == null ? "" : " / " + e.getCause().getMessage());
  }

  @Test
  void parsesEverySetting() throws IOException {
    HybridRetrieverBuilder builder = parse(LEGS + ", \"names\": [\"bm25\", \"exact\"], \"fusion\": \"linear:minmax:geometric\","
        + " \"weights\": [0.5, 2], \"rank_window_size\": 50, \"_name\": \"hybrid\", \"min_score\": 0.1,"
        + " \"filter\": [{\"term\": {\"color\": \"red\"}}]");
    assertEquals(List.of("bm25", "exact"), builder.options().names());
    assertEquals("linear:minmax:geometric", builder.options().fusion().toString());
    assertArrayEquals(new double[] {0.5, 2.0}, builder.options().weights());
    assertEquals(50, builder.rankWindowSize());
    assertEquals(2, builder.innerRetrievers().size());
    assertInstanceOf(StandardRetrieverBuilder.class, builder.innerRetrievers().get(0).retriever());
    assertEquals("hybrid", builder.retrieverName());
    assertEquals(0.1f, builder.minScore());
    assertEquals(1, builder.getPreFilterQueryBuilders().size());
  }

  @Test
  void defaults() throws IOException {
    HybridRetrieverBuilder builder = parse(LEGS);
    assertEquals(List.of("leg0", "leg1"), builder.options().names());
    assertEquals("rrf", builder.options().fusion().toString());
    assertEquals(HybridRetrieverBuilder.DEFAULT_RANK_WINDOW_SIZE, builder.rankWindowSize());
    assertNull(builder.retrieverName());
  }

  @Test
  void badSettingsAreRefusedWithTheirReason() {
    assertTrue(refused(LEGS + ", \"fusion\": \"linear:foo\"").contains("[neural_hybrid] [fusion]"));
    assertTrue(refused(LEGS + ", \"weights\": [1, 2, 3]").contains("[weights] has 3 values for 2 retrievers"));
    assertTrue(refused(LEGS + ", \"weights\": [1, -2]").contains("[weights][1] must be a finite number >= 0"));
    assertTrue(refused(LEGS + ", \"names\": [\"a\", \"a\"]").contains("distinct"));
    assertTrue(refused(LEGS + ", \"rank_window_size\": 0").contains("[rank_window_size] must be >= 1"));
    assertTrue(refused("\"fusion\": \"rrf\"").contains("retrievers"));
    assertTrue(refused(LEGS + ", \"bogus\": 1").contains("bogus"));
  }

  @Test
  void aPagePastTheWindowFailsValidation() throws IOException {
    HybridRetrieverBuilder builder = parse(LEGS + ", \"rank_window_size\": 20");
    ActionRequestValidationException e =
        builder.validate(new SearchSourceBuilder().from(15).size(10), null, false, true);
    assertNotNull(e);
    String message = String.join("; ", e.validationErrors());
    assertTrue(message.contains("[from: 15] + [size: 10] = 25") && message.contains("[rank_window_size: 20]"), message);
    assertNull(builder.validate(new SearchSourceBuilder().from(10).size(10), null, false, true));
  }

  @Test
  void cloneKeepsOptionsNameMinScoreAndTheNewFilters() throws IOException {
    HybridRetrieverBuilder builder = parse(LEGS + ", \"names\": [\"a\", \"b\"], \"fusion\": \"rrf:5\", \"_name\": \"h\","
        + " \"min_score\": 0.5, \"rank_window_size\": 30");
    List<QueryBuilder> filters = new ArrayList<>(List.of(new TermQueryBuilder("color", "red")));
    List<RetrieverSource> legs = new ArrayList<>(builder.innerRetrievers());
    HybridRetrieverBuilder copy = new CloneProbe(builder).cloneWith(legs, filters);
    assertEquals(builder.options(), copy.options());
    assertEquals("h", copy.retrieverName());
    assertEquals(0.5f, copy.minScore());
    assertEquals(30, copy.rankWindowSize());
    assertEquals(filters, copy.getPreFilterQueryBuilders());
  }

  @Test
  void writesItsSettingsBack() throws IOException {
    HybridRetrieverBuilder builder = parse(LEGS + ", \"names\": [\"a\", \"b\"], \"fusion\": \"RRF:7\", \"weights\": [1, 3]");
    String json = Strings.toString(builder);
    assertTrue(json.contains("\"fusion\":\"rrf:7\"") && json.contains("\"names\":[\"a\",\"b\"]")
        && json.contains("\"weights\":[1.0,3.0]") && json.contains("\"standard\""), json);
    String inner = json.substring(json.indexOf('{', 1) + 1, json.lastIndexOf('}', json.length() - 2));
    assertEquals(builder, parse(inner));
  }

  /** Reaches the protected clone the engine calls during rewrite. */
  private static final class CloneProbe {
    private final HybridRetrieverBuilder builder;

    CloneProbe(HybridRetrieverBuilder builder) {
      this.builder = builder;
    }

    HybridRetrieverBuilder cloneWith(List<RetrieverSource> legs, List<QueryBuilder> filters) {
      return builder.clone(legs, filters);
    }
  }

  @Test
  void everyLegSourceIsMarkedForIndexWideStatisticsAndKeepsItsScores() throws IOException {
    HybridRetrieverBuilder retriever = parse(LEGS);
    SearchSourceBuilder leg = retriever.finalizeSourceBuilder(new SearchSourceBuilder().query(new MatchAllQueryBuilder()));
    assertTrue(leg.stats().contains(LegsDfsFilter.MARK), String.valueOf(leg.stats()));
    assertTrue(leg.trackScores());
  }
}
