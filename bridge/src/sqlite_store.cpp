// SQLite schema and queries of the ticket store (sqlite_store.hpp).
#include "sqlite_store.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace tb {

namespace {

// 1: the first schema. 2: users.mqtt_acked_seq, the outbox's mark (see unacked_events).
// 3: the scanner table, and scans.claimed_gate. 4: tickets.signed_code. 5: tickets.rotating.
// 6: scans.offline and scans.conflict. 7: the outbox table, in place of users.mqtt_acked_seq.
constexpr int kSchemaVersion = 7;

// tickets.signed_code: the signed code issued for it (SPEC.md v1.1), if any; tickets.rotating:
// its scans need a fresh rotating value. (No comment among the last columns: the tests of older
// schemas drop them, and ALTER TABLE DROP COLUMN cannot edit around one.)
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS tickets (
  code            TEXT PRIMARY KEY,
  uid             TEXT NOT NULL,
  holder          TEXT,
  max_entries     INTEGER NOT NULL DEFAULT 1,
  reentry         INTEGER NOT NULL DEFAULT 0,
  valid_from      INTEGER,            -- ms since epoch, inclusive
  valid_until     INTEGER,            -- ms since epoch, exclusive
  gates           TEXT,               -- JSON array, NULL = every gate
  revoked         INTEGER NOT NULL DEFAULT 0,
  created_at      INTEGER NOT NULL,
  entries         INTEGER NOT NULL DEFAULT 0,
  inside          INTEGER NOT NULL DEFAULT 0,
  last_in_at      INTEGER,
  last_in_gate    TEXT,
  last_in_scanner TEXT,
  signed_code     TEXT,
  rotating        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS tickets_uid ON tickets(uid);

-- The audit log: every scan, decided or malformed. scan_id is unique, which makes a redelivered
-- scan find its first result instead of being decided again. claimed_gate: the payload's gate,
-- when the scanner table decided at another. offline: the gate's own verdict as JSON, when it
-- decided the scan offline; conflict: 1 when that verdict differs from the bridge's.
CREATE TABLE IF NOT EXISTS scans (
  id         INTEGER PRIMARY KEY,
  scan_id    TEXT UNIQUE,
  code       TEXT,
  scanner    TEXT,
  gate       TEXT,
  direction  TEXT,
  scanned_at INTEGER,
  decided_at INTEGER NOT NULL,
  status     TEXT NOT NULL,
  reason     TEXT NOT NULL,
  result     TEXT NOT NULL,
  claimed_gate TEXT,
  offline    TEXT,
  conflict   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS scans_code ON scans(code, id);

-- Per-uid sequence numbers; never reset, so a seq is never reused even after pruning.
CREATE TABLE IF NOT EXISTS users (
  uid            TEXT PRIMARY KEY,
  last_seq       INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS events (
  uid  TEXT NOT NULL,
  seq  INTEGER NOT NULL,
  at   INTEGER NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (uid, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_at ON events(at);
)sql";

// Schema 7. The events the broker has not acknowledged yet (outbox.hpp): a row from the event's
// commit until a bridge's PUBACK settles it; any bridge republishes the rest after a connect.
constexpr const char* kOutboxTable = R"sql(
CREATE TABLE IF NOT EXISTS outbox (
  uid TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (uid, seq)
) WITHOUT ROWID;
)sql";

// Schema 3. Where each scanner stands (`ticket-bridge scanners set`).
constexpr const char* kScannersTable = R"sql(
CREATE TABLE IF NOT EXISTS scanners (
  id         TEXT PRIMARY KEY,
  gate       TEXT NOT NULL,
  direction  TEXT NOT NULL,    -- in or out
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

constexpr const char* kTicketColumns =
    "code, uid, holder, max_entries, reentry, valid_from, valid_until, gates, revoked, "
    "created_at, entries, inside, last_in_at, last_in_gate, last_in_scanner, signed_code, "
    "rotating";

// Root typing `ticket-bridge tickets add` on a host where the service has not made the database
// yet would create it root's, and the service (its own user) could then not write it. A database
// file and its -wal and -shm that root owns in a directory that another user owns (the package's
// /var/lib/ticket-bridge) are given to that user. (SQLite itself gives the -wal and -shm it
// creates as root to the database's owner.)
void give_to_directory_owner(const std::string& path) {
  if (::geteuid() != 0 || path.empty() || path == ":memory:") return;
  struct stat dir {};
  const auto parent = std::filesystem::absolute(path).parent_path();
  if (::stat(parent.c_str(), &dir) != 0 || dir.st_uid == 0) return;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const std::string file = path + suffix;
    struct stat st {};
    if (::stat(file.c_str(), &st) == 0 && st.st_uid == 0 &&
        ::chown(file.c_str(), dir.st_uid, dir.st_gid) != 0) {
      spdlog::warn("cannot give {} to the owner of {}: {}", file, parent.string(),
                   std::strerror(errno));
    }
  }
}

}  // namespace

SqliteStore::SqliteStore(const std::string& path, Durability durability) : db_(path, true) {
  sqlite3_busy_timeout(db_.handle(), 10000);
  db_.exec("PRAGMA journal_mode=WAL");
  db_.exec(durability == Durability::Full ? "PRAGMA synchronous=FULL"
                                          : "PRAGMA synchronous=NORMAL");
  migrate();
  give_to_directory_owner(path);

  begin_ = db_.prepare("BEGIN IMMEDIATE");
  commit_ = db_.prepare("COMMIT");
  rollback_ = db_.prepare("ROLLBACK");
  savepoint_ = db_.prepare("SAVEPOINT task");
  release_ = db_.prepare("RELEASE task");
  rollback_to_ = db_.prepare("ROLLBACK TO task");
  insert_ticket_ =
      db_.prepare(std::string("INSERT INTO tickets (") + kTicketColumns +
                  ") VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17)");
  find_ticket_ =
      db_.prepare(std::string("SELECT ") + kTicketColumns + " FROM tickets WHERE code = ?1");
  save_usage_ = db_.prepare(
      "UPDATE tickets SET entries = ?2, inside = ?3, last_in_at = ?4, last_in_gate = ?5, "
      "last_in_scanner = ?6 WHERE code = ?1");
  revoke_ = db_.prepare("UPDATE tickets SET revoked = 1 WHERE code = ?1");
  find_result_ = db_.prepare("SELECT result FROM scans WHERE scan_id = ?1");
  record_scan_ = db_.prepare(
      "INSERT INTO scans (scan_id, code, scanner, gate, direction, scanned_at, decided_at, "
      "status, reason, result, claimed_gate, offline, conflict) "
      "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)");
  record_offline_ = db_.prepare(
      "UPDATE scans SET offline = ?2, conflict = ?3, result = ?4 "
      "WHERE scan_id = ?1 AND offline IS NULL");
  recent_scans_ = db_.prepare(
      "SELECT scan_id, code, scanner, gate, direction, scanned_at, decided_at, status, reason, "
      "result, claimed_gate, offline, conflict FROM scans WHERE code = ?1 ORDER BY id DESC "
      "LIMIT ?2");
  // By the (code, id) index, newest first, so that a ticket scanned thousands of times costs
  // the same few rows.
  recent_result_ = db_.prepare(
      "SELECT result FROM (SELECT id, scanner, direction, decided_at, result FROM scans "
      "WHERE code = ?1 ORDER BY id DESC LIMIT ?5) "
      "WHERE scanner = ?2 AND direction = ?3 AND decided_at >= ?4 ORDER BY id DESC LIMIT 1");
  find_scanner_ = db_.prepare("SELECT id, gate, direction, updated_at FROM scanners WHERE id = ?1");
  set_scanner_ = db_.prepare(
      "INSERT INTO scanners (id, gate, direction, updated_at) VALUES (?1, ?2, ?3, ?4) "
      "ON CONFLICT (id) DO UPDATE SET gate = ?2, direction = ?3, updated_at = ?4");
  remove_scanner_ = db_.prepare("DELETE FROM scanners WHERE id = ?1");
  list_scanners_ = db_.prepare("SELECT id, gate, direction, updated_at FROM scanners ORDER BY id");
  next_seq_ = db_.prepare(
      "INSERT INTO users (uid, last_seq) VALUES (?1, 1) "
      "ON CONFLICT (uid) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq");
  insert_event_ = db_.prepare("INSERT INTO events (uid, seq, at, body) VALUES (?1,?2,?3,?4)");
  queue_event_ = db_.prepare("INSERT INTO outbox (uid, seq) VALUES (?1, ?2)");
  last_seq_ = db_.prepare("SELECT last_seq FROM users WHERE uid = ?1");
  events_after_ = db_.prepare(
      "SELECT seq, at, body, json_extract(body, '$.code') FROM events WHERE uid = ?1 AND seq > ?2 "
      "AND (?4 = '' OR json_extract(body, '$.code') IS NULL OR json_extract(body, '$.code') = ?4) "
      "ORDER BY seq LIMIT ?3");
  ping_ = db_.prepare("SELECT count(*) FROM users WHERE uid = ''");
  settle_ = db_.prepare("DELETE FROM outbox WHERE uid = ?1 AND seq = ?2");
  // The small outbox table in key order, each row's event by primary key; (uid, seq) is the
  // cursor of the pages.
  unsettled_ = db_.prepare(
      "SELECT e.uid, e.seq, e.at, e.body FROM outbox o JOIN events e "
      "ON e.uid = o.uid AND e.seq = o.seq "
      "WHERE (o.uid, o.seq) > (?1, ?2) AND e.at < ?3 ORDER BY o.uid, o.seq LIMIT ?4");
}

void SqliteStore::migrate() {
  auto version_stmt = db_.prepare("PRAGMA user_version");
  version_stmt.step();
  const auto version = version_stmt.int64(0);
  version_stmt.reset();
  if (version > kSchemaVersion) {
    throw sql::Error(SQLITE_ERROR, "database schema version " + std::to_string(version) +
                                       " is newer than this ticket-bridge understands (" +
                                       std::to_string(kSchemaVersion) + ")");
  }
  if (version == kSchemaVersion) return;
  db_.exec("BEGIN IMMEDIATE");
  try {
    // Again, under the write lock: another process (a second bridge, a CLI command) may have
    // migrated it meanwhile.
    version_stmt.step();
    const auto locked_version = version_stmt.int64(0);
    version_stmt.reset();
    if (locked_version == 0) {
      db_.exec(kSchema);
      db_.exec(kScannersTable);
      db_.exec(kOutboxTable);
    } else {
      if (locked_version < 2) {
        // Events stored before the outbox existed were published then: they count as
        // acknowledged (a republish of the whole replay history at the upgrade would flood every
        // app).
        db_.exec(
            "ALTER TABLE users ADD COLUMN mqtt_acked_seq INTEGER NOT NULL DEFAULT 0;"
            "UPDATE users SET mqtt_acked_seq = last_seq;");
      }
      if (locked_version < 3) {
        db_.exec(kScannersTable);
        db_.exec("ALTER TABLE scans ADD COLUMN claimed_gate TEXT;");
      }
      if (locked_version < 4) db_.exec("ALTER TABLE tickets ADD COLUMN signed_code TEXT;");
      if (locked_version < 5) {
        db_.exec("ALTER TABLE tickets ADD COLUMN rotating INTEGER NOT NULL DEFAULT 0;");
      }
      if (locked_version < 6) {
        db_.exec(
            "ALTER TABLE scans ADD COLUMN offline TEXT;"
            "ALTER TABLE scans ADD COLUMN conflict INTEGER NOT NULL DEFAULT 0;");
      }
      if (locked_version < 7) {
        // What the per-uid mark had not seen acknowledged goes on waiting, as rows.
        db_.exec(kOutboxTable);
        db_.exec(
            "INSERT INTO outbox (uid, seq) SELECT e.uid, e.seq FROM users u JOIN events e "
            "ON e.uid = u.uid AND e.seq > u.mqtt_acked_seq;"
            "ALTER TABLE users DROP COLUMN mqtt_acked_seq;");
      }
    }
    db_.exec(("PRAGMA user_version = " + std::to_string(kSchemaVersion)).c_str());
    db_.exec("COMMIT");
  } catch (...) {
    db_.exec("ROLLBACK");
    throw;
  }
}

void SqliteStore::begin() {
  begin_.run();
}

void SqliteStore::commit() {
  commit_.run();
}

void SqliteStore::rollback() {
  rollback_.run();
}

void SqliteStore::begin_read() {
  db_.exec("BEGIN");
}

void SqliteStore::end_read() {
  db_.exec("COMMIT");
}

void SqliteStore::abort_read() {
  db_.exec("ROLLBACK");
}

void SqliteStore::savepoint() {
  savepoint_.run();
}

void SqliteStore::release_savepoint() {
  release_.run();
}

void SqliteStore::rollback_to_savepoint() {
  rollback_to_.run();
  release_.run();
}

void SqliteStore::insert_ticket(const Ticket& t) {
  const auto& u = t.usage;
  auto& s = insert_ticket_;
  s.bind(1, t.code).bind(2, t.uid).bind(3, t.holder).bind(4, t.max_entries);
  s.bind(5, std::int64_t{t.reentry ? 1 : 0}).bind(6, t.valid_from).bind(7, t.valid_until);
  s.bind(8, stored::gates_to_text(t.gates))
      .bind(9, std::int64_t{t.revoked ? 1 : 0})
      .bind(10, t.created_at);
  s.bind(11, u.entries).bind(12, std::int64_t{u.inside ? 1 : 0});
  if (u.last_entry) {
    s.bind(13, u.last_entry->at).bind(14, u.last_entry->gate).bind(15, u.last_entry->scanner);
  }
  s.bind(16, t.signed_code).bind(17, std::int64_t{t.rotating ? 1 : 0});
  try {
    s.run();
  } catch (const sql::Error& e) {
    s.reset();
    if (e.code() == SQLITE_CONSTRAINT_PRIMARYKEY) {
      throw DuplicateTicket("a ticket with code " + t.code + " exists");
    }
    throw;
  }
}

std::optional<Ticket> SqliteStore::find_ticket(const std::string& code) {
  auto& s = find_ticket_;
  s.bind(1, code);
  if (!s.step()) {
    s.reset();
    return std::nullopt;
  }
  Ticket t;
  t.code = s.text(0);
  t.uid = s.text(1);
  t.holder = s.opt_text(2);
  t.max_entries = s.int64(3);
  t.reentry = s.int64(4) != 0;
  t.valid_from = s.opt_int64(5);
  t.valid_until = s.opt_int64(6);
  t.gates = stored::gates_from_text(s.opt_text(7));
  t.revoked = s.int64(8) != 0;
  t.created_at = s.int64(9);
  t.usage.entries = s.int64(10);
  t.usage.inside = s.int64(11) != 0;
  if (!s.is_null(12)) t.usage.last_entry = EntryRecord{s.int64(12), s.opt_text(13), s.opt_text(14)};
  t.signed_code = s.opt_text(15);
  t.rotating = s.int64(16) != 0;
  s.reset();
  return t;
}

void SqliteStore::save_usage(const std::string& code, const TicketUsage& u) {
  auto& s = save_usage_;
  s.bind(1, code).bind(2, u.entries).bind(3, std::int64_t{u.inside ? 1 : 0});
  if (u.last_entry) {
    s.bind(4, u.last_entry->at).bind(5, u.last_entry->gate).bind(6, u.last_entry->scanner);
  }
  s.run();
}

bool SqliteStore::revoke_ticket(const std::string& code) {
  revoke_.bind(1, code).run();
  if (db_.changes() > 0) return true;
  return find_ticket(code).has_value();  // already revoked counts as done
}

void SqliteStore::ping() {
  ping_.step();
  ping_.reset();
}

void SqliteStore::probe_write() {
  // As large as a big batch (four 64 KiB push bodies): on a full disk a one-page write may still
  // fit where a failed transaction left room in the WAL, and say "up" while pushes fail. The
  // same row is rewritten each time, so the database holds it once.
  Transaction tx(*this);
  db_.exec(
      "CREATE TABLE IF NOT EXISTS write_probe (id INTEGER PRIMARY KEY, pad BLOB NOT NULL);"
      "INSERT OR REPLACE INTO write_probe (id, pad) VALUES (1, zeroblob(262144));");
  tx.commit();
}

}  // namespace tb
