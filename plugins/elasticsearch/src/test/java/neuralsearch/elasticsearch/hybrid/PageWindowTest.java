package neuralsearch.elasticsearch.hybrid;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class PageWindowTest {

  @Test
  void pagesInsideTheWindowPass() {
    assertNull(PageWindow.problem(0, 10, 10));
    assertNull(PageWindow.problem(90, 10, 100));
    assertNull(PageWindow.problem(-1, -1, 100));
    assertNull(PageWindow.problem(-1, 100, 100));
    assertNull(PageWindow.problem(100, -1, 100));
  }

  @Test
  void aPagePastTheWindowNamesBothNumbersAndTheFix() {
    String message = PageWindow.problem(95, 10, 100);
    assertTrue(message.contains("[from: 95] + [size: 10] = 105"), message);
    assertTrue(message.contains("[rank_window_size: 100]"), message);
    assertTrue(message.contains("raise rank_window_size to at least 105"), message);
  }

  @Test
  void fromAloneCanOverrunTheWindow() {
    String message = PageWindow.problem(101, -1, 100);
    assertTrue(message.contains("[from: 101]") && message.contains("at least 101"), message);
  }

  @Test
  void hugeNumbersDoNotOverflow() {
    assertTrue(PageWindow.problem(Integer.MAX_VALUE, Integer.MAX_VALUE, 100).contains("4294967294"));
  }

  @Test
  void theWindowMustHoldAHit() {
    assertThrows(IllegalArgumentException.class, () -> PageWindow.checkWindow(0));
    PageWindow.checkWindow(1);
  }
}
