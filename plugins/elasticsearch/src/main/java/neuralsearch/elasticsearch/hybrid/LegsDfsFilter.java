package neuralsearch.elasticsearch.hybrid;

import java.util.ArrayList;
import java.util.List;

import org.elasticsearch.action.ActionListener;
import org.elasticsearch.action.ActionRequest;
import org.elasticsearch.action.ActionResponse;
import org.elasticsearch.action.search.SearchRequest;
import org.elasticsearch.action.search.SearchType;
import org.elasticsearch.action.search.TransportSearchAction;
import org.elasticsearch.action.support.ActionFilterChain;
import org.elasticsearch.action.support.MappedActionFilter;
import org.elasticsearch.search.builder.SearchSourceBuilder;
import org.elasticsearch.tasks.Task;

/**
 * Runs each leg search of a {@code neural_hybrid} retriever as {@code dfs_query_then_fetch}, so that
 * on several shards BM25 scores with the whole index's term statistics, as one shard would and as
 * the client's own BM25 searches do. Elasticsearch builds the legs' search requests itself (a
 * multi-search with the default search type, whatever the outer request asked for); the retriever
 * marks their sources with a stats group ({@link #mark}) and this filter, on the search action those
 * requests go through, switches the marked ones. On one shard Elasticsearch runs DFS as
 * query_then_fetch, so this costs nothing there.
 */
public final class LegsDfsFilter implements MappedActionFilter {
  /** The stats group that marks a leg's search (also visible in the index's search stats). */
  public static final String MARK = "neural_search_leg";

  @Override
  public String actionName() {
    return TransportSearchAction.NAME;
  }

  /** The leg's source with the mark added (other stats groups kept). */
  static SearchSourceBuilder mark(SearchSourceBuilder source) {
    List<String> groups = source.stats() == null ? new ArrayList<>() : new ArrayList<>(source.stats());
    if (!groups.contains(MARK)) {
      groups.add(MARK);
    }
    return source.stats(groups);
  }

  /** Whether `request` is a marked leg that can take DFS (a top-level knn section picks its own type). */
  static boolean wantsDfs(ActionRequest request) {
    if (!(request instanceof SearchRequest search) || search.source() == null) {
      return false;
    }
    SearchSourceBuilder source = search.source();
    return source.stats() != null && source.stats().contains(MARK) && source.knnSearch().isEmpty()
        && search.searchType() == SearchType.QUERY_THEN_FETCH && search.scroll() == null;
  }

  @Override
  public <Request extends ActionRequest, Response extends ActionResponse> void apply(Task task, String action, Request request,
      ActionListener<Response> listener, ActionFilterChain<Request, Response> chain) {
    if (wantsDfs(request)) {
      ((SearchRequest) request).searchType(SearchType.DFS_QUERY_THEN_FETCH);
    }
    chain.proceed(task, action, request, listener);
  }
}
