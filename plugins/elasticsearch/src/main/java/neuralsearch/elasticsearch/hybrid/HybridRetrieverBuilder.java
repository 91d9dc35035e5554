package neuralsearch.elasticsearch.hybrid;

import static org.elasticsearch.action.ValidateActions.addValidationError;
import static org.elasticsearch.xcontent.ConstructingObjectParser.constructorArg;
import static org.elasticsearch.xcontent.ConstructingObjectParser.optionalConstructorArg;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

import org.apache.lucene.search.ScoreDoc;
import org.elasticsearch.action.ActionRequestValidationException;
import org.elasticsearch.index.query.QueryBuilder;
import org.elasticsearch.search.builder.SearchSourceBuilder;
import org.elasticsearch.search.rank.RankBuilder;
import org.elasticsearch.search.rank.RankDoc;
import org.elasticsearch.search.retriever.CompoundRetrieverBuilder;
import org.elasticsearch.search.retriever.RetrieverBuilder;
import org.elasticsearch.search.retriever.RetrieverParserContext;
import org.elasticsearch.xcontent.ConstructingObjectParser;
import org.elasticsearch.xcontent.ParseField;
import org.elasticsearch.xcontent.XContentBuilder;
import org.elasticsearch.xcontent.XContentParser;

/**
 * The {@code neural_hybrid} retriever: runs its inner retrievers (the legs, e.g. a {@code standard}
 * match and a {@code knn}) as one multi-search at the coordinating node, each over
 * {@code rank_window_size} hits and with the retriever's {@code filter}s, and fuses their ranked
 * lists with the shared fusion core ({@code fusion}, {@code weights}); {@code names} name the legs
 * in each hit's breakdown.
 */
public final class HybridRetrieverBuilder extends CompoundRetrieverBuilder<HybridRetrieverBuilder> {
  public static final String NAME = "neural_hybrid";
  public static final ParseField RETRIEVERS_FIELD = new ParseField("retrievers");
  public static final ParseField NAMES_FIELD = new ParseField("names");
  public static final ParseField FUSION_FIELD = new ParseField("fusion");
  public static final ParseField WEIGHTS_FIELD = new ParseField("weights");
  public static final int DEFAULT_RANK_WINDOW_SIZE = RankBuilder.DEFAULT_RANK_WINDOW_SIZE;

  /** The request's fusion settings as parsed, before {@link HybridOptions} checks them. */
  private record Requested(List<String> names, String fusion, List<Double> weights) {}

  @SuppressWarnings("unchecked")
  static final ConstructingObjectParser<HybridRetrieverBuilder, RetrieverParserContext> PARSER =
      new ConstructingObjectParser<>(NAME, false, args -> {
        List<RetrieverSource> sources = new ArrayList<>();
        for (RetrieverBuilder retriever : (List<RetrieverBuilder>) args[0]) {
          sources.add(RetrieverSource.from(retriever));
        }
        Requested requested = new Requested((List<String>) args[1], (String) args[2], (List<Double>) args[3]);
        return new HybridRetrieverBuilder(sources, requested, args[4] == null ? DEFAULT_RANK_WINDOW_SIZE : (int) args[4]);
      });

  static {
    PARSER.declareObjectArray(constructorArg(), (p, c) -> parseInnerRetrieverBuilder(p, c), RETRIEVERS_FIELD);
    PARSER.declareStringArray(optionalConstructorArg(), NAMES_FIELD);
    PARSER.declareString(optionalConstructorArg(), FUSION_FIELD);
    PARSER.declareDoubleArray(optionalConstructorArg(), WEIGHTS_FIELD);
    PARSER.declareInt(optionalConstructorArg(), RANK_WINDOW_SIZE_FIELD);
    RetrieverBuilder.declareBaseParserFields(PARSER);
  }

  private final HybridOptions options;
  private final Requested requested;

  /**
   * Parses and checks a {@code neural_hybrid} object. The checks run here, after the parser, rather
   * than in its constructor callback, so that a 400's root cause is our message and not the
   * parser's generic "failed to build".
   *
   * @throws IllegalArgumentException naming the field at fault and the fix
   */
  public static HybridRetrieverBuilder fromXContent(XContentParser parser, RetrieverParserContext context)
      throws IOException {
    HybridRetrieverBuilder parsed = PARSER.apply(parser, context);
    PageWindow.checkWindow(parsed.rankWindowSize);
    Requested r = parsed.requested;
    HybridOptions options = HybridOptions.of(parsed.innerRetrievers.size(), r.names(), r.fusion(), r.weights());
    return parsed.copy(parsed.innerRetrievers, options, parsed.preFilterQueryBuilders);
  }

  public HybridRetrieverBuilder(List<RetrieverSource> legs, HybridOptions options, int rankWindowSize) {
    // mutable: the base class's addChild appends to it
    super(new ArrayList<>(legs), rankWindowSize);
    if (legs.size() != options.legCount()) {
      throw new IllegalArgumentException("[neural_hybrid] has " + legs.size() + " retrievers but options for "
          + options.legCount());
    }
    this.options = options;
    this.requested = null;
  }

  private HybridRetrieverBuilder(List<RetrieverSource> legs, Requested requested, int rankWindowSize) {
    super(new ArrayList<>(legs), rankWindowSize);
    this.options = null;
    this.requested = requested;
  }

  /** A copy with other legs, options and filters that keeps the retriever's name and min_score. */
  private HybridRetrieverBuilder copy(List<RetrieverSource> legs, HybridOptions newOptions, List<QueryBuilder> filters) {
    HybridRetrieverBuilder copy = new HybridRetrieverBuilder(legs, newOptions, rankWindowSize);
    copy.preFilterQueryBuilders = filters;
    copy.retrieverName = retrieverName;
    copy.minScore = minScore;
    return copy;
  }

  public HybridOptions options() {
    return options;
  }

  @Override
  public String getName() {
    return NAME;
  }

  /** Rewriting clones the retriever round by round; each clone must keep filters, name and min_score. */
  @Override
  protected HybridRetrieverBuilder clone(List<RetrieverSource> newChildRetrievers, List<QueryBuilder> newPreFilters) {
    return copy(newChildRetrievers, options, newPreFilters);
  }

  @Override
  protected RankDoc[] combineInnerRetrieverResults(List<ScoreDoc[]> rankResults, boolean explain) {
    return LegFusion.fuse(rankResults, options, rankWindowSize, minScore);
  }

  /**
   * Linear fusion needs each leg's raw scores, also when a leg brings its own sort; the mark makes
   * {@link LegsDfsFilter} run the leg with index-wide term statistics.
   */
  @Override
  protected SearchSourceBuilder finalizeSourceBuilder(SearchSourceBuilder sourceBuilder) {
    sourceBuilder.trackScores(true);
    return LegsDfsFilter.mark(sourceBuilder);
  }

  @Override
  public ActionRequestValidationException validate(SearchSourceBuilder source,
      ActionRequestValidationException validationException, boolean isScroll, boolean allowPartialSearchResults) {
    validationException = super.validate(source, validationException, isScroll, allowPartialSearchResults);
    String page = PageWindow.problem(source.from(), source.size(), rankWindowSize);
    if (page != null) {
      validationException = addValidationError(page, validationException);
    }
    return validationException;
  }

  @Override
  protected void doToXContent(XContentBuilder builder, Params params) throws IOException {
    builder.startArray(RETRIEVERS_FIELD.getPreferredName());
    for (RetrieverSource leg : innerRetrievers) {
      leg.retriever().toXContent(builder, params);
    }
    builder.endArray();
    builder.field(NAMES_FIELD.getPreferredName(), options.names());
    builder.field(FUSION_FIELD.getPreferredName(), options.fusion().toString());
    builder.array(WEIGHTS_FIELD.getPreferredName(), options.weights());
    builder.field(RANK_WINDOW_SIZE_FIELD.getPreferredName(), rankWindowSize);
  }

  @Override
  public boolean doEquals(Object o) {
    return super.doEquals(o) && Objects.equals(options, ((HybridRetrieverBuilder) o).options);
  }

  @Override
  public int doHashCode() {
    return Objects.hash(super.doHashCode(), options);
  }
}
