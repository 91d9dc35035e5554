package neuralsearch.solr;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import neuralsearch.fusion.Scored;
import org.apache.solr.common.SolrDocument;
import org.apache.solr.common.SolrDocumentList;
import org.apache.solr.common.SolrException;
import org.apache.solr.common.SolrException.ErrorCode;
import org.apache.solr.common.params.SolrParams;
import org.apache.solr.common.util.SimpleOrderedMap;
import org.apache.solr.request.SolrQueryRequest;
import org.apache.solr.request.SolrRequestHandler;
import org.apache.solr.request.SolrRequestInfo;
import org.apache.solr.response.ResultContext;
import org.apache.solr.response.SolrQueryResponse;
import org.apache.solr.schema.SchemaField;
import org.apache.lucene.index.IndexableField;

/**
 * Runs sub-requests through the core's own search handler (by default /select), in process.
 * In SolrCloud that handler distributes each sub-request over the shards and merges them, so a
 * leg comes back as the collection's global ranking and fusion happens once, here.
 */
final class CoreSearch {
  /** A leg's ranked hits, keyed by uniqueKey value, and whether the engine cut it short. */
  record Leg(List<Scored<String>> hits, boolean partial) {}

  private final SolrQueryRequest outer;
  private final SolrRequestHandler handler;
  private final String path;
  private final SchemaField key;

  CoreSearch(SolrQueryRequest outer, String path, SchemaField key) {
    this.outer = outer;
    this.path = path;
    this.key = key;
    this.handler = outer.getCore().getRequestHandler(path);
    if (handler == null) {
      throw new SolrException(
          ErrorCode.SERVER_ERROR,
          "the hybrid handler runs its legs through " + path + ", which core " + outer.getCore().getName()
              + " does not have; register it or set the handler's legHandler init arg");
    }
  }

  /** One leg: its documents in rank order with their raw scores. */
  Leg ranked(String name, SolrParams params) {
    return run(name, params, rsp -> {
      List<Scored<String>> hits = new ArrayList<>();
      for (Iterator<SolrDocument> docs = documents(name, rsp); docs.hasNext(); ) {
        SolrDocument doc = docs.next();
        hits.add(new Scored<>(keyText(doc.getFirstValue(key.getName())), score(doc)));
      }
      return new Leg(hits, SolrQueryResponse.isPartialResults(rsp.getResponseHeader()));
    });
  }

  /** The documents a fetch found, by uniqueKey, each without the key alias the fetch added. */
  Map<String, SolrDocument> fetch(SolrParams params) {
    return run("fetch", params, rsp -> {
      Map<String, SolrDocument> found = new LinkedHashMap<>();
      for (Iterator<SolrDocument> docs = documents("fetch", rsp); docs.hasNext(); ) {
        SolrDocument doc = docs.next();
        Object value = doc.getFirstValue(LegQueries.KEY_ALIAS);
        doc.removeFields(LegQueries.KEY_ALIAS);
        found.put(keyText(value), doc);
      }
      return found;
    });
  }

  private <T> T run(String name, SolrParams params, Function<SolrQueryResponse, T> reader) {
    // Shares the outer request's searcher (one point-in-time for both legs and the fetch) and user.
    SolrQueryRequest sub = outer.subRequest(params);
    // The shard requests of a distributed search go to the path of the request they serve.
    sub.getContext().put("path", path);
    SolrQueryResponse rsp = new SolrQueryResponse();
    rsp.addResponseHeader(new SimpleOrderedMap<>());
    // Components look up the running request here; the stack also carries the outer limits.
    SolrRequestInfo.setRequestInfo(new SolrRequestInfo(sub, rsp));
    try {
      handler.handleRequest(sub, rsp);
      Exception failure = rsp.getException();
      if (failure != null) {
        ErrorCode code = failure instanceof SolrException e ? ErrorCode.getErrorCode(e.code()) : ErrorCode.SERVER_ERROR;
        throw new SolrException(code, "the " + name + " leg failed: " + failure.getMessage(), failure);
      }
      return reader.apply(rsp);
    } finally {
      SolrRequestInfo.clearRequestInfo();
      sub.close();
    }
  }

  /** Standalone answers a ResultContext, a distributed search a merged SolrDocumentList. */
  private static Iterator<SolrDocument> documents(String name, SolrQueryResponse rsp) {
    Object response = rsp.getResponse();
    if (response instanceof ResultContext context) {
      return context.getProcessedDocuments();
    }
    if (response instanceof SolrDocumentList list) {
      return list.iterator();
    }
    throw new SolrException(
        ErrorCode.SERVER_ERROR,
        "the " + name + " leg answered no document list (got " + (response == null ? "nothing" : response.getClass().getName())
            + "); is the leg handler a plain search handler?");
  }

  /** In process, a renamed stored field can arrive as Lucene's field rather than its value. */
  private String keyText(Object value) {
    return value instanceof IndexableField field ? key.getType().toExternal(field) : String.valueOf(value);
  }

  /*
   * Solr ranks by float scores; a client reads them as the shortest decimal that prints the float.
   * Widening through that text keeps linear fusion here bit-identical to the Python client's.
   */
  private static double score(SolrDocument doc) {
    Object value = doc.getFirstValue("score");
    if (value instanceof Float f) {
      return Double.parseDouble(Float.toString(f));
    }
    if (value instanceof Number n) {
      return n.doubleValue();
    }
    throw new SolrException(ErrorCode.SERVER_ERROR, "a leg hit came back without a score");
  }
}
