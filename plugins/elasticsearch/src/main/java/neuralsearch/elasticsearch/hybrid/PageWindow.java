package neuralsearch.elasticsearch.hybrid;

import java.util.Locale;

/**
 * Paging within the fused list: the retriever fuses at most {@code rank_window_size} hits, so a page
 * that reaches past them is refused instead of being cut short without notice.
 */
public final class PageWindow {
  private PageWindow() {}

  /** @throws IllegalArgumentException when the window cannot hold a single hit */
  public static void checkWindow(int rankWindowSize) {
    if (rankWindowSize < 1) {
      throw new IllegalArgumentException(
          "[neural_hybrid] [rank_window_size] must be >= 1, got [" + rankWindowSize + "]");
    }
  }

  /**
   * The reason the page does not fit, or null when it does. {@code from} and {@code size} are as the
   * request holds them: negative means not given (from 0; size: the rest of the window, which is how
   * Elasticsearch sizes a retriever's page by default).
   */
  public static String problem(int from, int size, int rankWindowSize) {
    int start = Math.max(from, 0);
    if (size < 0) {
      if (start <= rankWindowSize) {
        return null;
      }
      return String.format(Locale.ROOT,
          "[neural_hybrid] [from: %d] is past [rank_window_size: %d], the most hits the fused list holds;"
              + " raise rank_window_size to at least %d or page within it", start, rankWindowSize, start);
    }
    long end = (long) start + size;
    if (end <= rankWindowSize) {
      return null;
    }
    return String.format(Locale.ROOT,
        "[neural_hybrid] [from: %d] + [size: %d] = %d is past [rank_window_size: %d], the most hits the fused"
            + " list holds; raise rank_window_size to at least %d or page within it",
        start, size, end, rankWindowSize, end);
  }
}
