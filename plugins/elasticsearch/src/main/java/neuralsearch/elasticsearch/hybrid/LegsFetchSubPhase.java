package neuralsearch.elasticsearch.hybrid;

import java.util.List;
import java.util.Map;

import org.apache.lucene.index.LeafReaderContext;
import org.elasticsearch.common.document.DocumentField;
import org.elasticsearch.search.fetch.FetchContext;
import org.elasticsearch.search.fetch.FetchSubPhase;
import org.elasticsearch.search.fetch.FetchSubPhaseProcessor;
import org.elasticsearch.search.fetch.StoredFieldsSpec;

/**
 * Adds to every hit of a {@code neural_hybrid} search the field {@code _neural_search_legs}: each
 * leg's rank, raw score and normalised score (or RRF contribution), without explain=true.
 */
public final class LegsFetchSubPhase implements FetchSubPhase {
  public static final String FIELD = "_neural_search_legs";

  @Override
  public FetchSubPhaseProcessor getProcessor(FetchContext context) {
    Map<Integer, HybridRankDoc> byDoc = RankDocsLocator.hybridDocs(context.query());
    if (byDoc.isEmpty()) {
      return null;
    }
    return new FetchSubPhaseProcessor() {
      @Override
      public void setNextReader(LeafReaderContext readerContext) {}

      @Override
      public void process(HitContext hit) {
        HybridRankDoc doc = hit.rankDoc() instanceof HybridRankDoc shipped
            ? shipped : byDoc.get(hit.readerContext().docBase + hit.docId());
        if (doc != null) {
          hit.hit().setDocumentField(new DocumentField(FIELD, List.of(LegBreakdown.of(doc))));
        }
      }

      @Override
      public StoredFieldsSpec storedFieldsSpec() {
        return StoredFieldsSpec.NO_REQUIREMENTS;
      }
    };
  }
}
