// The stores, each on the real thing: SQLite files and a PostgreSQL server started for the test.
// One suite runs against both (StoreTest, parameterised by backend): tickets, exactly-once
// results, the scanner table, sequences, retention, replay. Each backend's own schema handling
// (migration, a schema from the future) has tests of its own at the end.
#include <gtest/gtest.h>

#include <limits>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "pg.hpp"
#include "pg_store.hpp"
#include "postgres.hpp"
#include "process.hpp"
#include "sqlite_store.hpp"

namespace tb {
namespace {

// Undone in front of a downgrade to an older schema: before SQLite's 7 and PostgreSQL's 5, the
// outbox was a mark per uid. (Macros: they join the downgrades' string literals.)
#define SQLITE_SCHEMA_BEFORE_OUTBOX \
  "DROP TABLE outbox; ALTER TABLE users ADD COLUMN mqtt_acked_seq INTEGER NOT NULL DEFAULT 0; "
#define PG_SCHEMA_BEFORE_OUTBOX \
  "DROP TABLE outbox; ALTER TABLE users ADD COLUMN mqtt_acked_seq BIGINT NOT NULL DEFAULT 0; "

tbtest::Postgres& postgres() {
  return tbtest::shared_postgres();
}

// A store of the backend the suite runs with, at a place of the test's own; open() again
// reopens the same database.
class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    where_ = GetParam() == "sqlite" ? dir_.file("t.db") : postgres().create_database();
  }
  std::unique_ptr<Store> open() { return make_store(where_, Durability::Full); }

  tbtest::TempDir dir_;
  std::string where_;
};

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

Ticket ticket(const std::string& code, const std::string& uid) {
  Ticket t;
  t.code = code;
  t.uid = uid;
  t.holder = "A. Example";
  t.max_entries = 2;
  t.reentry = true;
  t.valid_from = 1000;
  t.valid_until = 2000;
  t.gates = {"north", "south"};
  t.created_at = 500;
  return t;
}

// An audit row of an admission.
ScanRecord admitted_row(std::optional<std::string> code, Millis at, std::string result) {
  ScanRecord r;
  r.code = std::move(code);
  r.decided_at = at;
  r.status = "admitted";
  r.reason = "ok";
  r.result = std::move(result);
  return r;
}

TEST_P(StoreTest, TicketRoundTrip) {
  auto store = open();
  Store& s = *store;
  s.insert_ticket(ticket("C1", "42"));
  const auto t = s.find_ticket("C1");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->uid, "42");
  EXPECT_EQ(t->holder, "A. Example");
  EXPECT_EQ(t->max_entries, 2);
  EXPECT_TRUE(t->reentry);
  EXPECT_EQ(t->valid_from, 1000);
  EXPECT_EQ(t->valid_until, 2000);
  EXPECT_EQ(t->gates, (std::vector<std::string>{"north", "south"}));
  EXPECT_FALSE(t->revoked);
  EXPECT_EQ(t->usage.entries, 0);
  EXPECT_FALSE(t->usage.last_entry);
  EXPECT_FALSE(s.find_ticket("C2"));
  EXPECT_FALSE(t->signed_code);
  EXPECT_THROW(s.insert_ticket(ticket("C1", "43")), DuplicateTicket);
  Ticket signed_ticket = ticket("C3", "42");
  signed_ticket.signed_code = "TB1.SIGNED";
  s.insert_ticket(signed_ticket);
  EXPECT_EQ(s.find_ticket("C3")->signed_code, "TB1.SIGNED");
}

TEST_P(StoreTest, UsageAndRevocationPersist) {
  {
    auto store = open();
    Store& s = *store;
    s.insert_ticket(ticket("C1", "42"));
    s.save_usage("C1", TicketUsage{1, true, EntryRecord{1500, "north", "s1"}});
    EXPECT_TRUE(s.revoke_ticket("C1"));
    EXPECT_TRUE(s.revoke_ticket("C1"));  // revoking twice is fine
    EXPECT_FALSE(s.revoke_ticket("nope"));
  }
  auto store = open();
  Store& s = *store;
  const auto t = s.find_ticket("C1");
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->revoked);
  EXPECT_EQ(t->usage.entries, 1);
  EXPECT_TRUE(t->usage.inside);
  ASSERT_TRUE(t->usage.last_entry);
  EXPECT_EQ(t->usage.last_entry->gate, "north");
  EXPECT_EQ(t->usage.last_entry->scanner, "s1");
}

TEST_P(StoreTest, ScanIdIsUniqueAndFindsItsResult) {
  auto store = open();
  Store& s = *store;
  ScanRecord r;
  r.scan_id = "s:1";
  r.code = "C1";
  r.decided_at = 1;
  r.status = "admitted";
  r.reason = "ok";
  r.result = R"({"x":1})";
  s.record_scan(r);
  EXPECT_EQ(s.find_result("s:1"), R"({"x":1})");
  EXPECT_FALSE(s.find_result("s:2"));
  try {
    s.record_scan(r);
    ADD_FAILURE() << "a second scan with the same scan_id was stored";
  } catch (const DbError& e) {
    EXPECT_TRUE(e.is_constraint()) << e.what();
  }
  // Scans without an id are all kept.
  r.scan_id.reset();
  s.record_scan(r);
  s.record_scan(r);
  EXPECT_EQ(s.recent_scans("C1", 10).size(), 3U);
}

// A gate's offline verdict: stored with the scan, or set once beside a scan stored without one.
TEST_P(StoreTest, AnOfflineVerdictIsKeptWithItsScanAndSetOnce) {
  auto store = open();
  Store& s = *store;
  ScanRecord with = admitted_row("C1", 1, "{}");
  with.scan_id = "s:1";
  with.offline = R"({"status":"admitted"})";
  s.record_scan(with);
  ScanRecord without = admitted_row("C1", 2, R"({"n":2})");
  without.scan_id = "s:2";
  s.record_scan(without);
  EXPECT_FALSE(s.record_offline("s:1", R"({"status":"rejected"})", true, "{}"));
  EXPECT_FALSE(s.record_offline("s:9", R"({"status":"rejected"})", true, "{}"));
  {
    Store::Transaction tx(s);
    EXPECT_TRUE(s.record_offline("s:2", R"({"status":"rejected"})", true, R"({"n":3})"));
    EXPECT_FALSE(s.record_offline("s:2", R"({"status":"admitted"})", false, "{}"));
    tx.commit();
  }
  const auto scans = s.recent_scans("C1", 10);
  ASSERT_EQ(scans.size(), 2U);
  EXPECT_EQ(scans[0].offline, R"({"status":"rejected"})");
  EXPECT_TRUE(scans[0].conflict);
  EXPECT_EQ(scans[1].offline, R"({"status":"admitted"})");
  EXPECT_FALSE(scans[1].conflict);
  EXPECT_EQ(s.find_result("s:2"), R"({"n":3})");
}

// The gates' feed reads every signed ticket that was used, is inside or is revoked, and no other.
TEST_P(StoreTest, TheFeedListsUsedInsideAndRevokedSignedTickets) {
  auto store = open();
  Store& s = *store;
  for (const std::string code : {"F1", "F2", "F3", "F4", "PLAIN"}) {
    Ticket t = ticket(code, "42");
    if (code != "PLAIN") t.signed_code = "TB1.SIGNED-" + code;
    s.insert_ticket(t);
  }
  s.save_usage("F1", TicketUsage{2, false, EntryRecord{1500, "north", "s1"}});
  s.save_usage("F2", TicketUsage{0, true, std::nullopt});
  EXPECT_TRUE(s.revoke_ticket("F3"));
  s.save_usage("PLAIN", TicketUsage{1, true, EntryRecord{1500, "north", "s1"}});
  const auto feed = s.feed_tickets();
  ASSERT_EQ(feed.size(), 3U);  // F4 unused, PLAIN unsigned
  EXPECT_EQ(feed[0].signed_code, "TB1.SIGNED-F1");
  EXPECT_EQ(feed[0].entries, 2);
  EXPECT_FALSE(feed[0].inside);
  EXPECT_FALSE(feed[0].revoked);
  EXPECT_EQ(feed[1].signed_code, "TB1.SIGNED-F2");
  EXPECT_TRUE(feed[1].inside);
  EXPECT_EQ(feed[2].signed_code, "TB1.SIGNED-F3");
  EXPECT_TRUE(feed[2].revoked);
}

TEST_P(StoreTest, TheScannerTableSetsListsAndRemoves) {
  auto store = open();
  Store& s = *store;
  EXPECT_FALSE(s.find_scanner("gate-1"));
  s.set_scanner({"gate-2", "south", Direction::Out, 5});
  s.set_scanner({"gate-1", "north", Direction::In, 6});
  s.set_scanner({"gate-1", "west", Direction::In, 7});  // replaces
  const auto found = s.find_scanner("gate-1");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->gate, "west");
  EXPECT_EQ(found->updated_at, 7);
  const auto all = s.scanners();
  ASSERT_EQ(all.size(), 2U);
  EXPECT_EQ(all[0].id, "gate-1");
  EXPECT_EQ(all[1].direction, Direction::Out);
  EXPECT_TRUE(s.remove_scanner("gate-2"));
  EXPECT_FALSE(s.remove_scanner("gate-2"));
  EXPECT_EQ(s.scanners().size(), 1U);
}

// The repeat window's look-up: the same code, scanner and direction, recent enough, among the
// code's last few scans.
TEST_P(StoreTest, ARecentResultIsFoundByScannerDirectionAndTime) {
  auto store = open();
  Store& s = *store;
  ScanRecord r = admitted_row("C1", 1000, "first");
  r.scanner = "gate-1";
  r.direction = "in";
  s.record_scan(r);
  EXPECT_EQ(s.recent_result("C1", "gate-1", Direction::In, 1000), "first");
  EXPECT_FALSE(s.recent_result("C1", "gate-1", Direction::In, 1001)) << "too old";
  EXPECT_FALSE(s.recent_result("C1", "gate-2", Direction::In, 0)) << "another scanner";
  EXPECT_FALSE(s.recent_result("C1", "gate-1", Direction::Out, 0)) << "another direction";
  EXPECT_FALSE(s.recent_result("C2", "gate-1", Direction::In, 0)) << "another code";
  // Newer scans of the code from elsewhere push it out of the look-back.
  r.scanner = "gate-2";
  for (int i = 0; i < Store::kRepeatLookback - 1; ++i) s.record_scan(r);
  EXPECT_EQ(s.recent_result("C1", "gate-1", Direction::In, 0), "first");
  s.record_scan(r);
  EXPECT_FALSE(s.recent_result("C1", "gate-1", Direction::In, 0));
}

// Two connections (two bridges) at once. A ticket read for a decision is locked until the
// decision commits, so the second decision sees the first's entry; the uid's seq stays
// consecutive; the same scan_id is stored once.
TEST_P(StoreTest, TwoConnectionsDecideOneTicketOneAfterTheOther) {
  auto a = open();
  auto b = open();
  a->insert_ticket(ticket("C1", "42"));
  std::atomic<bool> a_holds{false};
  std::atomic<bool> b_done{false};
  std::int64_t b_saw = -1;
  std::thread first([&] {
    Store::Transaction tx(*a);
    auto t = a->find_ticket("C1");
    a_holds = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_FALSE(b_done) << "the second decision did not wait for the first";
    a->save_usage("C1", TicketUsage{t->usage.entries + 1, true, EntryRecord{1500, "north", "a"}});
    tx.commit();
  });
  while (!a_holds) std::this_thread::yield();
  {
    Store::Transaction tx(*b);
    b_saw = b->find_ticket("C1")->usage.entries;
    b_done = true;
    tx.commit();
  }
  first.join();
  EXPECT_EQ(b_saw, 1) << "the second decision read the ticket before the first's entry";
}

TEST_P(StoreTest, TwoConnectionsAppendingKeepAUidsSeqConsecutive) {
  auto a = open();
  auto b = open();
  std::vector<std::int64_t> seqs_a, seqs_b;
  const auto append = [](Store& s, std::vector<std::int64_t>& seqs) {
    for (int i = 0; i < 100; ++i) {
      Store::Transaction tx(s);
      nlohmann::json e = {{"type", "push"}};
      seqs.push_back(s.append_event("42", 1000 + i, e).seq);
      tx.commit();
    }
  };
  std::thread other([&] { append(*b, seqs_b); });
  append(*a, seqs_a);
  other.join();
  std::vector<std::int64_t> all = seqs_a;
  all.insert(all.end(), seqs_b.begin(), seqs_b.end());
  std::sort(all.begin(), all.end());
  for (std::size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], static_cast<std::int64_t>(i + 1));
  EXPECT_EQ(a->last_seq("42"), 200);
  EXPECT_EQ(a->events_after("42", 0, 1000).size(), 200U);
}

TEST_P(StoreTest, TheSameScanIdFromTwoConnectionsIsStoredOnce) {
  auto a = open();
  auto b = open();
  ScanRecord r = admitted_row("C1", 1, "from a");
  r.scan_id = "both:1";
  std::optional<std::string> b_error;
  {
    Store::Transaction tx(*a);
    a->record_scan(r);
    std::thread second([&] {
      ScanRecord mine = r;
      mine.result = "from b";
      try {
        Store::Transaction btx(*b);
        b->record_scan(mine);  // waits for a's commit, then fails
        btx.commit();
      } catch (const DbError& e) {
        if (e.is_constraint()) b_error = e.what();
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    tx.commit();
    second.join();
  }
  EXPECT_TRUE(b_error) << "the second bridge stored the same scan_id";
  EXPECT_EQ(b->find_result("both:1"), "from a") << "the second finds the first's result";
}

TEST(SqliteStoreSchema, ADatabaseOfSchema2GainsTheScannerTable) {
  tbtest::TempDir dir;
  const auto path = dir.file("v2.db");
  {
    SqliteStore s(path);
    ScanRecord r = admitted_row(std::nullopt, 1, "{}");
    r.scan_id = "old:1";
    s.record_scan(r);
    s.db().exec(
        "DROP TABLE scanners; ALTER TABLE scans DROP COLUMN claimed_gate; "
        "ALTER TABLE tickets DROP COLUMN signed_code; ALTER TABLE tickets DROP COLUMN rotating; "
        "ALTER TABLE scans DROP COLUMN conflict; ALTER TABLE scans DROP COLUMN "
        "offline; " SQLITE_SCHEMA_BEFORE_OUTBOX "PRAGMA user_version = 2;");
  }
  SqliteStore s(path);
  EXPECT_EQ(s.find_result("old:1"), "{}");
  s.set_scanner({"gate-1", "north", Direction::In, 1});
  EXPECT_TRUE(s.find_scanner("gate-1"));
  ScanRecord r = admitted_row("C1", 2, "{}");
  r.claimed_gate = "south";
  s.record_scan(r);
  EXPECT_EQ(s.recent_scans("C1", 1).at(0).claimed_gate, "south");
}

// After a migration to tickets.signed_code and tickets.rotating: OLD1, stored before them, has no
// signed code and needs no rotating one; a new ticket keeps its own.
void expect_signed_codes_after_migration(Store& s) {
  const auto old = s.find_ticket("OLD1");
  ASSERT_TRUE(old);
  EXPECT_FALSE(old->signed_code);
  EXPECT_FALSE(old->rotating);
  Ticket t;
  t.code = "NEW1";
  t.uid = "42";
  t.signed_code = "TB1.SIGNED";
  t.rotating = true;
  s.insert_ticket(t);
  EXPECT_EQ(s.find_ticket("NEW1")->signed_code, "TB1.SIGNED");
  EXPECT_TRUE(s.find_ticket("NEW1")->rotating);
}

// After a migration to scans.offline and scans.conflict: the scan old:1 of C1, stored before
// them, has no verdict and takes one, once.
void expect_offline_verdicts_after_migration(Store& s) {
  const auto old = s.recent_scans("C1", 1);
  ASSERT_EQ(old.size(), 1U);
  EXPECT_FALSE(old[0].offline);
  EXPECT_FALSE(old[0].conflict);
  EXPECT_TRUE(s.record_offline("old:1", R"({"status":"rejected"})", true, R"({"conflict":true})"));
  EXPECT_FALSE(s.record_offline("old:1", R"({"status":"admitted"})", false, "{}"));
  const auto now = s.recent_scans("C1", 1).at(0);
  EXPECT_EQ(now.offline, R"({"status":"rejected"})");
  EXPECT_TRUE(now.conflict);
  EXPECT_EQ(s.find_result("old:1"), R"({"conflict":true})");
}

// The ticket OLD1, stored before a migration.
void insert_old_ticket(Store& s) {
  Ticket t;
  t.code = "OLD1";
  t.uid = "42";
  s.insert_ticket(t);
}

// A SQLite file holding the ticket OLD1, then made older by `downgrade`.
void old_database_with_a_ticket(const std::string& path, const char* downgrade) {
  SqliteStore s(path);
  insert_old_ticket(s);
  s.db().exec(downgrade);
}

// Schema 4 had signed codes and no rotating ones.
TEST(SqliteStoreSchema, ADatabaseOfSchema4GainsRotatingCodes) {
  tbtest::TempDir dir;
  const auto path = dir.file("v4.db");
  old_database_with_a_ticket(path,
                             "ALTER TABLE tickets DROP COLUMN rotating; "
                             "ALTER TABLE scans DROP COLUMN conflict; ALTER TABLE scans DROP "
                             "COLUMN offline; " SQLITE_SCHEMA_BEFORE_OUTBOX
                             "PRAGMA user_version = 4;");
  SqliteStore s(path);
  auto version = s.db().prepare("PRAGMA user_version");
  ASSERT_TRUE(version.step());
  EXPECT_EQ(version.int64(0), 7);
  expect_signed_codes_after_migration(s);
}

TEST(SqliteStoreSchema, ADatabaseOfSchema3GainsSignedCodes) {
  tbtest::TempDir dir;
  const auto path = dir.file("v3.db");
  old_database_with_a_ticket(
      path,
      "ALTER TABLE tickets DROP COLUMN signed_code; ALTER TABLE tickets DROP COLUMN rotating; "
      "ALTER TABLE scans DROP COLUMN conflict; ALTER TABLE scans DROP COLUMN "
      "offline; " SQLITE_SCHEMA_BEFORE_OUTBOX "PRAGMA user_version = 3;");
  SqliteStore s(path);
  expect_signed_codes_after_migration(s);
}

TEST(SqliteStoreSchema, ADatabaseOfSchema5GainsOfflineVerdicts) {
  tbtest::TempDir dir;
  const auto path = dir.file("v5.db");
  {
    SqliteStore s(path);
    ScanRecord r = admitted_row("C1", 1, "{}");
    r.scan_id = "old:1";
    s.record_scan(r);
    s.db().exec(
        "ALTER TABLE scans DROP COLUMN conflict; ALTER TABLE scans DROP COLUMN "
        "offline; " SQLITE_SCHEMA_BEFORE_OUTBOX "PRAGMA user_version = 5;");
  }
  SqliteStore s(path);
  expect_offline_verdicts_after_migration(s);
}

TEST_P(StoreTest, SequencesPerUidSurviveReopenAndPruning) {
  {
    auto store = open();
    Store& s = *store;
    for (int i = 0; i < 5; ++i) {
      nlohmann::json e = {{"type", "push"}};
      const auto stored = s.append_event("42", 1000 + i, e);
      EXPECT_EQ(stored.seq, i + 1);
      EXPECT_EQ(e["seq"], i + 1);
    }
    nlohmann::json e = {{"type", "push"}};
    EXPECT_EQ(s.append_event("43", 1000, e).seq, 1);
    // Keep the newest 2 of each uid.
    EXPECT_EQ(s.prune_events(2, 0, 1000), 3);
  }
  auto store = open();
  Store& s = *store;
  EXPECT_EQ(s.last_seq("42"), 5);
  EXPECT_EQ(s.last_seq("nobody"), 0);
  const auto held = s.events_after("42", 0, 100);
  ASSERT_EQ(held.size(), 2U);
  EXPECT_EQ(held[0].seq, 4);
  EXPECT_EQ(nlohmann::json::parse(held[1].body)["seq"], 5);
  nlohmann::json e = {{"type", "push"}};
  EXPECT_EQ(s.append_event("42", 2000, e).seq, 6);  // never reused after pruning
  // Age-based pruning.
  EXPECT_EQ(s.prune_events(100, 1500, 1000), 3);  // 42's seq 4 and 5, 43's seq 1
  EXPECT_EQ(s.events_after("42", 0, 100).size(), 1U);
}

// The operator page's counts (venue_board.hpp): sold is not revoked, admitted is used at least
// once, inside is admitted and not scanned out.
TEST_P(StoreTest, VenueCountsSayWhatWasSoldAdmittedAndIsInside) {
  auto store = open();
  Store& s = *store;
  EXPECT_EQ(s.venue_counts().sold, 0);
  for (const char* code : {"V1", "V2", "V3", "V4"}) {
    Ticket t;
    t.code = code;
    t.uid = "u";
    s.insert_ticket(t);
  }
  TicketUsage in;
  in.entries = 1;
  in.inside = true;
  s.save_usage("V1", in);
  TicketUsage out;
  out.entries = 2;
  s.save_usage("V2", out);
  s.revoke_ticket("V4");
  const auto c = s.venue_counts();
  EXPECT_EQ(c.sold, 3);
  EXPECT_EQ(c.admitted, 2);
  EXPECT_EQ(c.inside, 1);
}

// The outbox's rows: every event unsettled from its commit (in a batch or alone), settled one by
// one, listed by (uid, seq) after a cursor and before a time, and dropped with retention.
TEST_P(StoreTest, TheOutboxHoldsEachEventUntilItIsSettled) {
  auto store = open();
  Store& s = *store;
  const auto keys = [&](Millis before = std::numeric_limits<Millis>::max(),
                        const std::string& uid = "", std::int64_t seq = 0) {
    std::vector<EventKey> out;
    for (const auto& e : s.unsettled_events(uid, seq, before, 100)) out.emplace_back(e.uid, e.seq);
    return out;
  };
  {
    Store::Transaction tx(s);
    for (int i = 0; i < 3; ++i) {
      nlohmann::json e = {{"type", "push"}};
      s.append_event("b", 1000 + i, e);
    }
    tx.commit();
  }
  nlohmann::json e = {{"type", "push"}};
  s.append_event("a", 5000, e);  // outside a transaction
  EXPECT_EQ(keys(), (std::vector<EventKey>{{"a", 1}, {"b", 1}, {"b", 2}, {"b", 3}}));
  EXPECT_EQ(keys(std::numeric_limits<Millis>::max(), "b", 1),
            (std::vector<EventKey>{{"b", 2}, {"b", 3}}));
  EXPECT_EQ(keys(1002), (std::vector<EventKey>{{"b", 1}, {"b", 2}}));
  const auto first = s.unsettled_events("", 0, std::numeric_limits<Millis>::max(), 1);
  ASSERT_EQ(first.size(), 1U);
  EXPECT_EQ(nlohmann::json::parse(first[0].body)["seq"], 1);
  EXPECT_EQ(first[0].at, 5000);
  {
    Store::Transaction tx(s);
    s.settle_events({{"b", 1}, {"b", 3}, {"nobody", 1}});
    tx.commit();
  }
  EXPECT_EQ(keys(), (std::vector<EventKey>{{"a", 1}, {"b", 2}}));
  {
    Store::Transaction tx(s);
    EXPECT_EQ(s.prune_events(100, 2000, 100), 3);  // b's three, one of them unsettled
    tx.commit();
  }
  EXPECT_EQ(keys(), (std::vector<EventKey>{{"a", 1}}));
}

TEST_P(StoreTest, TransactionRollsBackUnlessCommitted) {
  auto store = open();
  Store& s = *store;
  {
    Store::Transaction tx(s);
    s.insert_ticket(ticket("C1", "42"));
  }
  EXPECT_FALSE(s.find_ticket("C1"));
  {
    Store::Transaction tx(s);
    s.insert_ticket(ticket("C1", "42"));
    tx.commit();
  }
  EXPECT_TRUE(s.find_ticket("C1"));
}

// A write transaction that did nothing (a batch of garbage) leaves no transaction open behind
// it: the statements after it run on their own, and one that fails spoils none of the next.
TEST_P(StoreTest, AnEmptyTransactionLeavesNoTransactionBehind) {
  auto store = open();
  Store& s = *store;
  s.insert_ticket(ticket("C1", "42"));
  {
    Store::Transaction tx(s);
    tx.commit();
  }
  s.ping();
  EXPECT_THROW(s.insert_ticket(ticket("C1", "43")), DuplicateTicket);
  EXPECT_NO_THROW(s.ping());
  EXPECT_TRUE(s.find_ticket("C1"));
}

// A batch read ahead a code that had no ticket, and another connection adds it before the
// batch revokes it: the revoke and the reads after it see the ticket. (SQLite has one writer
// and reads nothing ahead.)
TEST_P(StoreTest, ATicketAddedAfterTheReadAheadIsSeenByTheBatch) {
  if (GetParam() == "sqlite") GTEST_SKIP() << "one writer at a time, no read-ahead";
  auto a = open();
  auto b = open();
  Store::Transaction tx(*a);
  a->prepare_decisions(Store::DecisionKeys{{"C9"}, {}, {}, {}});
  EXPECT_FALSE(a->find_ticket("C9"));
  b->insert_ticket(ticket("C9", "42"));
  EXPECT_TRUE(a->revoke_ticket("C9"));
  const auto t = a->find_ticket("C9");
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->revoked);
  a->savepoint();
  EXPECT_THROW(a->insert_ticket(ticket("C9", "43")), DuplicateTicket);
  a->rollback_to_savepoint();
  tx.commit();
  ASSERT_TRUE(b->find_ticket("C9"));
  EXPECT_TRUE(b->find_ticket("C9")->revoked);
}

TEST(SqliteStoreSchema, RefusesADatabaseFromTheFuture) {
  tbtest::TempDir dir;
  {
    SqliteStore s(dir.file("t.db"));
    s.db().exec("PRAGMA user_version = 99");
  }
  EXPECT_THROW(SqliteStore(dir.file("t.db")), sql::Error);
}

TEST_P(StoreTest, ReplayTellsWhetherTheHistoryIsComplete) {
  auto store = open();
  Store& store_ = *store;
  for (int i = 0; i < 5; ++i) {
    nlohmann::json e = {{"type", "push"}};
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

TEST_P(StoreTest, ReplayPagesAreBoundedInEventsAndBytesAndScoped) {
  auto store = open();
  Store& store_ = *store;
  for (int i = 1; i <= 10; ++i) {
    nlohmann::json e =
        i % 2 ? nlohmann::json{{"type", "ticket.admitted"}, {"code", "T" + std::to_string(i % 3)}}
              : nlohmann::json{{"type", "push"}, {"data", std::string(100, 'x')}};
    EXPECT_EQ(store_.append_event("42", 1000 + i, e).code,
              i % 2 ? "T" + std::to_string(i % 3) : "");
  }
  auto r = store_.replay("42", 0, ReplayPage{4, 1 << 20, ""});
  EXPECT_EQ(r.events.size(), 4U);
  EXPECT_TRUE(r.more);
  EXPECT_EQ(r.read_to, 4);
  EXPECT_TRUE(r.recovered);
  r = store_.replay("42", 8, ReplayPage{4, 1 << 20, ""});
  EXPECT_EQ(r.events.size(), 2U);
  EXPECT_FALSE(r.more);
  EXPECT_EQ(r.read_to, 10);
  r = store_.replay("42", 0, ReplayPage{100, 150, ""});  // the push at seq 2 reaches 150 bytes
  EXPECT_EQ(r.events.size(), 2U);
  EXPECT_TRUE(r.more);
  EXPECT_EQ(r.read_to, 2);
  // Scoped to T1 (seqs 1 and 7): the pushes and that ticket, none of T0's or T2's.
  r = store_.replay("42", 0, ReplayPage{100, 1 << 20, "T1"});
  std::vector<std::int64_t> seqs;
  for (const auto& e : r.events) seqs.push_back(e.seq);
  EXPECT_EQ(seqs, (std::vector<std::int64_t>{1, 2, 4, 6, 7, 8, 10}));
  EXPECT_EQ(r.events[0].code, "T1");
  EXPECT_TRUE(r.recovered);
  r = store_.replay("42", 2, ReplayPage{100, 1 << 20, "T1"});  // 3 is T0's, yet held
  EXPECT_TRUE(r.recovered);
  EXPECT_EQ(r.events.front().seq, 4);
}

TEST(PgStoreSchema, RefusesADatabaseFromTheFuture) {
  const auto url = postgres().create_database();
  { PgStore s(url); }
  pg::Conn(url).exec("UPDATE tb_schema SET version = 99");
  try {
    PgStore s(url);
    ADD_FAILURE() << "a schema from the future was opened";
  } catch (const DbError& e) {
    EXPECT_NE(std::string(e.what()).find("newer than this ticket-bridge"), std::string::npos)
        << e.what();
  }
}

TEST(PgStoreSchema, ADatabaseOfSchema1GainsSignedCodes) {
  const auto url = postgres().create_database();
  {
    PgStore s(url);
    insert_old_ticket(s);
  }
  pg::Conn(url).exec(
      "ALTER TABLE tickets DROP COLUMN signed_code; ALTER TABLE tickets DROP COLUMN rotating; "
      "ALTER TABLE scans DROP COLUMN conflict; ALTER TABLE scans DROP COLUMN "
      "offline; " PG_SCHEMA_BEFORE_OUTBOX "UPDATE tb_schema SET version = 1");
  PgStore s(url);
  EXPECT_EQ(pg::Conn(url).exec("SELECT version FROM tb_schema").int64(0, 0), 5);
  expect_signed_codes_after_migration(s);
}

TEST(PgStoreSchema, ADatabaseOfSchema2GainsRotatingCodes) {
  const auto url = postgres().create_database();
  {
    PgStore s(url);
    insert_old_ticket(s);
  }
  pg::Conn(url).exec(
      "ALTER TABLE tickets DROP COLUMN rotating; "
      "ALTER TABLE scans DROP COLUMN conflict; ALTER TABLE scans DROP COLUMN "
      "offline; " PG_SCHEMA_BEFORE_OUTBOX "UPDATE tb_schema SET version = 2");
  PgStore s(url);
  EXPECT_EQ(pg::Conn(url).exec("SELECT version FROM tb_schema").int64(0, 0), 5);
  expect_signed_codes_after_migration(s);
}

TEST(PgStoreSchema, ADatabaseOfSchema3GainsOfflineVerdicts) {
  const auto url = postgres().create_database();
  {
    PgStore s(url);
    ScanRecord r = admitted_row("C1", 1, "{}");
    r.scan_id = "old:1";
    s.record_scan(r);
  }
  pg::Conn(url).exec(
      "ALTER TABLE scans DROP COLUMN conflict; ALTER TABLE scans DROP COLUMN "
      "offline; " PG_SCHEMA_BEFORE_OUTBOX "UPDATE tb_schema SET version = 3");
  PgStore s(url);
  EXPECT_EQ(pg::Conn(url).exec("SELECT version FROM tb_schema").int64(0, 0), 5);
  expect_offline_verdicts_after_migration(s);
}

// Schema 4 kept a mark per uid (users.mqtt_acked_seq): the events above it go on waiting, as rows.
TEST(PgStoreSchema, ADatabaseOfSchema4KeepsWhatItsMarksHadNotSeenAcknowledged) {
  const auto url = postgres().create_database();
  {
    PgStore s(url);
    for (const char* uid : {"a", "a", "a", "b"}) {
      nlohmann::json e = {{"type", "push"}};
      s.append_event(uid, 1000, e);
    }
  }
  pg::Conn(url).exec(PG_SCHEMA_BEFORE_OUTBOX
                     "UPDATE users SET mqtt_acked_seq = 1 WHERE uid = 'a'; "
                     "UPDATE users SET mqtt_acked_seq = 1 WHERE uid = 'b'; "
                     "UPDATE tb_schema SET version = 4");
  PgStore s(url);
  EXPECT_EQ(pg::Conn(url).exec("SELECT version FROM tb_schema").int64(0, 0), 5);
  std::vector<EventKey> waiting;
  for (const auto& e : s.unsettled_events("", 0, std::numeric_limits<Millis>::max(), 100)) {
    waiting.emplace_back(e.uid, e.seq);
  }
  EXPECT_EQ(waiting, (std::vector<EventKey>{{"a", 2}, {"a", 3}}));
  EXPECT_EQ(pg::Conn(url)
                .exec("SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' "
                      "AND column_name = 'mqtt_acked_seq'")
                .int64(0, 0),
            0);
}

TEST(PgStoreSchema, BridgesStartingTogetherMigrateOnce) {
  const auto url = postgres().create_database();
  std::vector<std::thread> starting;
  std::atomic<int> failed{0};
  for (int i = 0; i < 4; ++i) {
    starting.emplace_back([&] {
      try {
        PgStore s(url);
      } catch (const std::exception& e) {
        ++failed;
        ADD_FAILURE() << e.what();
      }
    });
  }
  for (auto& t : starting) t.join();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(pg::Conn(url).exec("SELECT count(*) FROM tb_schema").int64(0, 0), 1);
}

TEST(PgStoreSchema, AWrongPasswordIsRefusedAndNamed) {
  const auto url = "postgresql://tb@127.0.0.1:" + std::to_string(postgres().port()) + "/postgres";
  try {
    PgStore s(url, Durability::Full, std::string("not-the-password"));
    ADD_FAILURE() << "connected with a wrong password";
  } catch (const DbError& e) {
    EXPECT_NE(std::string(e.what()).find("password authentication failed"), std::string::npos)
        << e.what();
  }
  PgStore s(url, Durability::Full, postgres().password());  // --db-password-file's way
  s.ping();
}

}  // namespace
}  // namespace tb
