// The hand-over queue: batches, the wait with a deadline, and a close that loses nothing.
#include "work_queue.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace tb {
namespace {

TEST(WorkQueue, TakesAtMostMaxInOrder) {
  WorkQueue<int> q;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(q.push(int{i}));
  std::vector<int> out;
  ASSERT_TRUE(q.pop(out, 3));
  EXPECT_EQ(out, (std::vector<int>{0, 1, 2}));
  ASSERT_TRUE(q.pop(out));
  EXPECT_EQ(out, (std::vector<int>{0, 1, 2, 3, 4}));  // appended
  EXPECT_EQ(q.size(), 0U);
}

TEST(WorkQueue, PushAllHandsOverEverythingInOrderAndEmptiesTheSource) {
  WorkQueue<std::string> q;
  ASSERT_TRUE(q.push("a"));
  std::vector<std::string> more{"b", "c"};
  ASSERT_TRUE(q.push_all(more));
  EXPECT_TRUE(more.empty());
  std::vector<std::string> out;
  ASSERT_TRUE(q.pop(out));
  EXPECT_EQ(out, (std::vector<std::string>{"a", "b", "c"}));
  q.close();
  out.clear();
  EXPECT_FALSE(q.pop(out));
  std::vector<std::string> late{"d"};
  EXPECT_FALSE(q.push_all(late));  // refused, and left to the caller
  EXPECT_EQ(late, (std::vector<std::string>{"d"}));
}

TEST(WorkQueue, ADeadlineEndsTheWaitWithNothing) {
  WorkQueue<int> q;
  std::vector<int> out;
  const auto until = WorkQueue<int>::Clock::now() + std::chrono::milliseconds(20);
  EXPECT_TRUE(q.pop(out, WorkQueue<int>::kAll, until));
  EXPECT_TRUE(out.empty());
  EXPECT_GE(WorkQueue<int>::Clock::now(), until);
}

TEST(WorkQueue, AClosedQueueIsDrainedAndThenRefusesPushes) {
  WorkQueue<std::string> q;
  ASSERT_TRUE(q.push("a"));
  q.close();
  ASSERT_TRUE(q.push("b"));  // the consumer has not finished: still taken
  std::vector<std::string> out;
  ASSERT_TRUE(q.pop(out));
  EXPECT_EQ(out, (std::vector<std::string>{"a", "b"}));
  out.clear();
  EXPECT_FALSE(q.pop(out));  // closed and empty: the consumer is done
  EXPECT_FALSE(q.push("c"));
}

TEST(WorkQueue, AWaitingConsumerWakesForAPushFromAnotherThread) {
  WorkQueue<int> q;
  std::thread producer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    q.push(7);
  });
  std::vector<int> out;
  ASSERT_TRUE(q.pop(out));
  EXPECT_EQ(out, std::vector<int>{7});
  producer.join();
}

}  // namespace
}  // namespace tb
