// The agent's in-flight scans on a clock of the test's own: first sends in journal order,
// re-sends with backoff, NO ANSWER once, late answers, and scans restored from a previous run.
#include "scan_queue.hpp"

#include <gtest/gtest.h>

namespace sa {
namespace {

using namespace std::chrono_literals;

QueuedScan scan(std::int64_t seq) {
  return QueuedScan{seq, "g:" + std::to_string(seq), "C" + std::to_string(seq),
                    "{\"n\":" + std::to_string(seq) + "}", 0};
}

std::vector<std::string> ids(const std::vector<ScanQueue::Item>& items) {
  std::vector<std::string> out;
  for (const auto& i : items) out.push_back(i.scan_id);
  return out;
}

const Clock::time_point t0{};

TEST(ScanQueue, NewScansAreDueAtOnceInJournalOrderAndThenBackOff) {
  ScanQueue q({1500ms, 5000ms, 20000ms});
  q.add(scan(2), t0);
  q.add(scan(1), t0);  // journal order, not arrival order
  EXPECT_EQ(ids(q.take_due(t0, false)), (std::vector<std::string>{"g:1", "g:2"}));
  EXPECT_TRUE(q.take_due(t0 + 4999ms, false).empty());
  EXPECT_EQ(q.take_due(t0 + 5000ms, false).size(), 2U);  // second send after 5 s
  EXPECT_TRUE(q.take_due(t0 + 14999ms, false).empty());  // third after 10 s more
  EXPECT_EQ(q.take_due(t0 + 15000ms, false).size(), 2U);
  EXPECT_EQ(q.retry_delay(1), 5000ms);
  EXPECT_EQ(q.retry_delay(3), 20000ms);
  EXPECT_EQ(q.retry_delay(10), 20000ms);  // capped
}

// A re-send that falls due before an older scan's takes the older one with it, first: after a
// lost round the bridge still gets the scans in journal order. A new scan's first send does not.
TEST(ScanQueue, AResendTakesEveryOlderSentScanWithIt) {
  ScanQueue q({1500ms, 1000ms, 300000ms});
  q.add(scan(1), t0);
  q.take_due(t0, false);           // g:1 sent once: again at 1 s, then 2 s after that
  q.take_due(t0 + 1000ms, false);  // g:1 twice: again at 3 s
  q.add(scan(2), t0 + 1500ms);
  EXPECT_EQ(ids(q.take_due(t0 + 1500ms, false)), std::vector<std::string>{"g:2"});  // first send
  // g:2 is due again at 2.5 s, before g:1 (3 s): g:1 goes with it, first.
  EXPECT_EQ(ids(q.take_due(t0 + 2500ms, false)), (std::vector<std::string>{"g:1", "g:2"}));
  EXPECT_TRUE(q.take_due(t0 + 2600ms, false).empty());
}

TEST(ScanQueue, AReconnectSendsEverythingAgain) {
  ScanQueue q({1500ms, 5000ms, 300000ms});
  q.add(scan(1), t0);
  q.add(scan(2), t0);
  q.take_due(t0, false);
  EXPECT_EQ(q.take_due(t0 + 1ms, true).size(), 2U);
}

TEST(ScanQueue, NoAnswerIsShownOnceAndALateAnswerSaysSo) {
  ScanQueue q({1500ms, 5000ms, 300000ms});
  q.add(scan(1), t0);
  q.add(scan(2), t0 + 1000ms);
  EXPECT_FALSE(q.settled());
  EXPECT_TRUE(q.take_timeouts(t0 + 1499ms).empty());
  EXPECT_EQ(ids(q.take_timeouts(t0 + 1500ms)), std::vector<std::string>{"g:1"});
  EXPECT_TRUE(q.take_timeouts(t0 + 1600ms).empty());  // once
  EXPECT_FALSE(q.settled());
  const auto second = q.answer("g:2");
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->late);
  EXPECT_EQ(second->code, "C2");
  EXPECT_TRUE(q.settled());
  const auto first = q.answer("g:1");
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->late);
  EXPECT_FALSE(q.answer("g:1"));  // answered already
  EXPECT_FALSE(q.answer("someone-else:1"));
  EXPECT_EQ(q.size(), 0U);
}

TEST(ScanQueue, ScansOfAPreviousRunAreDueButNeverTimeOutAgain) {
  ScanQueue q({1500ms, 5000ms, 300000ms});
  q.restore(scan(1), t0);
  EXPECT_TRUE(q.settled());
  EXPECT_TRUE(q.take_timeouts(t0 + 1h).empty());
  EXPECT_EQ(q.take_due(t0, false).size(), 1U);
  EXPECT_TRUE(q.answer("g:1")->late);
}

// A scan decided at the gate before a restart is still an offline decision: the bridge's answer
// to it is compared with the verdict its payload carries, not shown as a late answer.
TEST(ScanQueue, AScanDecidedOfflineBeforeARestartIsStillOne) {
  ScanQueue q({1500ms, 5000ms, 20000ms});
  QueuedScan decided = scan(1);
  decided.payload = R"({"scan_id":"g:1","offline":{"status":"rejected","reason":"already_used",)"
                    R"("decided_at":"2026-11-25T19:00:00Z"}})";
  q.restore(decided, t0);
  QueuedScan hostile = scan(2);
  hostile.payload = R"({"offline":{"status":7}})";
  q.restore(hostile, t0);
  q.restore(scan(3), t0);
  const auto a = q.answer("g:1");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->offline);
  EXPECT_EQ(a->offline_status, "rejected");
  for (const char* id : {"g:2", "g:3"}) {
    const auto b = q.answer(id);
    ASSERT_TRUE(b);
    EXPECT_FALSE(b->offline) << id;
    EXPECT_TRUE(b->late) << id;
  }
}

TEST(ScanQueue, TheWakeIsTheNextDeadlineOrResendWhenConnected) {
  ScanQueue q({1500ms, 5000ms, 300000ms});
  const auto limit = t0 + 1h;
  EXPECT_EQ(q.next_wake(limit, true), limit);
  q.add(scan(1), t0);
  EXPECT_EQ(q.next_wake(limit, true), t0);  // due now
  q.take_due(t0, false);
  EXPECT_EQ(q.next_wake(limit, true), t0 + 1500ms);  // the NO ANSWER deadline
  q.take_timeouts(t0 + 1500ms);
  EXPECT_EQ(q.next_wake(limit, true), t0 + 5000ms);  // the re-send
  EXPECT_EQ(q.next_wake(limit, false), limit);       // nothing to send while offline
}

}  // namespace
}  // namespace sa
