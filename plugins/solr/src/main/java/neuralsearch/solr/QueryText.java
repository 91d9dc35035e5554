package neuralsearch.solr;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * User text made inert for edismax: the Java twin of the Python client's
 * {@code neural_search.engines.solr.escape_query_text}, so the plugin's lexical leg parses exactly
 * what the client's bm25 leg sends.
 */
final class QueryText {
  private static final Pattern SPECIAL = Pattern.compile("([+\\-!(){}\\[\\]^\"~*?:\\\\/&|])");

  private static final Pattern OPERATORS = Pattern.compile("AND|OR|NOT|TO");

  private QueryText() {}

  /*
   * Python's \\b on str is Unicode-aware and works on code points; Java's \\b and lookarounds
   * differ (other word characters, surrogate halves), so the boundary is spelt out. Called at
   * the edges of a matched operator word, whose own side is always a word character.
   */
  private static boolean wordBoundary(String text, int index) {
    return index == 0 || index == text.length() || !isWord(text.codePointBefore(index)) || !isWord(text.codePointAt(index));
  }

  /** A word character as Python's re sees one in str: str.isalnum() or '_'. */
  private static boolean isWord(int codePoint) {
    if (codePoint == '_' || Character.isLetterOrDigit(codePoint)) {
      return true;
    }
    int type = Character.getType(codePoint);
    return type == Character.LETTER_NUMBER || type == Character.OTHER_NUMBER;
  }

  /**
   * Every edismax syntax character backslash-escaped, and the operator words AND/OR/NOT/TO
   * lowercased (the analyzer lowercases anyway, so what matches is unchanged).
   */
  static String escape(String text) {
    String escaped = SPECIAL.matcher(text).replaceAll("\\\\$1");
    Matcher operators = OPERATORS.matcher(escaped);
    StringBuilder out = new StringBuilder(escaped.length());
    int copied = 0;
    while (operators.find()) {
      if (wordBoundary(escaped, operators.start()) && wordBoundary(escaped, operators.end())) {
        out.append(escaped, copied, operators.start()).append(operators.group().toLowerCase(Locale.ROOT));
        copied = operators.end();
      }
    }
    out.append(escaped, copied, escaped.length());
    return out.toString();
  }
}
