package neuralsearch.solr;

import java.util.Iterator;
import java.util.List;
import java.util.Set;
import org.apache.solr.common.params.CommonParams;
import org.apache.solr.common.params.ModifiableSolrParams;
import org.apache.solr.common.params.SolrParams;

/**
 * The parameters of the handler's three sub-requests: the BM25 leg, the kNN leg and the fetch of
 * the page's stored fields. The legs' main queries are the ones the Python client sends for its
 * bm25 and knn legs, so each leg ranks exactly as /select does for the client.
 */
final class LegQueries {
  // Up to 2^24 every whole number is exactly a float, so writing it as an integer loses nothing.
  private static final float WHOLE_LIMIT = 1 << 24;

  /** Dereferenced by the BM25 leg's main query; the escaped user text travels only here. */
  static final String TEXT_PARAM = "nsqq";
  /** With several fields: the per-field queries the best_fields query takes the best of. */
  static final String FIELDS_PARAM = "nsbf";
  static final String IDS_PARAM = "nsids";
  static final String SEPARATOR_PARAM = "nssep";
  /** The uniqueKey under a name no stored field uses, so the fetch can map docs back to ids. */
  static final String KEY_ALIAS = "_neural_search_key_";

  /** Parameters the handler sets on every sub-request itself. */
  private static final Set<String> SET_HERE = Set.of(
      CommonParams.Q, CommonParams.ROWS, CommonParams.START, CommonParams.FL, CommonParams.SORT,
      CommonParams.QT, CommonParams.WT, CommonParams.OMIT_HEADER, "echoParams", "defType",
      TEXT_PARAM, FIELDS_PARAM, IDS_PARAM, SEPARATOR_PARAM);

  /*
   * Parameters that shape a response rather than choose its documents: a leg's response is read
   * for its ranked ids only, so these would be computed and thrown away, and grouping or a cursor
   * would change the shape the handler reads.
   */
  private static final List<String> RESPONSE_SHAPING = List.of(
      "cursorMark", "group", "facet", "json", "hl", "stats", "spellcheck", "terms", "mlt", "debug",
      "debugQuery", "expand", "explainOther", "echoHandler");

  private LegQueries() {}

  static ModifiableSolrParams lexical(SolrParams request, HybridRequest hybrid, String keyField) {
    ModifiableSolrParams params = ranked(request, hybrid, keyField);
    String[] fields = hybrid.qf().split(" ");
    if (fields.length == 1) {
      params.set(CommonParams.Q, fieldQuery(fields[0]));
    } else {
      // Field-centric, as Elasticsearch's multi_match best_fields: the best field's BM25 plus tie
      // times the others'. edismax over several qf fields would take the best field per term.
      StringBuilder clauses = new StringBuilder();
      for (String field : fields) {
        clauses.append(clauses.length() == 0 ? "" : " ").append("_query_:\"").append(fieldQuery(field)).append('"');
      }
      params.set(CommonParams.Q, "{!maxscore tie=" + hybrid.tie() + " v=$" + FIELDS_PARAM + "}");
      params.set(FIELDS_PARAM, clauses.toString());
    }
    params.set(TEXT_PARAM, QueryText.escape(hybrid.text()));
    return params;
  }

  /** BM25 on one (optionally boosted) field; the text only ever dereferenced, field queries off. */
  private static String fieldQuery(String boostedField) {
    return "{!edismax qf=" + boostedField + " uf=-* v=$" + TEXT_PARAM + "}";
  }

  /** fq stays on: on a request whose main query is knn, Solr 9.1+ applies fq as a pre-filter. */
  static ModifiableSolrParams knn(SolrParams request, HybridRequest hybrid, String keyField) {
    ModifiableSolrParams params = ranked(request, hybrid, keyField);
    params.set(CommonParams.Q, "{!knn f=" + hybrid.vf() + " topK=" + hybrid.depth() + "}" + vectorText(hybrid.vector()));
    return params;
  }

  /**
   * The page's documents by id, with the requested fields. No fq: the ids were filtered already.
   * The terms separator is a character none of the ids contains, as ids may hold commas.
   */
  static ModifiableSolrParams fetch(SolrParams request, HybridRequest hybrid, String keyField, List<String> ids) {
    ModifiableSolrParams params = passedOn(request);
    params.remove(CommonParams.FQ);
    String separator = separatorFor(ids);
    params.set(CommonParams.Q, "{!terms f=" + keyField + " separator=$" + SEPARATOR_PARAM + " v=$" + IDS_PARAM + "}");
    params.set(SEPARATOR_PARAM, separator);
    params.set(IDS_PARAM, String.join(separator, ids));
    params.set(CommonParams.ROWS, ids.size());
    params.set(CommonParams.FL, hybrid.fl() + "," + KEY_ALIAS + ":" + keyField);
    return params;
  }

  private static ModifiableSolrParams ranked(SolrParams request, HybridRequest hybrid, String keyField) {
    ModifiableSolrParams params = passedOn(request);
    params.set(CommonParams.START, 0);
    params.set(CommonParams.ROWS, hybrid.depth());
    params.set(CommonParams.FL, keyField + ",score");
    // Equal scores in key order, as the client's own searches: each replica numbers its documents
    // its own way, so Lucene's doc-id tie order would differ from one replica to the next.
    params.set(CommonParams.SORT, "score desc," + keyField + " asc");
    return params;
  }

  /** Every request parameter except the handler's own, those set here, and response shaping. */
  static ModifiableSolrParams passedOn(SolrParams request) {
    ModifiableSolrParams params = new ModifiableSolrParams();
    for (Iterator<String> names = request.getParameterNamesIterator(); names.hasNext(); ) {
      String name = names.next();
      if (!HybridRequest.OWN.contains(name) && !SET_HERE.contains(name) && !shapesResponse(name)) {
        params.set(name, request.getParams(name));
      }
    }
    return params;
  }

  private static boolean shapesResponse(String name) {
    for (String prefix : RESPONSE_SHAPING) {
      if (name.equals(prefix) || name.startsWith(prefix + ".")) {
        return true;
      }
    }
    return false;
  }

  /**
   * The vector as {!knn} reads it. Whole values are written without a fraction: a BYTE-encoded
   * field's parser takes only integers ("-1.0" is refused), and a FLOAT32 field reads "-1" as -1.0.
   */
  static String vectorText(float[] vector) {
    StringBuilder out = new StringBuilder(vector.length * 12).append('[');
    for (int i = 0; i < vector.length; i++) {
      out.append(i == 0 ? "" : ",");
      float value = vector[i];
      if (value == Math.rint(value) && Math.abs(value) <= WHOLE_LIMIT) {
        out.append((long) value);
      } else {
        out.append(Float.toString(value));
      }
    }
    return out.append(']').toString();
  }

  /** A one-character separator absent from every id: control characters, then private use. */
  static String separatorFor(List<String> ids) {
    for (char c = '\u001f'; c >= '\u0001'; c--) {
      if (noneContains(ids, c)) {
        return String.valueOf(c);
      }
    }
    for (char c = '\ue000'; c <= '\uf8ff'; c++) {
      if (noneContains(ids, c)) {
        return String.valueOf(c);
      }
    }
    throw new IllegalStateException("no separator character left for " + ids.size() + " ids");
  }

  private static boolean noneContains(List<String> ids, char c) {
    for (String id : ids) {
      if (id.indexOf(c) >= 0) {
        return false;
      }
    }
    return true;
  }
}
