// The writer's mechanics: a failing store answers nothing, threaded submits are all decided in
// order per uid, and tasks share the batch with scans, each in its own savepoint.
#include <condition_variable>
#include <map>
#include <mutex>

#include "pg_store.hpp"
#include "sqlite_store.hpp"
#include "writer_fixture.hpp"

namespace tb {
namespace {

TB_WRITER_BACKENDS(WriterTest);

// What only SQLite shows (another connection holding its one write lock), and the writer's own
// timing, which no backend changes.
class SqliteWriterTest : public WriterTest {};
INSTANTIATE_TEST_SUITE_P(Sqlite, SqliteWriterTest, ::testing::Values("sqlite"),
                         [](const auto& info) { return info.param; });

// PostgreSQL's batches: their round trips, and two writers on one database.
class PgWriterTest : public WriterTest {};
INSTANTIATE_TEST_SUITE_P(Pg, PgWriterTest, ::testing::Values("postgresql"),
                         [](const auto& info) { return info.param; });

TEST_P(SqliteWriterTest, StoreFailureAnswersNothing) {
  add("C1", "42");
  // Another connection holds the write lock: every attempt fails after the busy timeout.
  sqlite3_busy_timeout(dynamic_cast<SqliteStore&>(store_).db().handle(), 50);
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

TEST_P(WriterTest, ThreadedSubmitDecidesEverything) {
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

TEST_P(WriterTest, TasksShareTheSequenceAndAFailingTaskUndoesOnlyItself) {
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
TEST_P(SqliteWriterTest, GroupCommitGathersWhatComesWithinTheWindowButAnIdleScanDoesNotWait) {
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

// A task whose own statement fails (a duplicate ticket: the server's answer, after the batch's
// gathered writes went before it) undoes only itself; the scans and pushes around it stand.
TEST_P(WriterTest, ATaskWhoseStatementFailsUndoesOnlyItselfAmongScans) {
  add("C1", "42");
  add("C2", "42");
  std::vector<TaskOutcome> outcomes;
  const auto task = [&](bool duplicate) {
    return WriteTask{
        [duplicate](Store& s, TaskOutcome& out) {
          json e = {{"type", "push"}};
          out.events.push_back(std::make_shared<const StoredEvent>(s.append_event("42", 1, e)));
          if (duplicate) {
            Ticket t;
            t.code = "C1";
            t.uid = "7";
            s.insert_ticket(t);
          }
        },
        [&outcomes](TaskOutcome& out) { outcomes.push_back(out); }};
  };
  std::vector<Writer::Job> batch;
  batch.emplace_back(scan({{"scan_id", "s:1"}, {"code", "C1"}, {"scanner", "g"}}));
  batch.emplace_back(task(true));
  batch.emplace_back(scan({{"scan_id", "s:2"}, {"code", "C2"}, {"scanner", "g"}}));
  batch.emplace_back(task(false));
  batch.emplace_back(scan({{"scan_id", "s:3"}, {"code", "C1"}, {"scanner", "g"}}));
  writer_.process(batch);
  ASSERT_EQ(outcomes.size(), 2U);
  EXPECT_FALSE(outcomes[0].ok);
  EXPECT_NE(outcomes[0].error.find("exists"), std::string::npos) << outcomes[0].error;
  EXPECT_TRUE(outcomes[1].ok);
  ASSERT_EQ(answers_.size(), 3U);
  EXPECT_EQ(answer(0)["status"], "admitted");
  EXPECT_EQ(answer(1)["status"], "admitted");
  EXPECT_EQ(answer(2)["reason"], "already_used");
  std::vector<std::int64_t> seqs;
  for (const auto& e : events_) seqs.push_back(e->seq);
  EXPECT_EQ(seqs, (std::vector<std::int64_t>{1, 2, 3, 4}));  // scan, scan, push, scan
  // What the batch committed, read again by a connection of its own.
  const auto again = make_store(where_, Durability::Full);
  EXPECT_EQ(again->last_seq("42"), 4);
  EXPECT_EQ(again->events_after("42", 0, 10).size(), 4U);
  EXPECT_EQ(again->find_ticket("C1")->uid, "42");
  EXPECT_EQ(again->find_ticket("C1")->usage.entries, 1);
  EXPECT_EQ(again->find_ticket("C2")->usage.entries, 1);
  EXPECT_EQ(again->recent_scans("C1", 10).size(), 2U);
  EXPECT_TRUE(again->find_result("s:3"));
}

// Reads ahead in one round trip, writes and commits in another, whatever the batch's size: 1
// scan or 300, with a scan_id twice in the batch and tickets scanned twice. What it decided is
// what the store holds afterwards.
TEST_P(PgWriterTest, ABatchTakesTwoRoundTripsWhateverItsSize) {
  auto& pg = dynamic_cast<PgStore&>(store_);
  for (int i = 0; i < 100; ++i) add("R" + std::to_string(i), "u" + std::to_string(i % 7));
  const auto before_one = pg.round_trips();
  process({scan({{"scan_id", "one"}, {"code", "R0"}, {"scanner", "g"}})});
  EXPECT_EQ(pg.round_trips() - before_one, 2U);
  std::vector<InboundScan> batch;
  for (int i = 0; i < 300; ++i) {
    const int id = i == 299 ? 298 : i;  // the last repeats the one before it
    batch.push_back(scan({{"scan_id", "b:" + std::to_string(id)},
                          {"code", "R" + std::to_string(i % 100)},
                          {"scanner", "g" + std::to_string(i % 3)}}));
  }
  const auto before = pg.round_trips();
  process(std::move(batch));
  EXPECT_EQ(pg.round_trips() - before, 2U);
  ASSERT_EQ(answers_.size(), 301U);
  EXPECT_EQ(answers_[300].payload, answers_[299].payload);
  int admitted = 0;
  for (std::size_t i = 1; i < answers_.size(); ++i) admitted += answer(i)["status"] == "admitted";
  EXPECT_EQ(admitted, 99);  // R0 was admitted by the first batch
  EXPECT_EQ(metrics_.scans_duplicate.load(), 1U);
  EXPECT_EQ(events_.size(), 300U);                         // none for the repeated scan_id
  std::map<std::string, std::vector<std::string>> bodies;  // by uid, in seq order
  for (const auto& e : events_) {
    bodies[e->uid].push_back(e->body);
    EXPECT_EQ(e->seq, static_cast<std::int64_t>(bodies[e->uid].size())) << e->uid;
  }
  const auto again = make_store(where_, Durability::Full);
  for (const auto& [uid, handed_over] : bodies) {
    EXPECT_EQ(again->last_seq(uid), static_cast<std::int64_t>(handed_over.size()));
    std::vector<std::string> stored;
    for (const auto& e : again->events_after(uid, 0, 1000)) stored.push_back(e.body);
    EXPECT_EQ(stored, handed_over) << uid;
  }
  for (int i = 0; i < 100; ++i) {
    const auto code = "R" + std::to_string(i);
    EXPECT_EQ(again->find_ticket(code)->usage.entries, 1) << code;
    // R0: once in the first batch; R99's third scan repeated R98's scan_id.
    const std::size_t scans = i == 0 ? 4 : i == 99 ? 2 : 3;
    EXPECT_EQ(again->recent_scans(code, 10).size(), scans) << code;
  }
  EXPECT_EQ(*again->find_result("b:298"), json::parse(answers_[299].payload).dump());
}

// Two writers, each on its own connection to one database, decide one stream of scans at once in
// batches: every ticket admitted once, a scan_id both receive decided once, each uid's seq
// consecutive.
TEST_P(PgWriterTest, TwoWritersOnOneDatabaseDecideEachTicketOnce) {
  for (int i = 0; i < 60; ++i) add("D" + std::to_string(i), "u" + std::to_string(i % 4));
  std::mutex mu;
  std::vector<Answer> answers;
  std::vector<std::shared_ptr<const StoredEvent>> events;
  const auto other_store = make_store(where_, Durability::Full);
  const auto make_writer = [&](Store& s) {
    return std::make_unique<Writer>(
        s, metrics_, health_,
        [&](Answer a) {
          std::lock_guard lock(mu);
          answers.push_back(std::move(a));
        },
        [&](const std::shared_ptr<const StoredEvent>& e) {
          std::lock_guard lock(mu);
          events.push_back(e);
          return std::size_t{0};
        });
  };
  auto a = make_writer(store_);
  auto b = make_writer(*other_store);
  a->start();
  b->start();
  // Every scan reaches both writers, as a re-sent scan or a shared subscription's redelivery can.
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 60; ++i) {
      const auto payload = json{{"scan_id", "d:" + std::to_string(round) + ":" + std::to_string(i)},
                                {"code", "D" + std::to_string(i)},
                                {"scanner", "g"}};
      a->submit(scan(payload));
      b->submit(scan(payload));
    }
  }
  a->stop();
  b->stop();
  ASSERT_EQ(answers.size(), 360U);
  std::map<std::string, std::string> first;  // scan_id -> answer
  int admitted = 0;
  for (const auto& ans : answers) {
    const json j = json::parse(ans.payload);
    const auto [it, fresh] = first.emplace(j["scan_id"].get<std::string>(), ans.payload);
    if (!fresh) {
      EXPECT_EQ(ans.payload, it->second) << "one scan_id, two decisions";
    }
    if (fresh && j["status"] == "admitted") ++admitted;
  }
  EXPECT_EQ(first.size(), 180U);
  EXPECT_EQ(admitted, 60);
  EXPECT_EQ(events.size(), 180U);  // one event per decided scan, none per duplicate
  const auto again = make_store(where_, Durability::Full);
  for (int u = 0; u < 4; ++u) {
    const auto uid = "u" + std::to_string(u);
    const auto stored = again->events_after(uid, 0, 1000);
    ASSERT_EQ(stored.size(), 45U) << uid;
    for (std::size_t k = 0; k < stored.size(); ++k) EXPECT_EQ(stored[k].seq, std::int64_t(k + 1));
  }
  for (int i = 0; i < 60; ++i) {
    EXPECT_EQ(again->find_ticket("D" + std::to_string(i))->usage.entries, 1);
  }
}

}  // namespace
}  // namespace tb
