package neuralsearch.solr;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import neuralsearch.fusion.FusedHit;
import org.apache.solr.client.api.util.SolrVersion;
import org.apache.solr.common.SolrDocument;
import org.apache.solr.common.SolrException;
import org.apache.solr.common.SolrException.ErrorCode;
import org.apache.solr.common.params.SolrParams;
import org.apache.solr.common.util.ExecutorUtil;
import org.apache.solr.common.util.NamedList;
import org.apache.solr.handler.RequestHandlerBase;
import org.apache.solr.request.SolrQueryRequest;
import org.apache.solr.response.SolrQueryResponse;
import org.apache.solr.schema.SchemaField;
import org.apache.solr.security.AuthorizationContext;

/**
 * {@code /neural-search/hybrid}: a BM25 leg and a kNN leg, fused (RRF or linear) in one request.
 *
 * <p>Each leg is a sub-request through the core's search handler (init arg {@code legHandler},
 * default /select), so in SolrCloud each leg is already the collection's global ranking and the
 * fusion here is global too. The page's stored fields come from a third sub-request by id.
 * Init arg {@code parallelLegs} (default true) runs the kNN leg on a handler-owned thread while
 * the BM25 leg runs on the request's thread.
 */
public class HybridSearchHandler extends RequestHandlerBase {
  static final List<String> LEG_NAMES = List.of("bm25", "knn");

  private String legHandler = "/select";
  private ExecutorService legs;

  @Override
  public void init(NamedList<?> args) {
    super.init(args);
    Object path = args == null ? null : args.get("legHandler");
    if (path != null) {
      legHandler = path.toString();
    }
    Object parallel = args == null ? null : args.get("parallelLegs");
    if (parallel == null || Boolean.parseBoolean(parallel.toString())) {
      legs = ExecutorUtil.newMDCAwareCachedThreadPool("neural-search-legs");
    }
  }

  @Override
  public void handleRequestBody(SolrQueryRequest req, SolrQueryResponse rsp) throws Exception {
    SolrParams params = req.getParams();
    if (params.getBool(HybridRequest.DESCRIBE, false)) {
      rsp.add(ResponseSection.NAME, ResponseSection.describe(SolrVersion.LATEST.toString()));
      return;
    }
    HybridRequest hybrid = HybridRequest.from(params);
    SchemaField uniqueKey = req.getSchema().getUniqueKeyField();
    if (uniqueKey == null) {
      throw new SolrException(ErrorCode.BAD_REQUEST, "hybrid search fuses by document id; the schema of this core needs a uniqueKey");
    }
    String key = uniqueKey.getName();
    // Sub-requests share this searcher; opening it here keeps its lazy creation on one thread.
    req.getSearcher();
    CoreSearch search = new CoreSearch(req, legHandler, uniqueKey);

    CoreSearch.Leg[] ranked = runLegs(search, params, hybrid, key);
    List<FusedHit<String>> fused = hybrid.fusion().fuse(List.of(ranked[0].hits(), ranked[1].hits()), hybrid.weights(), -1);
    List<FusedHit<String>> page = fused.subList(Math.min(hybrid.start(), fused.size()), Math.min(hybrid.start() + hybrid.rows(), fused.size()));
    Map<String, SolrDocument> stored = page.isEmpty()
        ? Map.of()
        : search.fetch(LegQueries.fetch(params, hybrid, key, page.stream().map(FusedHit::key).toList()));

    rsp.addResponse(FusedPage.of(fused.size(), hybrid.start(), page, stored, key));
    rsp.add(ResponseSection.NAME, ResponseSection.fusion(hybrid.fusion(), hybrid.depth(), page, LEG_NAMES));
    if (ranked[0].partial() || ranked[1].partial()) {
      rsp.setPartialResults(req);
    }
  }

  private CoreSearch.Leg[] runLegs(CoreSearch search, SolrParams params, HybridRequest hybrid, String key) throws Exception {
    SolrParams lexical = LegQueries.lexical(params, hybrid, key);
    SolrParams knn = LegQueries.knn(params, hybrid, key);
    Future<CoreSearch.Leg> knnLeg = null;
    if (legs != null) {
      try {
        knnLeg = legs.submit(() -> search.ranked("knn", knn));
      } catch (RejectedExecutionException closing) {
        // the core is closing: this request finishes on its own thread
      }
    }
    if (knnLeg == null) {
      return new CoreSearch.Leg[] {search.ranked("bm25", lexical), search.ranked("knn", knn)};
    }
    CoreSearch.Leg bm25;
    try {
      bm25 = search.ranked("bm25", lexical);
    } catch (RuntimeException e) {
      // The kNN leg reads this request's searcher: let it finish before the request closes.
      awaitQuietly(knnLeg);
      throw e;
    }
    try {
      return new CoreSearch.Leg[] {bm25, knnLeg.get()};
    } catch (ExecutionException e) {
      throw e.getCause() instanceof Exception cause ? cause : e;
    }
  }

  private static void awaitQuietly(Future<?> leg) {
    try {
      leg.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException ignored) {
      // the first leg's failure is the one reported
    }
  }

  @Override
  public String getDescription() {
    return "neural-search hybrid search: BM25 and kNN legs fused (RRF or linear) at the coordinator";
  }

  @Override
  public Name getPermissionName(AuthorizationContext ctx) {
    return Name.READ_PERM;
  }

  @Override
  public void close() throws IOException {
    if (legs != null) {
      ExecutorUtil.shutdownAndAwaitTermination(legs);
    }
    super.close();
  }
}
