package neuralsearch.solr;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Expected values are the outputs of Python's neural_search.engines.solr.escape_query_text. */
class QueryTextTest {
  static Stream<Arguments> pythonOutputs() {
    return Stream.of(
        Arguments.of("{!frange l=0}", "\\{\\!frange l=0\\}"),
        Arguments.of("*:*", "\\*\\:\\*"),
        Arguments.of(") OR (", "\\) or \\("),
        Arguments.of("\"unbalanced quote", "\\\"unbalanced quote"),
        Arguments.of("title:Titanic OR text:*", "title\\:Titanic or text\\:\\*"),
        Arguments.of("\\\\", "\\\\\\\\"),
        Arguments.of("\\", "\\\\"),
        Arguments.of("AND", "and"),
        Arguments.of("ANDY AND TO_BE OR NOT", "ANDY and TO_BE or not"),
        Arguments.of("xAND \u00e9AND AND\u00e9 AND_ _AND 1AND AND1", "xAND \u00e9AND AND\u00e9 AND_ _AND 1AND AND1"),
        Arguments.of("caf\u00e9 OR th\u00e9", "caf\u00e9 or th\u00e9"),
        Arguments.of("\ud835\udc00AND \ud835\udc00 AND", "\ud835\udc00AND \ud835\udc00 and"),
        Arguments.of("\u00b2AND \u216b AND \u00bdOR", "\u00b2AND \u216b and \u00bdOR"),
        Arguments.of("a&&b||c", "a\\&\\&b\\|\\|c"),
        Arguments.of("+-!(){}[]^\"~*?:\\/&|", "\\+\\-\\!\\(\\)\\{\\}\\[\\]\\^\\\"\\~\\*\\?\\:\\\\\\/\\&\\|"),
        Arguments.of("NOT-TO", "not\\-to"),
        Arguments.of("ORNOT TOAND", "ORNOT TOAND"),
        Arguments.of("a\u0301AND", "a\u0301and"),
        Arguments.of("$nsqq", "$nsqq"),
        Arguments.of("", ""));
  }

  @ParameterizedTest
  @MethodSource("pythonOutputs")
  void escapesLikeThePythonClient(String text, String expected) {
    assertEquals(expected, QueryText.escape(text));
  }
}
