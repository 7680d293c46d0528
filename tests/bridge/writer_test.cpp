// The writer's mechanics: a failing store answers nothing, threaded submits are all decided in
// order per uid, and tasks share the batch with scans, each in its own savepoint.
#include <condition_variable>
#include <map>
#include <mutex>

#include "writer_fixture.hpp"

namespace tb {
namespace {

TEST_F(WriterTest, StoreFailureAnswersNothing) {
  add("C1", "42");
  // Another connection holds the write lock: every attempt fails after the busy timeout.
  sqlite3_busy_timeout(store_.db().handle(), 50);
  sql::Db other(dir_.file("p.db"), false);
  other.exec("BEGIN IMMEDIATE");
  process({scan({{"scan_id", "s:1"}, {"code", "C1"}, {"scanner", "g"}})});
  EXPECT_TRUE(answers_.empty());
  EXPECT_TRUE(events_.empty());
  EXPECT_EQ(metrics_.scans_unanswered.load(), 1U);
  EXPECT_FALSE(health_.store());
  other.exec("ROLLBACK");
  // The scanner's retry with the same scan_id is decided once the store is back.
  process({scan({{"scan_id", "s:1"}, {"code", "C1"}, {"scanner", "g"}})});
  ASSERT_EQ(answers_.size(), 1U);
  EXPECT_EQ(answer(0)["status"], "admitted");
  EXPECT_TRUE(health_.store());
}

TEST_F(WriterTest, ThreadedSubmitDecidesEverything) {
  for (int i = 0; i < 50; ++i) add("T" + std::to_string(i), "u" + std::to_string(i % 5));
  writer_.start();
  for (int i = 0; i < 500; ++i) {
    writer_.submit(scan({{"scan_id", "x:" + std::to_string(i)},
                         {"code", "T" + std::to_string(i % 50)},
                         {"scanner", "g"}}));
  }
  writer_.stop();
  ASSERT_EQ(answers_.size(), 500U);
  int admitted = 0;
  for (std::size_t i = 0; i < answers_.size(); ++i) admitted += answer(i)["status"] == "admitted";
  EXPECT_EQ(admitted, 50);
  // Per uid, seq runs 1..n without a gap.
  std::map<std::string, std::int64_t> last;
  for (const auto& e : events_) EXPECT_EQ(e->seq, ++last[e->uid]);
  EXPECT_EQ(events_.size(), 500U);
}

TEST_F(WriterTest, TasksShareTheSequenceAndAFailingTaskUndoesOnlyItself) {
  add("C1", "42");
  std::vector<TaskOutcome> outcomes;
  const auto push = [&](bool fail) {
    return WriteTask{
        [fail](Store& s, TaskOutcome& out) {
          json e = {{"type", "push"}};
          out.events.push_back(std::make_shared<const StoredEvent>(s.append_event("42", 1, e)));
          if (fail) throw std::runtime_error("task failed on purpose");
        },
        [&outcomes](TaskOutcome& out) { outcomes.push_back(out); }};
  };
  std::vector<Writer::Job> batch;
  batch.emplace_back(push(false));
  batch.emplace_back(push(true));
  batch.emplace_back(scan({{"scan_id", "s:1"}, {"code", "C1"}, {"scanner", "g"}}));
  batch.emplace_back(push(false));
  writer_.process(batch);
  ASSERT_EQ(outcomes.size(), 3U);
  EXPECT_TRUE(outcomes[0].ok);
  EXPECT_EQ(outcomes[0].delivered, 2U);
  EXPECT_FALSE(outcomes[1].ok);
  EXPECT_NE(outcomes[1].error.find("on purpose"), std::string::npos);
  EXPECT_TRUE(outcomes[2].ok);
  // The failed task's event was undone, so the sequence has no hole: push 1, scan 2, push 3.
  std::vector<std::int64_t> seqs;
  for (const auto& e : events_) seqs.push_back(e->seq);
  EXPECT_EQ(seqs, (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_EQ(store_.last_seq("42"), 3);
  EXPECT_EQ(store_.events_after("42", 0, 10).size(), 3U);
}

// Group commit: a writer that is busy waits for the jobs that come within the window and commits
// them in one batch; an idle writer's first scan does not wait.
TEST_F(WriterTest, GroupCommitGathersWhatComesWithinTheWindowButAnIdleScanDoesNotWait) {
  for (int i = 0; i < 4; ++i) add("G" + std::to_string(i), "u");
  std::mutex mu;
  std::condition_variable cv;
  std::size_t answered = 0, handed_over = 0;
  WriterOptions options;
  options.group_commit = std::chrono::seconds(4);  // longer than any wait below
  options.after_batch = [&] {
    std::lock_guard lock(mu);
    ++handed_over;
  };
  Writer writer(
      store_, metrics_, health_,
      [&](Answer) {
        std::lock_guard lock(mu);
        ++answered;
        cv.notify_all();
      },
      [](const std::shared_ptr<const StoredEvent>&) { return std::size_t{0}; }, options);
  writer.start();
  const auto answered_within = [&](std::size_t n, std::chrono::milliseconds limit) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, limit, [&] { return answered >= n; });
  };
  const auto submit = [&](int i) {
    writer.submit(scan({{"scan_id", "g:" + std::to_string(i)},
                        {"code", "G" + std::to_string(i)},
                        {"scanner", "g"}}));
  };
  // Idle: answered without the window's wait.
  submit(0);
  ASSERT_TRUE(answered_within(1, std::chrono::seconds(2)));
  // Busy now: the next scan's batch waits for the window, and takes the two behind it.
  submit(1);
  submit(2);
  submit(3);
  EXPECT_FALSE(answered_within(2, std::chrono::milliseconds(300)));
  writer.stop();  // the batch ends its wait at the window, then everything is decided
  EXPECT_EQ(answered, 4U);
  EXPECT_EQ(handed_over, 2U);
  EXPECT_EQ(metrics_.batches.load(), 2U);
}

}  // namespace
}  // namespace tb
