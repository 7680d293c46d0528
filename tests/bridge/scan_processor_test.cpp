// The scan processor on a real SQLite file, with its answers and events collected in memory:
// batching, exactly-once, concurrency on one ticket, malformed input, store failures.
#include "scan_processor.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "process.hpp"

namespace tb {
namespace {

using nlohmann::json;

class ScanProcessorTest : public ::testing::Test {
 protected:
  ScanProcessorTest()
      : store_(dir_.file("p.db")),
        processor_(
            store_, metrics_, health_, [this](Answer a) { answers_.push_back(std::move(a)); },
            [this](const std::shared_ptr<const StoredEvent>& e) {
              events_.push_back(e);
              return std::size_t{2};  // as if two connections of the uid were live
            }) {}

  void add(const std::string& code, const std::string& uid, std::int64_t max_entries = 1) {
    Ticket t;
    t.code = code;
    t.uid = uid;
    t.max_entries = max_entries;
    store_.insert_ticket(t);
  }

  static InboundScan scan(const json& payload, std::optional<std::string> response = {},
                          std::optional<std::string> corr = {}) {
    InboundScan in;
    in.payload = payload.dump();
    in.response_topic = std::move(response);
    in.correlation = std::move(corr);
    return in;
  }

  void process(std::vector<InboundScan> batch) { processor_.process(batch); }

  json answer(std::size_t i) const { return json::parse(answers_.at(i).payload); }

  tbtest::TempDir dir_;
  Store store_;
  Metrics metrics_;
  Health health_;
  std::vector<Answer> answers_;
  std::vector<std::shared_ptr<const StoredEvent>> events_;
  ScanProcessor processor_;
};

TEST_F(ScanProcessorTest, AdmitsAndAnswersWithEveryKey) {
  add("C1", "42");
  process({scan({{"scan_id", "s:1"}, {"code", "C1"}, {"scanner", "gate-1"}, {"gate", "north"}})});
  ASSERT_EQ(answers_.size(), 1U);
  EXPECT_EQ(answers_[0].topic, "tickets/result/gate-1");
  const json a = answer(0);
  for (const char* key : {"scan_id", "code", "status", "reason", "entries", "max_entries", "holder",
                          "previous", "decided_at"}) {
    EXPECT_TRUE(a.contains(key)) << key;
  }
  EXPECT_EQ(a["status"], "admitted");
  EXPECT_EQ(a["reason"], "ok");
  EXPECT_EQ(a["entries"], 1);
  ASSERT_EQ(events_.size(), 1U);
  const json e = json::parse(events_[0]->body);
  EXPECT_EQ(e["type"], "ticket.admitted");
  EXPECT_EQ(e["seq"], 1);
  EXPECT_EQ(e["gate"], "north");
  EXPECT_EQ(events_[0]->uid, "42");
}

TEST_F(ScanProcessorTest, ResponseTopicAndCorrelationWin) {
  add("C1", "42");
  process({scan({{"code", "C1"}, {"scanner", "gate-1"}}, "my/replies", "corr-7")});
  ASSERT_EQ(answers_.size(), 1U);
  EXPECT_EQ(answers_[0].topic, "my/replies");
  EXPECT_EQ(answers_[0].correlation, "corr-7");
  // Should the broker refuse that publish, the answer goes to the scanner's own topic.
  EXPECT_EQ(answers_[0].fallback_topic, "tickets/result/gate-1");
}

TEST_F(ScanProcessorTest, AnUntrustedResponseTopicIsReplacedByTheScannersOwn) {
  add("C1", "42", 0);
  for (const std::string rt : {"#", "users/42/events", "tickets/result/gate-2", "$SYS/x"}) {
    process({scan({{"code", "C1"}, {"scanner", "gate-1"}}, rt, "c")});
  }
  ASSERT_EQ(answers_.size(), 4U);
  for (const auto& a : answers_) {
    EXPECT_EQ(a.topic, "tickets/result/gate-1");
    EXPECT_EQ(a.correlation, "c");
    EXPECT_FALSE(a.fallback_topic);
  }
  EXPECT_EQ(metrics_.response_topics_refused.load(), 4U);
  // A malformed scan that names no scanner cannot be answered on a refused topic.
  process({scan("garbage", "#")});
  EXPECT_EQ(answers_.size(), 4U);
}

TEST_F(ScanProcessorTest, RepeatedScanIdGetsTheStoredResultAndChangesNothing) {
  add("C1", "42", 0);  // unlimited: a second decision would admit again
  const json p = {{"scan_id", "s:1"}, {"code", "C1"}, {"scanner", "gate-1"}};
  process({scan(p)});
  json other = p;
  other["code"] = "C2";  // the rest of the payload may differ
  process({scan(p), scan(other)});
  ASSERT_EQ(answers_.size(), 3U);
  EXPECT_EQ(answers_[1].payload, answers_[0].payload);
  EXPECT_EQ(answers_[2].payload, answers_[0].payload);
  EXPECT_EQ(events_.size(), 1U);
  EXPECT_EQ(store_.find_ticket("C1")->usage.entries, 1);
  EXPECT_EQ(metrics_.scans_duplicate.load(), 2U);
}

TEST_F(ScanProcessorTest, TwoScannersOneTicketInOneBatch) {
  add("C1", "42");
  process({scan({{"scan_id", "a:1"}, {"code", "C1"}, {"scanner", "a"}, {"gate", "north"}}),
           scan({{"scan_id", "b:1"}, {"code", "C1"}, {"scanner", "b"}, {"gate", "south"}})});
  ASSERT_EQ(answers_.size(), 2U);
  EXPECT_EQ(answer(0)["status"], "admitted");
  EXPECT_EQ(answer(1)["status"], "rejected");
  EXPECT_EQ(answer(1)["reason"], "already_used");
  EXPECT_EQ(answer(1)["previous"]["gate"], "north");
  EXPECT_EQ(answer(1)["previous"]["scanner"], "a");
  ASSERT_EQ(events_.size(), 2U);
  const json rejected = json::parse(events_[1]->body);
  EXPECT_EQ(rejected["type"], "ticket.rejected");
  EXPECT_EQ(rejected["reason"], "already_used");
  EXPECT_EQ(rejected["seq"], 2);
}

TEST_F(ScanProcessorTest, UnknownAndMalformedGiveNoEvent) {
  add("C1", "42");
  process({scan({{"scan_id", "s:1"}, {"code", "NOPE"}, {"scanner", "g"}}),
           scan({{"scan_id", "s:2"}, {"code", "C1"}, {"scanner", "g"}, {"direction", "up"}})});
  ASSERT_EQ(answers_.size(), 2U);
  EXPECT_EQ(answer(0)["reason"], "unknown");
  EXPECT_EQ(answer(0)["holder"], nullptr);
  EXPECT_EQ(answer(1)["reason"], "malformed");
  EXPECT_EQ(answer(1)["scan_id"], "s:2");
  EXPECT_TRUE(events_.empty());
  // Both are in the audit log; the malformed one keeps its answer for a redelivery.
  process({scan({{"scan_id", "s:2"}, {"code", "C1"}, {"scanner", "g"}})});
  EXPECT_EQ(answer(2)["reason"], "malformed");
}

TEST_F(ScanProcessorTest, UnidentifiableGarbageIsCountedNotAnswered) {
  InboundScan in;
  in.payload = "\xff\xfe garbage";
  std::vector<InboundScan> batch;
  batch.push_back(std::move(in));
  processor_.process(batch);
  EXPECT_TRUE(answers_.empty());
  EXPECT_EQ(metrics_.scans[2][static_cast<std::size_t>(Reason::Malformed)].load(), 1U);
}

TEST_F(ScanProcessorTest, StoreFailureAnswersNothing) {
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

TEST_F(ScanProcessorTest, ThreadedSubmitDecidesEverything) {
  for (int i = 0; i < 50; ++i) add("T" + std::to_string(i), "u" + std::to_string(i % 5));
  processor_.start();
  for (int i = 0; i < 500; ++i) {
    processor_.submit(scan({{"scan_id", "x:" + std::to_string(i)},
                            {"code", "T" + std::to_string(i % 50)},
                            {"scanner", "g"}}));
  }
  processor_.stop();
  ASSERT_EQ(answers_.size(), 500U);
  int admitted = 0;
  for (std::size_t i = 0; i < answers_.size(); ++i) admitted += answer(i)["status"] == "admitted";
  EXPECT_EQ(admitted, 50);
  // Per uid, seq runs 1..n without a gap.
  std::map<std::string, std::int64_t> last;
  for (const auto& e : events_) EXPECT_EQ(e->seq, ++last[e->uid]);
  EXPECT_EQ(events_.size(), 500U);
}

TEST_F(ScanProcessorTest, TasksShareTheSequenceAndAFailingTaskUndoesOnlyItself) {
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
  std::vector<ScanProcessor::Job> batch;
  batch.emplace_back(push(false));
  batch.emplace_back(push(true));
  batch.emplace_back(scan({{"scan_id", "s:1"}, {"code", "C1"}, {"scanner", "g"}}));
  batch.emplace_back(push(false));
  processor_.process(batch);
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

TEST_F(ScanProcessorTest, ReplayTellsWhetherTheHistoryIsComplete) {
  for (int i = 0; i < 5; ++i) {
    json e = {{"type", "push"}};
    store_.append_event("42", 1000 + i, e);
  }
  auto r = store_.replay("42", std::nullopt);
  EXPECT_EQ(r.last_seq, 5);
  EXPECT_TRUE(r.recovered);
  EXPECT_TRUE(r.events.empty());
  r = store_.replay("42", 2);
  EXPECT_TRUE(r.recovered);
  ASSERT_EQ(r.events.size(), 3U);
  EXPECT_EQ(r.events[0].seq, 3);
  r = store_.replay("42", 5);
  EXPECT_TRUE(r.recovered);
  EXPECT_TRUE(r.events.empty());
  r = store_.replay("42", 9);  // ahead of the database
  EXPECT_FALSE(r.recovered);
  store_.prune_events(2, 0, 100);  // keeps seq 4 and 5
  r = store_.replay("42", 1);
  EXPECT_FALSE(r.recovered);
  EXPECT_EQ(r.events.size(), 2U);
  r = store_.replay("42", 3);
  EXPECT_TRUE(r.recovered);
  EXPECT_EQ(r.events.size(), 2U);
}

}  // namespace
}  // namespace tb
