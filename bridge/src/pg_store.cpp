// PostgreSQL schema and queries of the ticket store (pg_store.hpp).
#include "pg_store.hpp"

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <unordered_set>

namespace tb {

namespace {

// 1: the schema of SqliteStore's version 3, in PostgreSQL's types, with events.code stored.
// 2: tickets.signed_code (SqliteStore's version 4). 3: tickets.rotating (SqliteStore's 5).
// 4: scans.offline and scans.conflict (SqliteStore's 6). 5: the outbox table, in place of
// users.mqtt_acked_seq (SqliteStore's 7).
constexpr int kSchemaVersion = 5;
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
  last_in_scanner TEXT,
  signed_code     TEXT,
  rotating        SMALLINT NOT NULL DEFAULT 0
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
  claimed_gate TEXT,
  offline      TEXT,
  conflict     SMALLINT NOT NULL DEFAULT 0
);
CREATE INDEX scans_code ON scans(code, id);

CREATE TABLE users (
  uid            TEXT COLLATE "C" PRIMARY KEY,
  last_seq       BIGINT NOT NULL
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

-- The events the broker has not acknowledged yet (outbox.hpp), from commit to a bridge's PUBACK.
CREATE TABLE outbox (
  uid TEXT COLLATE "C" NOT NULL,
  seq BIGINT NOT NULL,
  PRIMARY KEY (uid, seq)
);

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
    "created_at, entries, inside, last_in_at, last_in_gate, last_in_scanner, signed_code, "
    "rotating";

struct Statement {
  const char* name;
  std::string sql;
};

std::vector<Statement> statements() {
  const std::string cols = kTicketColumns;
  return {
      {"insert_ticket",
       "INSERT INTO tickets (" + cols +
           ") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)"},
      {"find_ticket", "SELECT " + cols + " FROM tickets WHERE code = $1"},
      {"find_ticket_locked", "SELECT " + cols + " FROM tickets WHERE code = $1 FOR UPDATE"},
      {"save_usage",
       "UPDATE tickets SET entries = $2, inside = $3, last_in_at = $4, last_in_gate = $5, "
       "last_in_scanner = $6 WHERE code = $1"},
      {"revoke", "UPDATE tickets SET revoked = 1 WHERE code = $1"},
      {"find_result", "SELECT result FROM scans WHERE scan_id = $1"},
      {"record_scan",
       "INSERT INTO scans (scan_id, code, scanner, gate, direction, scanned_at, decided_at, "
       "status, reason, result, claimed_gate, offline, conflict) "
       "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)"},
      {"record_offline",
       "UPDATE scans SET offline = $2, conflict = $3, result = $4 "
       "WHERE scan_id = $1 AND offline IS NULL"},
      {"recent_scans",
       "SELECT scan_id, code, scanner, gate, direction, scanned_at, decided_at, status, reason, "
       "result, claimed_gate, offline, conflict FROM scans WHERE code = $1 ORDER BY id DESC "
       "LIMIT $2"},
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
      {"feed_tickets", Store::kFeedTicketsSql},
      {"venue_counts", Store::kVenueCountsSql},
      {"next_seq",
       "INSERT INTO users (uid, last_seq) VALUES ($1, 1) "
       "ON CONFLICT (uid) DO UPDATE SET last_seq = users.last_seq + 1 RETURNING last_seq"},
      // Every event is queued in the outbox by the statement that stores it.
      {"insert_event",
       "WITH e AS (INSERT INTO events (uid, seq, at, body, code) VALUES ($1,$2,$3,$4,$5) "
       "RETURNING uid, seq) INSERT INTO outbox (uid, seq) SELECT uid, seq FROM e"},
      {"last_seq", "SELECT last_seq FROM users WHERE uid = $1"},
      {"events_after",
       "SELECT seq, at, body, code FROM events WHERE uid = $1 AND seq > $2 "
       "AND ($4::text = '' OR code IS NULL OR code = $4::text) ORDER BY seq LIMIT $3"},
      {"ping", "SELECT 1"},
      // A batch's read-ahead (prepare_decisions), its rows locked in order: its tickets by code,
      // then their owners' seq rows by uid, made first when missing (last_seq 0: none yet).
      {"batch_tickets",
       "SELECT " + cols + " FROM tickets WHERE code = ANY($1::text[]) ORDER BY code FOR UPDATE"},
      {"batch_make_users",
       "INSERT INTO users (uid, last_seq) SELECT DISTINCT uid, 0 FROM tickets "
       "WHERE code = ANY($1::text[]) ORDER BY 1 ON CONFLICT (uid) DO NOTHING"},
      {"batch_users",
       "SELECT uid, last_seq FROM users WHERE uid IN "
       "(SELECT uid FROM tickets WHERE code = ANY($1::text[])) ORDER BY uid FOR UPDATE"},
      {"batch_results", "SELECT scan_id, result FROM scans WHERE scan_id = ANY($1::text[])"},
      // The last scans of each code, oldest first (recent_result's lookback).
      {"batch_recent",
       "SELECT c.code, r.scanner, r.direction, r.decided_at, r.result "
       "FROM unnest($1::text[]) AS c(code) CROSS JOIN LATERAL (SELECT id, scanner, direction, "
       "decided_at, result FROM scans s WHERE s.code = c.code ORDER BY id DESC LIMIT $2) r "
       "ORDER BY c.code, r.id"},
      {"batch_scanners",
       "SELECT id, gate, direction, updated_at FROM scanners WHERE id = ANY($1::text[])"},
      // A batch's writes, one statement per table, each row an element of the arrays.
      {"write_usage",
       "UPDATE tickets t SET entries = u.entries, inside = u.inside, last_in_at = u.at, "
       "last_in_gate = u.gate, last_in_scanner = u.scanner FROM unnest($1::text[], $2::bigint[], "
       "$3::smallint[], $4::bigint[], $5::text[], $6::text[]) AS u(code, entries, inside, at, "
       "gate, scanner) WHERE t.code = u.code"},
      {"write_scans",
       "INSERT INTO scans (scan_id, code, scanner, gate, direction, scanned_at, decided_at, "
       "status, reason, result, claimed_gate, offline, conflict) "
       "SELECT a, b, c, d, e, f, g, h, i, j, k, l, m FROM "
       "unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], "
       "$7::bigint[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], "
       "$13::smallint[]) WITH ORDINALITY AS r(a, b, c, d, e, f, g, h, i, j, k, l, m, n) "
       "ORDER BY n"},
      {"write_seqs",
       "UPDATE users u SET last_seq = s.seq FROM unnest($1::text[], $2::bigint[]) AS s(uid, seq) "
       "WHERE u.uid = s.uid"},
      {"write_events",
       "WITH e AS (INSERT INTO events (uid, seq, at, body, code) "
       "SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[]) "
       "RETURNING uid, seq) INSERT INTO outbox (uid, seq) SELECT uid, seq FROM e"},
      {"settle",
       "DELETE FROM outbox o USING unnest($1::text[], $2::bigint[]) AS s(uid, seq) "
       "WHERE o.uid = s.uid AND o.seq = s.seq"},
      {"unsettled",
       "SELECT e.uid, e.seq, e.at, e.body FROM outbox o JOIN events e "
       "ON e.uid = o.uid AND e.seq = o.seq "
       "WHERE (o.uid, o.seq) > ($1::text, $2::bigint) AND e.at < $3 "
       "ORDER BY o.uid, o.seq LIMIT $4"},
      // Retention runs on every bridge each minute; one at a time does the work.
      {"prune_turn", "SELECT pg_try_advisory_xact_lock(7627010331)"},
      // An event gone unsettled leaves the outbox with it: nothing is left to publish.
      {"prune",
       "WITH d AS (DELETE FROM events WHERE (uid, seq) IN (SELECT e.uid, e.seq FROM events e "
       "JOIN users u ON u.uid = e.uid WHERE e.at < $1 OR e.seq <= u.last_seq - $2 LIMIT $3) "
       "RETURNING uid, seq), o AS (DELETE FROM outbox o USING d "
       "WHERE o.uid = d.uid AND o.seq = d.seq) SELECT count(*) FROM d"},
      // 256 KiB that do not compress (the column is stored EXTERNAL), rewritten in place.
      {"probe_write",
       "INSERT INTO write_probe (id, pad) SELECT 1, string_agg(md5(random()::text), '') "
       "FROM generate_series(1, 8192) ON CONFLICT (id) DO UPDATE SET pad = EXCLUDED.pad"},
  };
}

Ticket ticket_row(const pg::Result& r, int row = 0) {
  Ticket t;
  t.code = r.text(row, 0);
  t.uid = r.text(row, 1);
  t.holder = r.opt_text(row, 2);
  t.max_entries = r.int64(row, 3);
  t.reentry = r.int64(row, 4) != 0;
  t.valid_from = r.opt_int64(row, 5);
  t.valid_until = r.opt_int64(row, 6);
  t.gates = stored::gates_from_text(r.opt_text(row, 7));
  t.revoked = r.int64(row, 8) != 0;
  t.created_at = r.int64(row, 9);
  t.usage.entries = r.int64(row, 10);
  t.usage.inside = r.int64(row, 11) != 0;
  if (!r.is_null(row, 12)) {
    t.usage.last_entry = EntryRecord{r.int64(row, 12), r.opt_text(row, 13), r.opt_text(row, 14)};
  }
  t.signed_code = r.opt_text(row, 15);
  t.rotating = r.int64(row, 16) != 0;
  return t;
}

ScannerConfig scanner_row(const pg::Result& r, int row) {
  return ScannerConfig{r.text(row, 0), r.text(row, 1),
                       r.text(row, 2) == "out" ? Direction::Out : Direction::In, r.int64(row, 3)};
}

using Undo = std::vector<std::function<void()>>;

// Sets m[key], with the step that undoes it logged.
template <typename Map, typename V>
void set_undoable(Undo& undo, Map& m, const std::string& key, V value) {
  if (auto it = m.find(key); it != m.end()) {
    undo.push_back([&m, key, old = it->second] { m.insert_or_assign(key, old); });
    it->second = std::move(value);
  } else {
    m.emplace(key, std::move(value));
    undo.push_back([&m, key] { m.erase(key); });
  }
}

// Drops m[key], with the step that undoes it logged.
template <typename Map>
void forget_undoable(Undo& undo, Map& m, const std::string& key) {
  if (auto it = m.find(key); it != m.end()) {
    undo.push_back([&m, key, old = it->second] { m.insert_or_assign(key, old); });
    m.erase(it);
  }
}

template <std::size_t N>
pg::Params params_of(const std::array<pg::ArrayParam, N>& columns) {
  pg::Params p;
  for (const auto& c : columns) p.add(c.literal());
  return p;
}

void sort_unique(std::vector<std::string>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

}  // namespace

// A batch of decisions (prepare_decisions): the rows read ahead, locked by this transaction, and
// kept up to date by the batch's own writes; and the rows to write, gathered per table until the
// next statement or the COMMIT takes them along (gather_rows).
struct PgStore::Batch {
  std::unordered_map<std::string, std::optional<Ticket>> tickets;  // by code; nullopt: none
  std::unordered_map<std::string, std::int64_t> seqs;              // a uid's last seq
  std::unordered_set<std::string> scan_ids_read;                   // looked up ahead
  std::unordered_map<std::string, std::string> results;            // a scan_id's answer
  std::unordered_map<std::string, std::optional<ScannerConfig>> scanners;
  // A code's last scans, oldest first: those read ahead, then the batch's own.
  struct Recent {
    std::optional<std::string> scanner;
    std::optional<std::string> direction;
    Millis decided_at = 0;
    std::string result;
  };
  std::unordered_map<std::string, std::vector<Recent>> recent;
  Undo undo;  // restores the maps when a task's savepoint is rolled back, newest first

  std::map<std::string, TicketUsage> usage;  // by code; the last wins
  std::array<pg::ArrayParam, 13> scans;
  std::map<std::string, std::int64_t> last_seqs;
  std::array<pg::ArrayParam, 5> events;

  bool has_rows() const {
    return !usage.empty() || !scans[0].empty() || !last_seqs.empty() || !events[0].empty();
  }
  void clear_rows() {
    usage.clear();
    scans = {};
    last_seqs.clear();
    events = {};
  }
};

PgStore::~PgStore() = default;

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
    } else if (version < kSchemaVersion) {
      if (version < 2) c.exec("ALTER TABLE tickets ADD COLUMN signed_code TEXT");
      if (version < 3)
        c.exec("ALTER TABLE tickets ADD COLUMN rotating SMALLINT NOT NULL DEFAULT 0");
      if (version < 4) {
        c.exec(
            "ALTER TABLE scans ADD COLUMN offline TEXT, "
            "ADD COLUMN conflict SMALLINT NOT NULL DEFAULT 0");
      }
      if (version < 5) {
        // What the per-uid mark had not seen acknowledged goes on waiting, as rows.
        c.exec(
            "CREATE TABLE outbox (uid TEXT COLLATE \"C\" NOT NULL, seq BIGINT NOT NULL, "
            "PRIMARY KEY (uid, seq))");
        c.exec(
            "INSERT INTO outbox (uid, seq) SELECT e.uid, e.seq FROM users u JOIN events e "
            "ON e.uid = u.uid AND e.seq > u.mqtt_acked_seq");
        c.exec("ALTER TABLE users DROP COLUMN mqtt_acked_seq");
      }
      c.exec("UPDATE tb_schema SET version = " + std::to_string(kSchemaVersion));
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
  if ((!conn_->ok() || !prepared_) && may_reconnect()) {
    prepared_ = false;
    if (!conn_->ok()) conn_->reset();
    prepare_all();
    prepared_ = true;
  }
  return *conn_;
}

// A call that finds the connection dead (the server restarted, a failover) connects again and is
// made once more, unless it is inside a transaction the server had begun: libpq only learns of
// it by trying.
template <typename F>
pg::Result PgStore::with_retry(F&& call) {
  try {
    return call(conn());
  } catch (const pg::Error&) {
    if (!may_reconnect() || conn_->ok()) throw;
    return call(conn());
  }
}

void PgStore::queue_sql(const char* sql) {
  queued_.push_back(pg::Call{"", {}, sql});
}

void PgStore::gather_rows() {
  if (!batch_ || !batch_->has_rows()) return;
  auto& b = *batch_;
  if (!b.usage.empty()) {
    std::array<pg::ArrayParam, 6> cols;
    for (const auto& [code, u] : b.usage) {
      cols[0].add(std::string_view(code));
      cols[1].add(u.entries);
      cols[2].add(std::int64_t{u.inside ? 1 : 0});
      if (u.last_entry) {
        cols[3].add(u.last_entry->at);
        cols[4].add(u.last_entry->gate);
        cols[5].add(u.last_entry->scanner);
      } else {
        cols[3].add_null();
        cols[4].add_null();
        cols[5].add_null();
      }
    }
    queued_.push_back(pg::Call{"write_usage", params_of(cols)});
  }
  if (!b.scans[0].empty()) queued_.push_back(pg::Call{"write_scans", params_of(b.scans)});
  if (!b.last_seqs.empty()) {
    std::array<pg::ArrayParam, 2> cols;
    for (const auto& [uid, seq] : b.last_seqs) {
      cols[0].add(std::string_view(uid));
      cols[1].add(seq);
    }
    queued_.push_back(pg::Call{"write_seqs", params_of(cols)});
  }
  if (!b.events[0].empty()) queued_.push_back(pg::Call{"write_events", params_of(b.events)});
  b.clear_rows();
}

// A connection found lost before anything of the transaction reached the server is made again and
// the pipeline sent once more, unless it holds the COMMIT (`may_repeat` false): the server may
// have committed before the connection went.
//
// A failure of a queued statement is not the fault of the call that sent it along: it reaches
// that call as neither a constraint error nor its own (a task's savepoint does not hide it), and
// the batch runs again or fails.
std::vector<pg::Result> PgStore::flush(bool may_repeat) {
  gather_rows();
  std::vector<pg::Call> calls = std::move(queued_);
  queued_.clear();
  if (calls.empty()) return {};
  ++flushes_;
  for (int attempt = 0;; ++attempt) {
    try {
      auto out = conn().pipeline(calls);
      tx_sent_ = in_tx_;
      return out;
    } catch (const pg::Error& e) {
      if (conn_->ok()) {
        tx_sent_ = in_tx_;
      } else if (attempt == 0 && may_repeat && may_reconnect()) {
        continue;  // nothing of it was done: made again on a new connection
      }
      throw;
    }
  }
}

pg::Result PgStore::run(const char* name, const pg::Params& params) {
  gather_rows();
  if (queued_.empty()) return with_retry([&](pg::Conn& c) { return c.run(name, params); });
  queued_.push_back(pg::Call{name, params});
  const std::size_t own = queued_.size() - 1;
  try {
    auto done = flush();
    return std::move(done.back());
  } catch (const pg::PipelineError& e) {
    if (e.index() == own) throw;
    throw DbError(e.what(), false, e.is_conflict());
  }
}

void PgStore::begin() {
  if (in_tx_) throw pg::Error("a transaction is open already", "25001");
  queued_.clear();
  queue_sql("BEGIN");  // sent with the transaction's first statement
  in_tx_ = in_write_ = true;
  tx_sent_ = false;
}

void PgStore::commit() {
  gather_rows();
  // BEGIN alone: nothing of the transaction reached the server, and nothing is to be done.
  const bool nothing = !tx_sent_ && queued_.size() == 1;
  std::vector<pg::Result> done;
  if (!nothing) {
    queue_sql("COMMIT");
    try {
      done = flush(false);
    } catch (const pg::PipelineError& e) {
      throw DbError(e.what(), false, e.is_conflict());  // the commit as a whole failed
    }
  }
  in_tx_ = in_write_ = tx_sent_ = false;
  queued_.clear();  // BEGIN alone stays behind when nothing was sent
  batch_.reset();
  savepoint_.reset();
  // COMMIT of a transaction that failed answers ROLLBACK, without an error.
  if (!nothing && done.back().tag() != "COMMIT") {
    throw pg::Error("the transaction was rolled back", "40000");
  }
}

void PgStore::rollback() {
  const bool sent = tx_sent_;
  in_tx_ = in_write_ = tx_sent_ = false;
  queued_.clear();
  batch_.reset();
  savepoint_.reset();
  if (sent && conn_->ok()) conn_->exec("ROLLBACK");
}

void PgStore::begin_read() {
  if (in_tx_) throw pg::Error("a transaction is open already", "25001");
  with_retry([](pg::Conn& c) { return c.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); });
  in_tx_ = tx_sent_ = true;
}

void PgStore::end_read() {
  in_tx_ = tx_sent_ = false;
  conn_->exec("COMMIT");
}

void PgStore::abort_read() {
  in_tx_ = tx_sent_ = false;
  if (conn_->ok()) conn_->exec("ROLLBACK");
}

void PgStore::prepare_decisions(DecisionKeys keys) {
  sort_unique(keys.codes);
  sort_unique(keys.scan_ids);
  sort_unique(keys.scanners);
  sort_unique(keys.repeat_codes);
  auto b = std::make_unique<Batch>();
  gather_rows();
  const std::size_t first = queued_.size();
  if (!keys.codes.empty()) {
    const auto codes = pg::Params().add(pg::array_literal(keys.codes));
    queued_.push_back(pg::Call{"batch_tickets", codes});
    queued_.push_back(pg::Call{"batch_make_users", codes});
    queued_.push_back(pg::Call{"batch_users", codes});
  }
  if (!keys.scan_ids.empty()) {
    queued_.push_back(
        pg::Call{"batch_results", pg::Params().add(pg::array_literal(keys.scan_ids))});
  }
  if (!keys.scanners.empty()) {
    queued_.push_back(
        pg::Call{"batch_scanners", pg::Params().add(pg::array_literal(keys.scanners))});
  }
  if (!keys.repeat_codes.empty()) {
    queued_.push_back(pg::Call{
        "batch_recent",
        pg::Params().add(pg::array_literal(keys.repeat_codes)).add(std::int64_t{kRepeatLookback})});
  }
  const std::size_t ours = queued_.size() - first;
  if (ours > 0) {
    const auto done = flush();
    std::size_t i = done.size() - ours;
    if (!keys.codes.empty()) {
      const auto& tickets = done[i];
      for (int row = 0; row < tickets.rows(); ++row) {
        auto t = ticket_row(tickets, row);
        b->tickets.emplace(t.code, std::move(t));
      }
      for (const auto& code : keys.codes) b->tickets.emplace(code, std::nullopt);
      const auto& users = done[i + 2];
      for (int row = 0; row < users.rows(); ++row) {
        b->seqs.emplace(users.text(row, 0), users.int64(row, 1));
      }
      i += 3;
    }
    if (!keys.scan_ids.empty()) {
      const auto& results = done[i++];
      for (int row = 0; row < results.rows(); ++row) {
        b->results.emplace(results.text(row, 0), results.text(row, 1));
      }
      b->scan_ids_read.insert(keys.scan_ids.begin(), keys.scan_ids.end());
    }
    if (!keys.scanners.empty()) {
      const auto& scanners = done[i++];
      for (int row = 0; row < scanners.rows(); ++row) {
        auto c = scanner_row(scanners, row);
        b->scanners.emplace(c.id, std::move(c));
      }
      for (const auto& id : keys.scanners) b->scanners.emplace(id, std::nullopt);
    }
    if (!keys.repeat_codes.empty()) {
      for (const auto& code : keys.repeat_codes) b->recent[code];
      const auto& recent = done[i];
      for (int row = 0; row < recent.rows(); ++row) {
        b->recent[recent.text(row, 0)].push_back(
            Batch::Recent{recent.opt_text(row, 1), recent.opt_text(row, 2), recent.int64(row, 3),
                          recent.text(row, 4)});
      }
    }
  }
  batch_ = std::move(b);
}

// A savepoint costs no round trip of its own: SAVEPOINT and RELEASE go with the next statement,
// and a task that sent nothing to the server is rolled back by dropping what it queued.
void PgStore::savepoint() {
  gather_rows();
  savepoint_ = Savepoint{queued_.size(), batch_ ? batch_->undo.size() : 0, flushes_};
  queue_sql("SAVEPOINT task");
}

void PgStore::release_savepoint() {
  savepoint_.reset();
  queue_sql("RELEASE task");
}

void PgStore::rollback_to_savepoint() {
  if (!savepoint_) throw pg::Error("no savepoint to roll back to", "3B001");
  const Savepoint mark = *savepoint_;
  savepoint_.reset();
  if (batch_) {
    batch_->clear_rows();  // gathered since the savepoint: the task's own
    while (batch_->undo.size() > mark.undo) {
      batch_->undo.back()();
      batch_->undo.pop_back();
    }
  }
  if (flushes_ == mark.flushes) {
    queued_.erase(queued_.begin() + static_cast<std::ptrdiff_t>(mark.queued), queued_.end());
    return;
  }
  queue_sql("ROLLBACK TO task");
  queue_sql("RELEASE task");
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
  p.add(t.signed_code).add(std::int64_t{t.rotating ? 1 : 0});
  try {
    run("insert_ticket", p);
  } catch (const pg::Error& e) {
    if (e.sqlstate() == "23505") {
      forget_missing_ticket(t.code);
      throw DuplicateTicket("a ticket with code " + t.code + " exists");
    }
    throw;
  }
  if (batch_) set_undoable(batch_->undo, batch_->tickets, t.code, std::optional<Ticket>(t));
}

// A code the read-ahead found missing (not locked, so another connection may add it): a write
// that shows it exists drops that from the batch, so the next read asks the server.
void PgStore::forget_missing_ticket(const std::string& code) {
  if (!batch_) return;
  if (auto it = batch_->tickets.find(code); it != batch_->tickets.end() && !it->second) {
    forget_undoable(batch_->undo, batch_->tickets, code);
  }
}

std::optional<Ticket> PgStore::find_ticket(const std::string& code) {
  if (batch_) {
    if (auto it = batch_->tickets.find(code); it != batch_->tickets.end()) return it->second;
  }
  const auto r = run(in_write_ ? "find_ticket_locked" : "find_ticket", pg::Params().add(code));
  if (r.rows() == 0) return std::nullopt;
  auto t = ticket_row(r);
  // Locked now: nobody else changes it before the commit.
  if (batch_) set_undoable(batch_->undo, batch_->tickets, code, std::optional<Ticket>(t));
  return t;
}

void PgStore::save_usage(const std::string& code, const TicketUsage& u) {
  if (batch_) {
    if (auto it = batch_->tickets.find(code); it != batch_->tickets.end() && it->second) {
      auto t = *it->second;
      t.usage = u;
      set_undoable(batch_->undo, batch_->tickets, code, std::optional<Ticket>(std::move(t)));
    }
    batch_->usage.insert_or_assign(code, u);
    return;
  }
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
  if (run("revoke", pg::Params().add(code)).changed() > 0) {
    if (batch_) {
      if (auto it = batch_->tickets.find(code); it != batch_->tickets.end() && it->second) {
        auto t = *it->second;
        t.revoked = true;
        set_undoable(batch_->undo, batch_->tickets, code, std::optional<Ticket>(std::move(t)));
      } else {
        forget_missing_ticket(code);  // another connection added it since the read-ahead
      }
    }
    return true;
  }
  forget_missing_ticket(code);
  return find_ticket(code).has_value();  // already revoked counts as done
}

std::optional<std::string> PgStore::find_result(const std::string& scan_id) {
  if (batch_) {
    if (auto it = batch_->results.find(scan_id); it != batch_->results.end()) return it->second;
    if (batch_->scan_ids_read.count(scan_id) > 0) return std::nullopt;
  }
  const auto r = run("find_result", pg::Params().add(scan_id));
  if (r.rows() == 0) return std::nullopt;
  return r.text(0, 0);
}

void PgStore::record_scan(const ScanRecord& s) {
  if (batch_) {
    auto& c = batch_->scans;
    c[0].add(s.scan_id);
    c[1].add(s.code);
    c[2].add(s.scanner);
    c[3].add(s.gate);
    c[4].add(s.direction);
    c[5].add(s.scanned_at);
    c[6].add(s.decided_at);
    c[7].add(std::string_view(s.status));
    c[8].add(std::string_view(s.reason));
    c[9].add(std::string_view(s.result));
    c[10].add(s.claimed_gate);
    c[11].add(s.offline);
    c[12].add(std::int64_t{s.conflict ? 1 : 0});
    if (s.scan_id) set_undoable(batch_->undo, batch_->results, *s.scan_id, s.result);
    if (s.code) {
      if (auto it = batch_->recent.find(*s.code); it != batch_->recent.end()) {
        auto& scans = it->second;
        scans.push_back(Batch::Recent{s.scanner, s.direction, s.decided_at, s.result});
        batch_->undo.push_back([&scans] { scans.pop_back(); });
      }
    }
    return;
  }
  pg::Params p;
  p.add(s.scan_id).add(s.code).add(s.scanner).add(s.gate).add(s.direction);
  p.add(s.scanned_at).add(s.decided_at).add(s.status).add(s.reason).add(s.result);
  p.add(s.claimed_gate).add(s.offline).add(std::int64_t{s.conflict ? 1 : 0});
  run("record_scan", p);
}

bool PgStore::record_offline(const std::string& scan_id, const std::string& offline, bool conflict,
                             const std::string& result) {
  // Rare (a lost answer, then the gate's verdict): a round trip of its own. The batch's rows
  // held so far go first, so a scan recorded earlier in the batch is there to update.
  const auto r =
      run("record_offline",
          pg::Params().add(scan_id).add(offline).add(std::int64_t{conflict ? 1 : 0}).add(result));
  const bool done = r.changed() > 0;
  if (done && batch_) set_undoable(batch_->undo, batch_->results, scan_id, result);
  return done;
}

std::vector<ScanRecord> PgStore::recent_scans(const std::string& code, int limit) {
  const auto r = run("recent_scans", pg::Params().add(code).add(std::int64_t{limit}));
  std::vector<ScanRecord> out;
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back(ScanRecord{r.opt_text(i, 0), r.opt_text(i, 1), r.opt_text(i, 2), r.opt_text(i, 3),
                             r.opt_text(i, 4), r.opt_int64(i, 5), r.int64(i, 6), r.text(i, 7),
                             r.text(i, 8), r.text(i, 9), r.opt_text(i, 10), r.opt_text(i, 11),
                             r.int64(i, 12) != 0});
  }
  return out;
}

std::optional<std::string> PgStore::recent_result(const std::string& code,
                                                  const std::string& scanner, Direction direction,
                                                  Millis since) {
  if (batch_) {
    if (auto it = batch_->recent.find(code); it != batch_->recent.end()) {
      const auto& scans = it->second;
      const std::string dir(to_string(direction));
      constexpr auto lookback = static_cast<std::size_t>(kRepeatLookback);
      const std::size_t from = scans.size() > lookback ? scans.size() - lookback : 0;
      for (std::size_t k = scans.size(); k > from; --k) {
        const auto& r = scans[k - 1];
        if (r.scanner == scanner && r.direction == dir && r.decided_at >= since) return r.result;
      }
      return std::nullopt;
    }
  }
  pg::Params p;
  p.add(code).add(scanner).add(std::string(to_string(direction))).add(since);
  p.add(std::int64_t{kRepeatLookback});
  const auto r = run("recent_result", p);
  if (r.rows() == 0) return std::nullopt;
  return r.text(0, 0);
}

std::optional<ScannerConfig> PgStore::find_scanner(const std::string& id) {
  if (batch_) {
    if (auto it = batch_->scanners.find(id); it != batch_->scanners.end()) return it->second;
  }
  const auto r = run("find_scanner", pg::Params().add(id));
  if (r.rows() == 0) return std::nullopt;
  return scanner_row(r, 0);
}

void PgStore::set_scanner(const ScannerConfig& c) {
  pg::Params p;
  p.add(c.id).add(c.gate).add(std::string(to_string(c.direction))).add(c.updated_at);
  run("set_scanner", p);
  if (batch_) forget_undoable(batch_->undo, batch_->scanners, c.id);
}

bool PgStore::remove_scanner(const std::string& id) {
  const bool removed = run("remove_scanner", pg::Params().add(id)).changed() > 0;
  if (batch_) forget_undoable(batch_->undo, batch_->scanners, id);
  return removed;
}

std::vector<Store::FeedTicket> PgStore::feed_tickets() {
  const auto r = run("feed_tickets");
  std::vector<FeedTicket> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back({r.text(i, 0), r.int64(i, 1), r.int64(i, 2) != 0, r.int64(i, 3) != 0});
  }
  return out;
}

Store::VenueCounts PgStore::venue_counts() {
  const auto r = run("venue_counts");
  VenueCounts out;
  if (r.rows() > 0) out = {r.int64(0, 0), r.int64(0, 1), r.int64(0, 2)};
  return out;
}

std::vector<ScannerConfig> PgStore::scanners() {
  const auto r = run("list_scanners");
  std::vector<ScannerConfig> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(scanner_row(r, i));
  return out;
}

StoredEvent PgStore::append_event(const std::string& uid, Millis at, nlohmann::json& event) {
  std::optional<std::int64_t> held;  // the batch holds the uid's row: the next seq is its own
  if (batch_) {
    if (auto it = batch_->seqs.find(uid); it != batch_->seqs.end()) held = it->second;
  }
  std::int64_t seq = 0;
  if (held) {
    seq = *held + 1;
    batch_->last_seqs.insert_or_assign(uid, seq);
  } else {
    seq = run("next_seq", pg::Params().add(uid)).int64(0, 0);  // locks the row from now on
  }
  if (batch_) set_undoable(batch_->undo, batch_->seqs, uid, seq);
  event["seq"] = seq;
  StoredEvent out{uid, seq, at, event.dump()};
  if (const auto code = event.find("code"); code != event.end() && code->is_string()) {
    out.code = code->get<std::string>();
  }
  if (batch_) {
    auto& c = batch_->events;
    c[0].add(std::string_view(uid));
    c[1].add(seq);
    c[2].add(at);
    c[3].add(std::string_view(out.body));
    if (out.code.empty()) {
      c[4].add_null();
    } else {
      c[4].add(std::string_view(out.code));
    }
    return out;
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
  if (batch_) {
    if (auto it = batch_->seqs.find(uid); it != batch_->seqs.end()) return it->second;
  }
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
  return run("prune", pg::Params().add(min_at).add(keep_per_uid).add(max_rows)).int64(0, 0);
}

void PgStore::settle_events(const std::vector<EventKey>& events) {
  if (events.empty()) return;
  std::array<pg::ArrayParam, 2> cols;
  for (const auto& [uid, seq] : events) {
    cols[0].add(std::string_view(uid));
    cols[1].add(seq);
  }
  run("settle", params_of(cols));
}

std::vector<StoredEvent> PgStore::unsettled_events(const std::string& after_uid,
                                                   std::int64_t after_seq, Millis before,
                                                   int limit) {
  const auto r = run(
      "unsettled", pg::Params().add(after_uid).add(after_seq).add(before).add(std::int64_t{limit}));
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
