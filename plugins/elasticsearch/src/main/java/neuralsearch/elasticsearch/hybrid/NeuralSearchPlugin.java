package neuralsearch.elasticsearch.hybrid;

import java.util.List;

import org.elasticsearch.common.io.stream.NamedWriteableRegistry;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.SearchPlugin;
import org.elasticsearch.search.fetch.FetchSubPhase;
import org.elasticsearch.search.rank.RankDoc;
import org.elasticsearch.xcontent.ParseField;

/**
 * neural-search for Elasticsearch: the {@code neural_hybrid} retriever, the fetch sub-phase that
 * gives each hit its per-leg breakdown, and the rank doc both share across nodes.
 */
public final class NeuralSearchPlugin extends Plugin implements SearchPlugin {

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
