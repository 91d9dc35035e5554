package neuralsearch.elasticsearch.hybrid;

import java.util.Collection;
import java.util.List;


import org.elasticsearch.action.support.MappedActionFilter;
import org.elasticsearch.common.io.stream.NamedWriteableRegistry;
import org.elasticsearch.plugins.ActionPlugin;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.SearchPlugin;
import org.elasticsearch.search.fetch.FetchSubPhase;
import org.elasticsearch.search.rank.RankDoc;
import org.elasticsearch.xcontent.ParseField;

/**
 * neural-search for Elasticsearch: the {@code neural_hybrid} retriever, the fetch sub-phase that
 * gives each hit its per-leg breakdown, the rank doc both share across nodes, and the filter that
 * runs the legs with index-wide BM25 statistics.
 */
public final class NeuralSearchPlugin extends Plugin implements SearchPlugin, ActionPlugin {

  @Override
  public Collection<MappedActionFilter> getMappedActionFilters() {
    return List.of(new LegsDfsFilter());
  }

  @Override
  public List<RetrieverSpec<?>> getRetrievers() {
    return List.of(new RetrieverSpec<>(new ParseField(HybridRetrieverBuilder.NAME), HybridRetrieverBuilder::fromXContent));
  }

  @Override
  public List<FetchSubPhase> getFetchSubPhases(FetchPhaseConstructionContext context) {
    return List.of(new LegsFetchSubPhase());
  }

  /** Shards on other nodes read the fused hits from the rank-docs query: they need the reader. */
  @Override
  public List<NamedWriteableRegistry.Entry> getNamedWriteables() {
    return List.of(new NamedWriteableRegistry.Entry(RankDoc.class, HybridRankDoc.NAME, HybridRankDoc::new));
  }
}
