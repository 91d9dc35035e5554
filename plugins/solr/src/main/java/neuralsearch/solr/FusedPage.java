package neuralsearch.solr;

import java.util.List;
import java.util.Map;
import neuralsearch.fusion.FusedHit;
import org.apache.solr.common.SolrDocument;
import org.apache.solr.common.SolrDocumentList;

/** The {@code response} of a hybrid search: one page of the fused list, in fused order. */
final class FusedPage {
  private FusedPage() {}

  /**
   * {@code numFound} is the union of the legs' candidates. A page document the fetch did not find
   * (deleted between the legs and the fetch, possible in SolrCloud) keeps its id and score.
   */
  static SolrDocumentList of(int candidates, int start, List<FusedHit<String>> page, Map<String, SolrDocument> stored, String keyField) {
    SolrDocumentList docs = new SolrDocumentList();
    docs.setNumFound(candidates);
    docs.setNumFoundExact(true);
    docs.setStart(start);
    for (FusedHit<String> hit : page) {
      SolrDocument doc = new SolrDocument();
      SolrDocument found = stored.get(hit.key());
      if (found != null) {
        doc.putAll(found);
      } else {
        doc.setField(keyField, hit.key());
      }
      doc.setField("score", hit.score());
      docs.add(doc);
    }
    return docs;
  }
}
