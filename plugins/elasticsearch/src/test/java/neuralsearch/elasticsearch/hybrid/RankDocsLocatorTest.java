package neuralsearch.elasticsearch.hybrid;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.Map;

import org.apache.lucene.document.Document;
import org.apache.lucene.index.DirectoryReader;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.index.Term;
import org.apache.lucene.search.BooleanClause.Occur;
import org.apache.lucene.search.BooleanQuery;
import org.apache.lucene.search.BoostQuery;
import org.apache.lucene.search.ConstantScoreQuery;
import org.apache.lucene.search.Query;
import org.apache.lucene.search.TermQuery;
import org.apache.lucene.store.ByteBuffersDirectory;
import org.elasticsearch.search.rank.RankDoc;
import org.elasticsearch.search.retriever.rankdoc.RankDocsQuery;
import org.junit.jupiter.api.Test;

import neuralsearch.fusion.LegScore;

class RankDocsLocatorTest {

  private static HybridRankDoc hybrid(int doc) {
    return new HybridRankDoc(doc, 1f / (doc + 1), 0, "rrf", 1.0 / (doc + 1), new String[] {"a"}, new double[] {1},
        new LegScore[] {new LegScore(doc + 1, 1.0, 1.0 / 61)});
  }

  private static Query rankDocsQuery(DirectoryReader reader, RankDoc... docs) {
    return new RankDocsQuery(reader, docs, new Query[0], new String[0], true);
  }

  @Test
  void findsTheHybridDocsBareAndInsideTheWrappersAShardAdds() throws IOException {
    try (ByteBuffersDirectory dir = new ByteBuffersDirectory();
        IndexWriter writer = new IndexWriter(dir, new IndexWriterConfig())) {
      for (int i = 0; i < 3; i++) {
        writer.addDocument(new Document());
      }
      writer.commit();
      try (DirectoryReader reader = DirectoryReader.open(dir)) {
        HybridRankDoc one = hybrid(1);
        HybridRankDoc two = hybrid(2);
        Query bare = rankDocsQuery(reader, two, one);
        Query filtered = new BooleanQuery.Builder()
            .add(new BoostQuery(bare, 2f), Occur.MUST)
            .add(new TermQuery(new Term("alias", "x")), Occur.FILTER)
            .build();
        for (Query query : new Query[] {bare, filtered, new ConstantScoreQuery(filtered)}) {
          Map<Integer, HybridRankDoc> found = RankDocsLocator.hybridDocs(query);
          assertEquals(2, found.size(), query.toString());
          assertSame(one, found.get(1));
          assertSame(two, found.get(2));
        }
        // plain rank docs (another retriever) and other queries give nothing to add
        assertTrue(RankDocsLocator.hybridDocs(rankDocsQuery(reader, new RankDoc(0, 1f, 0))).isEmpty());
        assertTrue(RankDocsLocator.hybridDocs(new TermQuery(new Term("f", "v"))).isEmpty());
        assertTrue(RankDocsLocator.hybridDocs(null).isEmpty());
      }
    }
  }
}
