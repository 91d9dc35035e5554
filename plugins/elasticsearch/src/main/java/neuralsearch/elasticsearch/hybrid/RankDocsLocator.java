package neuralsearch.elasticsearch.hybrid;

import java.util.HashMap;
import java.util.Map;

import org.apache.lucene.search.BooleanClause;
import org.apache.lucene.search.BooleanQuery;
import org.apache.lucene.search.BoostQuery;
import org.apache.lucene.search.ConstantScoreQuery;
import org.apache.lucene.search.Query;
import org.elasticsearch.search.rank.RankDoc;
import org.elasticsearch.search.retriever.rankdoc.RankDocsQuery;

/**
 * Finds, on a shard, the fused hits our retriever sent there. They arrive inside the rank-docs query
 * (the fetch phase hands a hit its rank doc only for the legacy rank API), which the shard may have
 * wrapped: alias, nested or slice filters make a boolean query around it, a boost a boost query.
 */
public final class RankDocsLocator {
  private static final int MAX_DEPTH = 16;

  private RankDocsLocator() {}

  /** The shard's hybrid rank docs by shard-level Lucene doc id; empty when the query holds none. */
  public static Map<Integer, HybridRankDoc> hybridDocs(Query query) {
    Map<Integer, HybridRankDoc> out = new HashMap<>();
    RankDocsQuery found = find(query, 0);
    if (found != null) {
      for (RankDoc doc : found.rankDocs()) {
        if (doc instanceof HybridRankDoc hybrid) {
          out.put(hybrid.doc, hybrid);
        }
      }
    }
    return out;
  }

  private static RankDocsQuery find(Query query, int depth) {
    if (query == null || depth > MAX_DEPTH) {
      return null;
    }
    if (query instanceof RankDocsQuery rankDocs) {
      return rankDocs;
    }
    if (query instanceof BoostQuery boost) {
      return find(boost.getQuery(), depth + 1);
    }
    if (query instanceof ConstantScoreQuery constant) {
      return find(constant.getQuery(), depth + 1);
    }
    if (query instanceof BooleanQuery bool) {
      for (BooleanClause clause : bool.clauses()) {
        RankDocsQuery inner = find(clause.query(), depth + 1);
        if (inner != null) {
          return inner;
        }
      }
    }
    return null;
  }
}
