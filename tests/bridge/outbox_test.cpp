// The MQTT outbox: events unsettled until the broker acknowledged them, settled one by one, in
// pages, swept by age and dropped with retention, on a real SQLite file; and older databases
// migrated forward.
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

std::vector<EventKey> unacked(Store& s, int page = 1000) {
  std::vector<EventKey> out;
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

TEST(Outbox, UnsettledEventsInUidAndSeqOrderInPages) {
  tbtest::TempDir dir;
  SqliteStore store(dir.file("o.db"));
  append(store, "b", 3);
  append(store, "a", 2);
  const std::vector<EventKey> all = {{"a", 1}, {"a", 2}, {"b", 1}, {"b", 2}, {"b", 3}};
  EXPECT_EQ(unacked(store), all);
  EXPECT_EQ(unacked(store, 2), all) << "pages of 2 give the same";

  Outbox outbox;
  outbox.settled("b", 2);
  outbox.settled("b", 1);
  outbox.settled("b", 1);  // acknowledged twice (republished): settled once
  outbox.settled("a", 2);
  EXPECT_EQ(outbox.pending(), 4U);
  {
    Store::Transaction tx(store);
    EXPECT_EQ(outbox.flush(store), 3U);
    tx.commit();
  }
  EXPECT_EQ(outbox.pending(), 0U);
  EXPECT_EQ(unacked(store), (std::vector<EventKey>{{"a", 1}, {"b", 3}}))
      << "a later event's acknowledgement settles no earlier one";
  append(store, "a", 1);
  EXPECT_EQ(unacked(store), (std::vector<EventKey>{{"a", 1}, {"a", 3}, {"b", 3}}));
  // Settling what is settled already, or was never stored, changes nothing.
  outbox.settled("b", 2);
  outbox.settled("zz", 9);
  flush(outbox, store);
  EXPECT_EQ(unacked(store).size(), 3U);
}

// Two bridges on one store: what one of them settles is its own events only. Events 1 and 3 of a
// uid went out through bridge A; event 2, of bridge B, did not (its broker link was down). A's
// acknowledgements leave event 2 unsettled, for B's next connect (or a sweep) to publish.
TEST(Outbox, ABridgeSettlesOnlyWhatTheBrokerAcknowledgedToIt) {
  tbtest::TempDir dir;
  SqliteStore store(dir.file("two.db"));
  append(store, "u", 3);
  Outbox a;
  Outbox b;
  a.settled("u", 1);
  a.settled("u", 3);
  flush(a, store);
  flush(b, store);
  EXPECT_EQ(unacked(store), (std::vector<EventKey>{{"u", 2}}));
  b.settled("u", 2);
  flush(b, store);
  EXPECT_TRUE(unacked(store).empty());
}

// A sweep publishes only what has waited: events stored before its bound.
TEST(Outbox, ASweepTakesTheEventsStoredBeforeItsBound) {
  tbtest::TempDir dir;
  SqliteStore store(dir.file("s.db"));
  {
    Store::Transaction tx(store);
    for (const Millis at : {1000, 2000, 3000}) {
      nlohmann::json e = {{"type", "push"}};
      store.append_event("u", at, e);
    }
    tx.commit();
  }
  OutboxCursor cursor;
  cursor.before = 2500;
  std::vector<std::int64_t> seqs;
  republish_page(store, cursor, [&](StoredEvent e) { seqs.push_back(e.seq); });
  EXPECT_TRUE(cursor.done);
  EXPECT_EQ(seqs, (std::vector<std::int64_t>{1, 2}));
}

// Retention drops an event left unsettled: nothing is left to publish, and no row waits for it.
TEST(Outbox, AnUnsettledEventThatRetentionDropsLeavesTheOutbox) {
  tbtest::TempDir dir;
  SqliteStore store(dir.file("g.db"));
  append(store, "u", 3);
  {
    Store::Transaction tx(store);
    EXPECT_EQ(store.prune_events(1, 0, 100), 2);  // keeps the newest one
    tx.commit();
  }
  EXPECT_EQ(unacked(store), (std::vector<EventKey>{{"u", 3}}));
  auto rows = store.db().prepare("SELECT count(*) FROM outbox");
  ASSERT_TRUE(rows.step());
  EXPECT_EQ(rows.int64(0), 1);
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
                         "scans DROP COLUMN offline; DROP TABLE outbox; PRAGMA user_version = 1;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);

  SqliteStore s(path);
  EXPECT_TRUE(unacked(s).empty()) << "events from before the outbox would be sent again";
  append(s, "42", 1);
  EXPECT_EQ(unacked(s), (std::vector<EventKey>{{"42", 4}}));
}

// Schema 6 kept a mark per uid (users.mqtt_acked_seq): the events above it go on waiting, as rows.
TEST(Outbox, ADatabaseOfSchema6KeepsWhatItsMarksHadNotSeenAcknowledged) {
  tbtest::TempDir dir;
  const auto path = dir.file("v6.db");
  {
    SqliteStore s(path);
    append(s, "a", 3);
    append(s, "b", 2);
    s.db().exec(
        "DROP TABLE outbox; ALTER TABLE users ADD COLUMN mqtt_acked_seq INTEGER NOT NULL DEFAULT "
        "0; "
        "UPDATE users SET mqtt_acked_seq = 1 WHERE uid = 'a'; "
        "UPDATE users SET mqtt_acked_seq = 2 WHERE uid = 'b'; PRAGMA user_version = 6;");
  }
  SqliteStore s(path);
  EXPECT_EQ(unacked(s), (std::vector<EventKey>{{"a", 2}, {"a", 3}}));
  auto column = s.db().prepare("SELECT count(*) FROM pragma_table_info('users') WHERE name = ?1");
  column.bind(1, std::string("mqtt_acked_seq"));
  ASSERT_TRUE(column.step());
  EXPECT_EQ(column.int64(0), 0) << "the mark column is gone";
}

}  // namespace
}  // namespace tb
