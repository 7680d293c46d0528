// The writer's mechanics: a failing store answers nothing, threaded submits are all decided in
// order per uid, and tasks share the batch with scans, each in its own savepoint.
#include <map>

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

}  // namespace
}  // namespace tb
