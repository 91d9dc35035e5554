package neuralsearch.elasticsearch.hybrid;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.elasticsearch.action.ActionListener;
import org.elasticsearch.action.ActionRequest;
import org.elasticsearch.action.ActionResponse;
import org.elasticsearch.action.search.SearchRequest;
import org.elasticsearch.action.search.SearchType;
import org.elasticsearch.action.support.ActionFilterChain;
import org.elasticsearch.index.query.MatchAllQueryBuilder;
import org.elasticsearch.search.builder.SearchSourceBuilder;
import org.elasticsearch.search.vectors.KnnSearchBuilder;
import org.elasticsearch.tasks.Task;
import org.junit.jupiter.api.Test;

class LegsDfsFilterTest {

  private static SearchRequest leg(SearchSourceBuilder source) {
    return new SearchRequest().source(source);
  }

  private static SearchType filtered(SearchRequest request) {
    List<ActionRequest> proceeded = new ArrayList<>();
    ActionFilterChain<SearchRequest, ActionResponse> chain = (task, action, r, listener) -> proceeded.add(r);
    new LegsDfsFilter().apply((Task) null, "indices:data/read/search", request, ActionListener.noop(), chain);
    assertEquals(1, proceeded.size(), "the filter must always hand the request on");
    assertSame(request, proceeded.get(0));
    return request.searchType();
  }

  @Test
  void aMarkedLegRunsWithIndexWideStatistics() {
    SearchSourceBuilder source = LegsDfsFilter.mark(new SearchSourceBuilder().query(new MatchAllQueryBuilder()));
    assertEquals(SearchType.DFS_QUERY_THEN_FETCH, filtered(leg(source)));
  }

  @Test
  void otherSearchesAreLeftAlone() {
    SearchSourceBuilder plain = new SearchSourceBuilder().query(new MatchAllQueryBuilder());
    assertEquals(SearchType.QUERY_THEN_FETCH, filtered(leg(plain)));
    SearchSourceBuilder otherGroup = new SearchSourceBuilder().stats(List.of("dashboard"));
    assertEquals(SearchType.QUERY_THEN_FETCH, filtered(leg(otherGroup)));
    assertEquals(SearchType.QUERY_THEN_FETCH, filtered(new SearchRequest()));
  }

  @Test
  void aTopLevelKnnSectionKeepsTheTypeElasticsearchChooses() {
    SearchSourceBuilder source = LegsDfsFilter.mark(new SearchSourceBuilder()
        .knnSearch(List.of(new KnnSearchBuilder("vector", new float[] {1f, 0f}, 10, 100, null, null, null))));
    assertFalse(LegsDfsFilter.wantsDfs(leg(source)));
  }

  @Test
  void markingKeepsOtherStatsGroupsAndIsIdempotent() {
    SearchSourceBuilder source = new SearchSourceBuilder().stats(List.of("dashboard"));
    LegsDfsFilter.mark(LegsDfsFilter.mark(source));
    assertEquals(List.of("dashboard", LegsDfsFilter.MARK), source.stats());
    assertTrue(LegsDfsFilter.wantsDfs(leg(source)));
  }

  @Test
  void theFilterWatchesTheSearchActionTheLegsGoThrough() {
    assertEquals("indices:data/read/search", new LegsDfsFilter().actionName());
  }
}
