// The MQTT outbox: marks that only move forward, are written once, and the events after them,
// on a real SQLite file; and a database of schema 1 migrated forward.
#include "outbox.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include "process.hpp"
#include "sqlite_store.hpp"

namespace tb {
namespace {

void append(Store& s, const std::string& uid, int n) {
  Store::Transaction tx(s);
  for (int i = 0; i < n; ++i) {
    nlohmann::json e = {{"type", "push"}};
    s.append_event(uid, 1000, e);
  }
  tx.commit();
}

std::vector<std::pair<std::string, std::int64_t>> unacked(Store& s, int page = 1000) {
  std::vector<std::pair<std::string, std::int64_t>> out;
  OutboxCursor cursor;
  while (!cursor.done) {
    republish_page(
        s, cursor, [&](StoredEvent e) { out.emplace_back(e.uid, e.seq); }, page);
  }
  EXPECT_EQ(cursor.sent, out.size());
  return out;
}

void flush(Outbox& outbox, Store& store) {
  Store::Transaction tx(store);
  outbox.flush(store);
  tx.commit();
}

TEST(Outbox, EventsAfterTheMarkInUidAndSeqOrderInPages) {
  tbtest::TempDir dir;
  SqliteStore store(dir.file("o.db"));
  append(store, "b", 3);
  append(store, "a", 2);
  const std::vector<std::pair<std::string, std::int64_t>> all = {
      {"a", 1}, {"a", 2}, {"b", 1}, {"b", 2}, {"b", 3}};
  EXPECT_EQ(unacked(store), all);
  EXPECT_EQ(unacked(store, 2), all) << "pages of 2 give the same";

  Outbox outbox;
  outbox.acked("b", 2);
  outbox.acked("b", 1);  // late and lower: the mark stays at 2
  outbox.acked("a", 2);
  EXPECT_EQ(outbox.pending(), 2U);
  {
    Store::Transaction tx(store);
    EXPECT_EQ(outbox.flush(store), 2U);
    tx.commit();
  }
  EXPECT_EQ(outbox.pending(), 0U);
  EXPECT_EQ(unacked(store), (std::vector<std::pair<std::string, std::int64_t>>{{"b", 3}}));
  // A mark never moves back, even when written lower.
  store.set_acked("b", 1);
  EXPECT_EQ(unacked(store).size(), 1U);
  append(store, "a", 1);
  EXPECT_EQ(unacked(store),
            (std::vector<std::pair<std::string, std::int64_t>>{{"a", 3}, {"b", 3}}));
}

// Events 2 and 3 of a uid were not sent (the broker was away) and event 4 was, and was
// acknowledged: the mark stays at 1 until 2 and 3 are acknowledged too, or they would never go.
TEST(Outbox, AnEventNotSentHoldsTheMarkBelowIt) {
  tbtest::TempDir dir;
  SqliteStore store(dir.file("h.db"));
  append(store, "u", 4);
  Outbox outbox;
  outbox.acked("u", 1);
  outbox.not_sent("u", 2);
  outbox.not_sent("u", 3);
  outbox.acked("u", 4);
  flush(outbox, store);
  EXPECT_EQ(unacked(store),
            (std::vector<std::pair<std::string, std::int64_t>>{{"u", 2}, {"u", 3}, {"u", 4}}));
  outbox.acked("u", 2);  // republished and acknowledged; 3 still missing
  flush(outbox, store);
  EXPECT_EQ(unacked(store).front(), (std::pair<std::string, std::int64_t>{"u", 3}));
  outbox.acked("u", 3);
  flush(outbox, store);
  EXPECT_TRUE(unacked(store).empty());
  EXPECT_EQ(outbox.pending(), 0U) << "nothing held back any more: forgotten";
}

// An event held back as not sent that retention dropped before it could go again: after the next
// republish it no longer holds its uid's mark.
TEST(Outbox, AHeldEventThatIsGoneStopsHoldingAfterARepublish) {
  tbtest::TempDir dir;
  SqliteStore store(dir.file("g.db"));
  append(store, "u", 3);
  Outbox outbox;
  outbox.not_sent("u", 1);
  outbox.acked("u", 3);
  const auto generation = outbox.begin_republish();
  outbox.not_sent("u", 2);  // during the republish: kept
  outbox.end_republish(generation);
  flush(outbox, store);
  EXPECT_EQ(unacked(store).front(), (std::pair<std::string, std::int64_t>{"u", 2}));
  outbox.acked("u", 2);
  flush(outbox, store);
  EXPECT_TRUE(unacked(store).empty());
}

TEST(Outbox, ADatabaseOfSchema1CountsItsEventsAsPublished) {
  tbtest::TempDir dir;
  const auto path = dir.file("v1.db");
  {
    SqliteStore s(path);
    append(s, "42", 3);
  }
  // Back to what schema 1 was: no mark column (and nothing of schemas 3 and 4).
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE users1 (uid TEXT PRIMARY KEY, last_seq INTEGER NOT NULL) "
                         "WITHOUT ROWID; INSERT INTO users1 SELECT uid, last_seq FROM users; "
                         "DROP TABLE users; ALTER TABLE users1 RENAME TO users; "
                         "DROP TABLE scanners; ALTER TABLE scans DROP COLUMN claimed_gate; "
                         "ALTER TABLE tickets DROP COLUMN signed_code; ALTER TABLE tickets DROP "
                         "COLUMN rotating; ALTER TABLE scans DROP COLUMN conflict; ALTER TABLE "
                         "scans DROP COLUMN offline; PRAGMA user_version = 1;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);

  SqliteStore s(path);
  EXPECT_TRUE(unacked(s).empty()) << "events from before the outbox would be sent again";
  append(s, "42", 1);
  EXPECT_EQ(unacked(s), (std::vector<std::pair<std::string, std::int64_t>>{{"42", 4}}));
}

}  // namespace
}  // namespace tb
