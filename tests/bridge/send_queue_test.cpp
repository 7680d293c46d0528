// A WebSocket session's send queue: the byte bound that closes a slow reader, forced last words,
// and what a close keeps.
#include "send_queue.hpp"

#include <gtest/gtest.h>

namespace tb {
namespace {

std::shared_ptr<const std::string> text(std::size_t n, char c = 'x') {
  return std::make_shared<const std::string>(n, c);
}

TEST(SendQueue, TheBoundCountsUnsentBytes) {
  SendQueue q(100);
  EXPECT_TRUE(q.push(text(60), true));
  EXPECT_TRUE(q.push(text(40), true));
  EXPECT_EQ(q.bytes(), 100U);
  EXPECT_FALSE(q.push(text(1), true));  // too slow
  EXPECT_EQ(q.bytes(), 100U);
  EXPECT_TRUE(q.push(text(10), false, true));  // forced past the bound
  EXPECT_TRUE(q.pop());                        // the 60 were an event
  EXPECT_EQ(q.bytes(), 50U);
  EXPECT_TRUE(q.push(text(50), true));  // room again once written
}

TEST(SendQueue, ACloseDropsUnsentEventsButNotTheOneBeingWrittenNorLastWords) {
  SendQueue q(1000);
  q.push(text(10, 'a'), true);  // being written
  q.push(text(10, 'b'), true);  // unsent event
  q.push(text(5, 'c'), false);  // last words
  q.push(text(10, 'd'), true);  // unsent event
  q.drop_events(true);
  ASSERT_FALSE(q.empty());
  EXPECT_EQ(q.front(), std::string(10, 'a'));
  q.pop();
  EXPECT_EQ(q.front(), std::string(5, 'c'));
  q.pop();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0U);
}

TEST(SendQueue, WhenNothingIsBeingWrittenEveryEventGoes) {
  SendQueue q(1000);
  q.push(text(10), true);
  q.push(text(3), false);
  q.drop_events(false);
  EXPECT_EQ(q.bytes(), 3U);
  EXPECT_FALSE(q.pop());  // the last words are not an event
  EXPECT_TRUE(q.empty());
}

}  // namespace
}  // namespace tb
