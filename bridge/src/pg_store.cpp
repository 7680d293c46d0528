// PostgreSQL schema and queries of the ticket store (pg_store.hpp).
#include "pg_store.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace tb {

namespace {

// 1: the schema of SqliteStore's version 3, in PostgreSQL's types, with events.code stored.
constexpr int kSchemaVersion = 1;
// Taken by every bridge that migrates, for the length of its migration transaction.
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(7627010330)";

// Keys compare byte by byte (COLLATE "C"), as in SQLite, whatever the database's locale: the
// outbox's (uid, seq) cursor and the ORDER BY that pages it agree, and indexes stay cheap.
constexpr const char* kSchema = R"sql(
CREATE TABLE tickets (
  code            TEXT COLLATE "C" PRIMARY KEY,
  uid             TEXT COLLATE "C" NOT NULL,
  holder          TEXT,
  max_entries     BIGINT NOT NULL DEFAULT 1,
  reentry         SMALLINT NOT NULL DEFAULT 0,
  valid_from      BIGINT,
  valid_until     BIGINT,
  gates           TEXT,
  revoked         SMALLINT NOT NULL DEFAULT 0,
  created_at      BIGINT NOT NULL,
  entries         BIGINT NOT NULL DEFAULT 0,
  inside          SMALLINT NOT NULL DEFAULT 0,
  last_in_at      BIGINT,
  last_in_gate    TEXT,
  last_in_scanner TEXT
);
CREATE INDEX tickets_uid ON tickets(uid);

CREATE TABLE scans (
  id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  scan_id      TEXT COLLATE "C" UNIQUE,
  code         TEXT COLLATE "C",
  scanner      TEXT,
  gate         TEXT,
  direction    TEXT,
  scanned_at   BIGINT,
  decided_at   BIGINT NOT NULL,
  status       TEXT NOT NULL,
  reason       TEXT NOT NULL,
  result       TEXT NOT NULL,
  claimed_gate TEXT
);
CREATE INDEX scans_code ON scans(code, id);

CREATE TABLE users (
  uid            TEXT COLLATE "C" PRIMARY KEY,
  last_seq       BIGINT NOT NULL,
  mqtt_acked_seq BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE events (
  uid  TEXT COLLATE "C" NOT NULL,
  seq  BIGINT NOT NULL,
  at   BIGINT NOT NULL,
  body TEXT NOT NULL,
  code TEXT COLLATE "C",
  PRIMARY KEY (uid, seq)
);
CREATE INDEX events_at ON events(at);

CREATE TABLE scanners (
  id         TEXT COLLATE "C" PRIMARY KEY,
  gate       TEXT NOT NULL,
  direction  TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE write_probe (id INTEGER PRIMARY KEY, pad TEXT NOT NULL);
ALTER TABLE write_probe ALTER COLUMN pad SET STORAGE EXTERNAL;
)sql";

constexpr const char* kTicketColumns =
    "code, uid, holder, max_entries, reentry, valid_from, valid_until, gates, revoked, "
    "created_at, entries, inside, last_in_at, last_in_gate, last_in_scanner";

struct Statement {
  const char* name;
  std::string sql;
};

std::vector<Statement> statements() {
  const std::string cols = kTicketColumns;
  return {
      {"insert_ticket", "INSERT INTO tickets (" + cols +
                            ") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)"},
      {"find_ticket", "SELECT " + cols + " FROM tickets WHERE code = $1"},
      {"find_ticket_locked", "SELECT " + cols + " FROM tickets WHERE code = $1 FOR UPDATE"},
      {"save_usage",
       "UPDATE tickets SET entries = $2, inside = $3, last_in_at = $4, last_in_gate = $5, "
       "last_in_scanner = $6 WHERE code = $1"},
      {"revoke", "UPDATE tickets SET revoked = 1 WHERE code = $1"},
      {"find_result", "SELECT result FROM scans WHERE scan_id = $1"},
      {"record_scan",
       "INSERT INTO scans (scan_id, code, scanner, gate, direction, scanned_at, decided_at, "
       "status, reason, result, claimed_gate) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)"},
      {"recent_scans",
       "SELECT scan_id, code, scanner, gate, direction, scanned_at, decided_at, status, reason, "
       "result, claimed_gate FROM scans WHERE code = $1 ORDER BY id DESC LIMIT $2"},
      {"recent_result",
       "SELECT result FROM (SELECT id, scanner, direction, decided_at, result FROM scans "
       "WHERE code = $1 ORDER BY id DESC LIMIT $5) r "
       "WHERE scanner = $2 AND direction = $3 AND decided_at >= $4 ORDER BY id DESC LIMIT 1"},
      {"find_scanner", "SELECT id, gate, direction, updated_at FROM scanners WHERE id = $1"},
      {"set_scanner",
       "INSERT INTO scanners (id, gate, direction, updated_at) VALUES ($1, $2, $3, $4) "
       "ON CONFLICT (id) DO UPDATE SET gate = EXCLUDED.gate, direction = EXCLUDED.direction, "
       "updated_at = EXCLUDED.updated_at"},
      {"remove_scanner", "DELETE FROM scanners WHERE id = $1"},
      {"list_scanners", "SELECT id, gate, direction, updated_at FROM scanners ORDER BY id"},
      {"next_seq",
       "INSERT INTO users (uid, last_seq) VALUES ($1, 1) "
       "ON CONFLICT (uid) DO UPDATE SET last_seq = users.last_seq + 1 RETURNING last_seq"},
      {"insert_event", "INSERT INTO events (uid, seq, at, body, code) VALUES ($1,$2,$3,$4,$5)"},
      {"last_seq", "SELECT last_seq FROM users WHERE uid = $1"},
      {"events_after",
       "SELECT seq, at, body, code FROM events WHERE uid = $1 AND seq > $2 "
       "AND ($4::text = '' OR code IS NULL OR code = $4::text) ORDER BY seq LIMIT $3"},
      {"ping", "SELECT 1"},
      // A batch's rows, locked in order (lock_for_decisions): its tickets by code, then their
      // owners' seq rows by uid, made first when missing (last_seq 0: none yet).
      {"lock_tickets",
       "SELECT uid FROM tickets WHERE code = ANY($1::text[]) "
       "ORDER BY code FOR UPDATE"},
      {"make_users",
       "INSERT INTO users (uid, last_seq) SELECT u, 0 FROM unnest($1::text[]) AS u "
       "ORDER BY u COLLATE \"C\" ON CONFLICT (uid) DO NOTHING"},
      {"lock_users", "SELECT uid FROM users WHERE uid = ANY($1::text[]) ORDER BY uid FOR UPDATE"},
      {"set_acked",
       "UPDATE users SET mqtt_acked_seq = GREATEST(mqtt_acked_seq, $2) WHERE uid = $1"},
      {"unacked",
       "SELECT e.uid, e.seq, e.at, e.body FROM users u JOIN events e "
       "ON e.uid = u.uid AND e.seq > u.mqtt_acked_seq "
       "WHERE u.last_seq > u.mqtt_acked_seq AND (e.uid, e.seq) > ($1::text, $2::bigint) "
       "ORDER BY e.uid, e.seq LIMIT $3"},
      // Retention runs on every bridge each minute; one at a time does the work.
      {"prune_turn", "SELECT pg_try_advisory_xact_lock(7627010331)"},
      {"prune",
       "DELETE FROM events WHERE (uid, seq) IN (SELECT e.uid, e.seq FROM events e "
       "JOIN users u ON u.uid = e.uid WHERE e.at < $1 OR e.seq <= u.last_seq - $2 LIMIT $3)"},
      // 256 KiB that do not compress (the column is stored EXTERNAL), rewritten in place.
      {"probe_write",
       "INSERT INTO write_probe (id, pad) SELECT 1, string_agg(md5(random()::text), '') "
       "FROM generate_series(1, 8192) ON CONFLICT (id) DO UPDATE SET pad = EXCLUDED.pad"},
  };
}

Ticket ticket_row(const pg::Result& r) {
  Ticket t;
  t.code = r.text(0, 0);
  t.uid = r.text(0, 1);
  t.holder = r.opt_text(0, 2);
  t.max_entries = r.int64(0, 3);
  t.reentry = r.int64(0, 4) != 0;
  t.valid_from = r.opt_int64(0, 5);
  t.valid_until = r.opt_int64(0, 6);
  t.gates = stored::gates_from_text(r.opt_text(0, 7));
  t.revoked = r.int64(0, 8) != 0;
  t.created_at = r.int64(0, 9);
  t.usage.entries = r.int64(0, 10);
  t.usage.inside = r.int64(0, 11) != 0;
  if (!r.is_null(0, 12)) {
    t.usage.last_entry = EntryRecord{r.int64(0, 12), r.opt_text(0, 13), r.opt_text(0, 14)};
  }
  return t;
}

ScannerConfig scanner_row(const pg::Result& r, int row) {
  return ScannerConfig{r.text(row, 0), r.text(row, 1),
                       r.text(row, 2) == "out" ? Direction::Out : Direction::In, r.int64(row, 3)};
}

}  // namespace

PgStore::PgStore(const std::string& url, Durability durability, std::optional<std::string> password)
    : durability_(durability), conn_(std::make_unique<pg::Conn>(url, password)) {
  migrate();
  prepare_all();
}

void PgStore::migrate() {
  auto& c = *conn_;
  c.exec("BEGIN");
  try {
    c.exec(kMigrationLock);
    // Only a database without the schema needs the right to create tables: a role that may only
    // read and write the tables opens a database that has them.
    if (c.exec("SELECT to_regclass('tb_schema') IS NULL").text(0, 0) == "t") {
      c.exec("CREATE TABLE tb_schema (version INTEGER NOT NULL)");
    }
    const auto found = c.exec("SELECT version FROM tb_schema");
    const std::int64_t version = found.rows() == 0 ? 0 : found.int64(0, 0);
    if (version > kSchemaVersion) {
      throw pg::Error("database schema version " + std::to_string(version) +
                          " is newer than this ticket-bridge understands (" +
                          std::to_string(kSchemaVersion) + ")",
                      "");
    }
    if (version == 0) {
      c.exec(kSchema);
      c.exec("INSERT INTO tb_schema (version) VALUES (" + std::to_string(kSchemaVersion) + ")");
    }
    c.exec("COMMIT");
  } catch (...) {
    try {
      c.exec("ROLLBACK");
    } catch (...) {  // NOLINT(bugprone-empty-catch): the first error is the one to report
    }
    throw;
  }
}

void PgStore::prepare_all() {
  // Normal: a commit does not wait for its WAL to reach the disk. A killed bridge loses nothing
  // (the server has it), a crashed server may lose the last moments.
  if (durability_ == Durability::Normal) conn_->exec("SET synchronous_commit TO off");
  // A lock held by a stuck bridge fails a batch after 5 s (a conflict: it runs again) instead of
  // stopping every bridge's writer; a transaction left open ends after 30 s.
  conn_->exec(
      "SET lock_timeout TO '5s'; SET statement_timeout TO '30s'; "
      "SET idle_in_transaction_session_timeout TO '30s'");
  conn_->exec("DEALLOCATE ALL");
  for (const auto& s : statements()) conn_->prepare(s.name, s.sql);
}

pg::Conn& PgStore::conn() {
  if ((!conn_->ok() || !prepared_) && !in_tx_) {
    prepared_ = false;
    if (!conn_->ok()) conn_->reset();
    prepare_all();
    prepared_ = true;
  }
  return *conn_;
}

// Outside a transaction, a call that finds the connection dead (the server restarted, a
// failover) connects again and is made once more: libpq only learns of it by trying.
template <typename F>
pg::Result PgStore::with_retry(F&& call) {
  try {
    return call(conn());
  } catch (const pg::Error&) {
    if (in_tx_ || conn_->ok()) throw;
    return call(conn());
  }
}

pg::Result PgStore::run(const char* name, const pg::Params& params) {
  return with_retry([&](pg::Conn& c) { return c.run(name, params); });
}

void PgStore::begin() {
  if (in_tx_) throw pg::Error("a transaction is open already", "25001");
  with_retry([](pg::Conn& c) { return c.exec("BEGIN"); });
  in_tx_ = in_write_ = true;
}

void PgStore::commit() {
  in_tx_ = in_write_ = false;
  // COMMIT of a transaction that failed answers ROLLBACK, without an error.
  const auto done = conn_->exec("COMMIT");
  if (done.tag() != "COMMIT") throw pg::Error("the transaction was rolled back", "40000");
}

void PgStore::rollback() {
  in_tx_ = in_write_ = false;
  if (conn_->ok()) conn_->exec("ROLLBACK");
}

void PgStore::begin_read() {
  if (in_tx_) throw pg::Error("a transaction is open already", "25001");
  with_retry([](pg::Conn& c) { return c.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); });
  in_tx_ = true;
}

void PgStore::end_read() {
  in_tx_ = false;
  conn_->exec("COMMIT");
}

void PgStore::abort_read() {
  in_tx_ = false;
  if (conn_->ok()) conn_->exec("ROLLBACK");
}

void PgStore::lock_for_decisions(std::vector<std::string> codes) {
  if (codes.empty()) return;
  std::sort(codes.begin(), codes.end());
  codes.erase(std::unique(codes.begin(), codes.end()), codes.end());
  const auto owners = run("lock_tickets", pg::Params().add(pg::array_literal(codes)));
  std::vector<std::string> uids;
  uids.reserve(static_cast<std::size_t>(owners.rows()));
  for (int i = 0; i < owners.rows(); ++i) uids.push_back(owners.text(i, 0));
  if (uids.empty()) return;
  std::sort(uids.begin(), uids.end());
  uids.erase(std::unique(uids.begin(), uids.end()), uids.end());
  const auto array = pg::array_literal(uids);
  run("make_users", pg::Params().add(array));
  run("lock_users", pg::Params().add(array));
}

void PgStore::savepoint() {
  conn_->exec("SAVEPOINT task");
}

void PgStore::release_savepoint() {
  conn_->exec("RELEASE task");
}

void PgStore::rollback_to_savepoint() {
  conn_->exec("ROLLBACK TO task");
  conn_->exec("RELEASE task");
}

void PgStore::insert_ticket(const Ticket& t) {
  const auto& u = t.usage;
  pg::Params p;
  p.add(t.code).add(t.uid).add(t.holder).add(t.max_entries);
  p.add(std::int64_t{t.reentry ? 1 : 0}).add(t.valid_from).add(t.valid_until);
  p.add(stored::gates_to_text(t.gates)).add(std::int64_t{t.revoked ? 1 : 0}).add(t.created_at);
  p.add(u.entries).add(std::int64_t{u.inside ? 1 : 0});
  if (u.last_entry) {
    p.add(u.last_entry->at).add(u.last_entry->gate).add(u.last_entry->scanner);
  } else {
    p.add_null().add_null().add_null();
  }
  try {
    run("insert_ticket", p);
  } catch (const pg::Error& e) {
    if (e.sqlstate() == "23505") throw DuplicateTicket("a ticket with code " + t.code + " exists");
    throw;
  }
}

std::optional<Ticket> PgStore::find_ticket(const std::string& code) {
  const auto r = run(in_write_ ? "find_ticket_locked" : "find_ticket", pg::Params().add(code));
  if (r.rows() == 0) return std::nullopt;
  return ticket_row(r);
}

void PgStore::save_usage(const std::string& code, const TicketUsage& u) {
  pg::Params p;
  p.add(code).add(u.entries).add(std::int64_t{u.inside ? 1 : 0});
  if (u.last_entry) {
    p.add(u.last_entry->at).add(u.last_entry->gate).add(u.last_entry->scanner);
  } else {
    p.add_null().add_null().add_null();
  }
  run("save_usage", p);
}

bool PgStore::revoke_ticket(const std::string& code) {
  if (run("revoke", pg::Params().add(code)).changed() > 0) return true;
  return find_ticket(code).has_value();  // already revoked counts as done
}

std::optional<std::string> PgStore::find_result(const std::string& scan_id) {
  const auto r = run("find_result", pg::Params().add(scan_id));
  if (r.rows() == 0) return std::nullopt;
  return r.text(0, 0);
}

void PgStore::record_scan(const ScanRecord& s) {
  pg::Params p;
  p.add(s.scan_id).add(s.code).add(s.scanner).add(s.gate).add(s.direction);
  p.add(s.scanned_at).add(s.decided_at).add(s.status).add(s.reason).add(s.result);
  p.add(s.claimed_gate);
  run("record_scan", p);
}

std::vector<ScanRecord> PgStore::recent_scans(const std::string& code, int limit) {
  const auto r = run("recent_scans", pg::Params().add(code).add(std::int64_t{limit}));
  std::vector<ScanRecord> out;
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back(ScanRecord{r.opt_text(i, 0), r.opt_text(i, 1), r.opt_text(i, 2), r.opt_text(i, 3),
                             r.opt_text(i, 4), r.opt_int64(i, 5), r.int64(i, 6), r.text(i, 7),
                             r.text(i, 8), r.text(i, 9), r.opt_text(i, 10)});
  }
  return out;
}

std::optional<std::string> PgStore::recent_result(const std::string& code,
                                                  const std::string& scanner, Direction direction,
                                                  Millis since) {
  pg::Params p;
  p.add(code).add(scanner).add(std::string(to_string(direction))).add(since);
  p.add(std::int64_t{kRepeatLookback});
  const auto r = run("recent_result", p);
  if (r.rows() == 0) return std::nullopt;
  return r.text(0, 0);
}

std::optional<ScannerConfig> PgStore::find_scanner(const std::string& id) {
  const auto r = run("find_scanner", pg::Params().add(id));
  if (r.rows() == 0) return std::nullopt;
  return scanner_row(r, 0);
}

void PgStore::set_scanner(const ScannerConfig& c) {
  pg::Params p;
  p.add(c.id).add(c.gate).add(std::string(to_string(c.direction))).add(c.updated_at);
  run("set_scanner", p);
}

bool PgStore::remove_scanner(const std::string& id) {
  return run("remove_scanner", pg::Params().add(id)).changed() > 0;
}

std::vector<ScannerConfig> PgStore::scanners() {
  const auto r = run("list_scanners");
  std::vector<ScannerConfig> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(scanner_row(r, i));
  return out;
}

StoredEvent PgStore::append_event(const std::string& uid, Millis at, nlohmann::json& event) {
  const std::int64_t seq = run("next_seq", pg::Params().add(uid)).int64(0, 0);
  event["seq"] = seq;
  StoredEvent out{uid, seq, at, event.dump()};
  if (const auto code = event.find("code"); code != event.end() && code->is_string()) {
    out.code = code->get<std::string>();
  }
  pg::Params p;
  p.add(uid).add(seq).add(at).add(out.body);
  if (out.code.empty()) {
    p.add_null();
  } else {
    p.add(out.code);
  }
  run("insert_event", p);
  return out;
}

std::int64_t PgStore::last_seq(const std::string& uid) {
  const auto r = run("last_seq", pg::Params().add(uid));
  return r.rows() == 0 ? 0 : r.int64(0, 0);
}

std::vector<StoredEvent> PgStore::events_after(const std::string& uid, std::int64_t since,
                                               int limit, std::size_t max_bytes,
                                               std::string_view scope) {
  const auto r =
      run("events_after", pg::Params().add(uid).add(since).add(std::int64_t{limit}).add(scope));
  std::vector<StoredEvent> out;
  std::size_t bytes = 0;
  for (int i = 0; i < r.rows() && bytes < max_bytes; ++i) {
    out.push_back(StoredEvent{uid, r.int64(i, 0), r.int64(i, 1), r.text(i, 2),
                              r.opt_text(i, 3).value_or("")});
    bytes += out.back().body.size();
  }
  return out;
}

std::int64_t PgStore::prune_events(std::int64_t keep_per_uid, Millis min_at,
                                   std::int64_t max_rows) {
  // Inside a transaction, the turn is held to its end; another bridge's prune skips meanwhile.
  if (in_tx_ && run("prune_turn").text(0, 0) != "t") return 0;
  return run("prune", pg::Params().add(min_at).add(keep_per_uid).add(max_rows)).changed();
}

void PgStore::set_acked(const std::string& uid, std::int64_t seq) {
  run("set_acked", pg::Params().add(uid).add(seq));
}

std::vector<StoredEvent> PgStore::unacked_events(const std::string& after_uid,
                                                 std::int64_t after_seq, int limit) {
  const auto r =
      run("unacked", pg::Params().add(after_uid).add(after_seq).add(std::int64_t{limit}));
  std::vector<StoredEvent> out;
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back(StoredEvent{r.text(i, 0), r.int64(i, 1), r.int64(i, 2), r.text(i, 3)});
  }
  return out;
}

void PgStore::ping() {
  run("ping");
}

void PgStore::probe_write() {
  Transaction tx(*this);
  run("probe_write");
  tx.commit();
}

}  // namespace tb
