package neuralsearch.elasticsearch.analysis;

import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.CharArraySet;
import org.apache.lucene.analysis.en.EnglishAnalyzer;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.index.IndexSettings;
import org.elasticsearch.index.analysis.AbstractIndexAnalyzerProvider;
import org.elasticsearch.index.analysis.Analysis;
import org.elasticsearch.index.analysis.AnalyzerProvider;
import org.elasticsearch.index.analysis.PreBuiltAnalyzerProviderFactory;
import org.elasticsearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.elasticsearch.indices.analysis.PreBuiltCacheFactory.CachingStrategy;
import org.elasticsearch.plugins.AnalysisPlugin;
import org.elasticsearch.plugins.Plugin;

import java.util.List;
import java.util.Map;

/**
 * The analyzer {@code english}: Lucene's EnglishAnalyzer, as Elasticsearch's own
 * {@code analysis-common} module provides it.
 *
 * <p>Only for the local engines: the integ-test-zip distribution (the only server distribution on
 * Maven Central) lacks {@code analysis-common}, and that module is not published there. Real
 * clusters and the Docker images have {@code analysis-common}, which already defines
 * {@code english}; this module must not be installed next to it (two analyzers of one name).
 *
 * <p>Like the stock one it is both a pre-built analyzer (used by name, {@code "analyzer": "english"},
 * and by {@code _analyze} without an index) and an analyzer type that takes {@code stopwords},
 * {@code stopwords_path} and {@code stem_exclusion}.
 */
public final class EnglishAnalysisPlugin extends Plugin implements AnalysisPlugin {

    static final String NAME = "english";

    @Override
    public Map<String, AnalysisProvider<AnalyzerProvider<? extends Analyzer>>> getAnalyzers() {
        return Map.of(NAME, EnglishAnalyzerProvider::new);
    }

    @Override
    public List<PreBuiltAnalyzerProviderFactory> getPreBuiltAnalyzerProviderFactories() {
        return List.of(new PreBuiltAnalyzerProviderFactory(NAME, CachingStrategy.LUCENE, EnglishAnalyzer::new));
    }

    static final class EnglishAnalyzerProvider extends AbstractIndexAnalyzerProvider<EnglishAnalyzer> {
        private final EnglishAnalyzer analyzer;

        EnglishAnalyzerProvider(IndexSettings indexSettings, Environment env, String name, Settings settings) {
            super(name);
            analyzer = new EnglishAnalyzer(
                Analysis.parseStopWords(env, settings, EnglishAnalyzer.getDefaultStopSet()),
                Analysis.parseStemExclusion(settings, CharArraySet.EMPTY_SET)
            );
        }

        @Override
        public EnglishAnalyzer get() {
            return analyzer;
        }
    }
}
