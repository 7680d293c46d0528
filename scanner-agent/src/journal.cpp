// SQLite journal of unanswered scans.
#include "journal.hpp"

#include <openssl/rand.h>

#include <cstdio>
#include <functional>

namespace sa {

Journal::Journal(const std::string& path) : db_(path, true) {
  sqlite3_busy_timeout(db_.handle(), 5000);
  db_.exec("PRAGMA journal_mode=WAL");
  db_.exec("PRAGMA synchronous=FULL");
  db_.exec(R"sql(
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS queue (
      seq        INTEGER PRIMARY KEY AUTOINCREMENT,
      scan_id    TEXT NOT NULL UNIQUE,
      code       TEXT NOT NULL,
      payload    TEXT NOT NULL,
      created_at INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS known (
      code         TEXT PRIMARY KEY,
      entries      INTEGER NOT NULL,
      inside       INTEGER NOT NULL,
      revoked      INTEGER NOT NULL DEFAULT 0,
      last_at      INTEGER,
      last_gate    TEXT,
      last_scanner TEXT
    );
    -- What the bridge's feed says of signed tickets (gate_sync.hpp), by the feed's key.
    CREATE TABLE IF NOT EXISTS synced (
      key     TEXT PRIMARY KEY,
      entries INTEGER NOT NULL,
      inside  INTEGER NOT NULL,
      revoked INTEGER NOT NULL,
      at      INTEGER NOT NULL
    ) WITHOUT ROWID;
  )sql");
  // known.changed_at (when this gate last learnt of the ticket) came after the table: a journal
  // of before gets it with 0, older than any news from the feed.
  bool has_changed_at = false;
  for (auto cols = db_.prepare("PRAGMA table_info(known)"); cols.step();) {
    if (cols.text(1) == "changed_at") has_changed_at = true;
  }
  if (!has_changed_at) {
    db_.exec("ALTER TABLE known ADD COLUMN changed_at INTEGER NOT NULL DEFAULT 0");
  }
  // A random nonce per journal keeps scan ids unique even if two machines share a scanner id.
  auto get = db_.prepare("SELECT value FROM meta WHERE key = 'nonce'");
  if (get.step()) {
    nonce_ = get.text(0);
  } else {
    unsigned char b[4];
    RAND_bytes(b, sizeof b);
    char hex[9];
    std::snprintf(hex, sizeof hex, "%02x%02x%02x%02x", b[0], b[1], b[2], b[3]);
    nonce_ = hex;
    db_.prepare("INSERT INTO meta (key, value) VALUES ('nonce', ?1)").bind(1, nonce_).run();
    db_.prepare("INSERT INTO meta (key, value) VALUES ('counter', '0')").run();
  }
}

std::optional<QueuedScan> Journal::add_impl(
    const std::string& scanner, const std::string& code, std::size_t limit,
    const std::function<std::string(const std::string&)>& make) {
  db_.exec("BEGIN IMMEDIATE");
  try {
    if (size() >= limit) {
      db_.exec("ROLLBACK");
      return std::nullopt;
    }
    db_.exec("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'counter'");
    auto c = db_.prepare("SELECT value FROM meta WHERE key = 'counter'");
    c.step();
    char counter[24];
    std::snprintf(counter, sizeof counter, "%06lld", std::stoll(c.text(0)));
    QueuedScan q;
    q.scan_id = scanner + ":" + nonce_ + ":" + counter;
    q.code = code;
    q.payload = make(q.scan_id);
    q.created_at = tb::now_ms();
    db_.prepare("INSERT INTO queue (scan_id, code, payload, created_at) VALUES (?1, ?2, ?3, ?4)")
        .bind(1, q.scan_id)
        .bind(2, q.code)
        .bind(3, q.payload)
        .bind(4, q.created_at)
        .run();
    q.seq = sqlite3_last_insert_rowid(db_.handle());
    db_.exec("COMMIT");
    return q;
  } catch (...) {
    db_.exec("ROLLBACK");
    throw;
  }
}

bool Journal::remove(const std::string& scan_id) {
  db_.prepare("DELETE FROM queue WHERE scan_id = ?1").bind(1, scan_id).run();
  return db_.changes() > 0;
}

// Entries only grow; `inside` and the last entry follow the newest news.
void Journal::record_usage(const std::string& code, const tb::TicketUsage& u) {
  auto s = db_.prepare(R"sql(
    INSERT INTO known (code, entries, inside, last_at, last_gate, last_scanner, changed_at)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
    ON CONFLICT (code) DO UPDATE SET
      entries = max(entries, excluded.entries), inside = excluded.inside,
      changed_at = excluded.changed_at,
      last_at = coalesce(excluded.last_at, last_at),
      last_gate = CASE WHEN excluded.last_at IS NULL THEN last_gate ELSE excluded.last_gate END,
      last_scanner =
        CASE WHEN excluded.last_at IS NULL THEN last_scanner ELSE excluded.last_scanner END
  )sql");
  s.bind(1, code).bind(2, u.entries).bind(3, std::int64_t{u.inside ? 1 : 0});
  if (u.last_entry) {
    s.bind(4, u.last_entry->at);
    if (u.last_entry->gate) s.bind(5, *u.last_entry->gate);
    if (u.last_entry->scanner) s.bind(6, *u.last_entry->scanner);
  }
  s.bind(7, tb::now_ms());
  s.run();
}

void Journal::answered(const std::string& scan_id, const std::string& code,
                       const std::optional<tb::TicketUsage>& usage) {
  if (!usage) {
    remove(scan_id);
    return;
  }
  db_.exec("BEGIN IMMEDIATE");
  try {
    remove(scan_id);
    record_usage(code, *usage);
    db_.exec("COMMIT");
  } catch (...) {
    db_.exec("ROLLBACK");
    throw;
  }
}

void Journal::decided_offline(const std::string& scan_id, const std::string& payload,
                              const std::string& code,
                              const std::optional<tb::TicketUsage>& usage) {
  db_.exec("BEGIN IMMEDIATE");
  try {
    db_.prepare("UPDATE queue SET payload = ?2 WHERE scan_id = ?1")
        .bind(1, scan_id)
        .bind(2, payload)
        .run();
    if (usage) record_usage(code, *usage);
    db_.exec("COMMIT");
  } catch (...) {
    db_.exec("ROLLBACK");
    throw;
  }
}

std::optional<KnownUsage> Journal::known(const std::string& code,
                                         const std::optional<std::string>& sync_key) {
  std::optional<KnownUsage> own;
  tb::Millis own_at = 0;
  auto s = db_.prepare(
      "SELECT entries, inside, revoked, last_at, last_gate, last_scanner, changed_at FROM known "
      "WHERE code = ?1");
  s.bind(1, code);
  if (s.step()) {
    KnownUsage& k = own.emplace();
    k.usage.entries = s.int64(0);
    k.usage.inside = s.int64(1) != 0;
    k.revoked = s.int64(2) != 0;
    if (!s.is_null(3)) {
      tb::EntryRecord e;
      e.at = s.int64(3);
      if (!s.is_null(4)) e.gate = s.text(4);
      if (!s.is_null(5)) e.scanner = s.text(5);
      k.usage.last_entry = e;
    }
    own_at = s.int64(6);
  }
  if (!sync_key) return own;
  auto f = db_.prepare("SELECT entries, inside, revoked, at FROM synced WHERE key = ?1");
  f.bind(1, *sync_key);
  if (!f.step()) return own;
  const tb::SyncEntry heard{*sync_key, f.int64(0), f.int64(1) != 0, f.int64(2) != 0, f.int64(3)};
  return merge_known(own, own_at, heard);
}

std::size_t Journal::apply_feed(const std::vector<tb::SyncEntry>& entries, std::size_t limit) {
  db_.exec("BEGIN IMMEDIATE");
  try {
    auto count = db_.prepare("SELECT count(*) FROM synced");
    count.step();
    auto held = static_cast<std::size_t>(count.int64(0));
    // Order-free (gate_sync.hpp): the most entries, revoked once set, inside of the later news.
    auto update = db_.prepare(R"sql(
      UPDATE synced SET entries = max(entries, ?2), revoked = max(revoked, ?4),
        inside = CASE WHEN ?5 > at THEN ?3 ELSE inside END, at = max(at, ?5)
      WHERE key = ?1
    )sql");
    auto insert = db_.prepare(
        "INSERT INTO synced (key, entries, inside, revoked, at) VALUES (?1, ?2, ?3, ?4, ?5)");
    std::size_t left_out = 0;
    for (const auto& e : entries) {
      const auto bind = [&](tb::sql::Stmt& st) -> tb::sql::Stmt& {
        return st.bind(1, e.key)
            .bind(2, e.entries)
            .bind(3, std::int64_t{e.inside ? 1 : 0})
            .bind(4, std::int64_t{e.revoked ? 1 : 0})
            .bind(5, e.at);
      };
      bind(update).run();
      if (db_.changes() > 0) continue;
      if (held >= limit) {  // full: news of the tickets held still count, new ones are left out
        ++left_out;
        continue;
      }
      bind(insert).run();
      ++held;
    }
    db_.exec("COMMIT");
    return left_out;
  } catch (...) {
    db_.exec("ROLLBACK");
    throw;
  }
}

std::vector<QueuedScan> Journal::all() {
  auto s = db_.prepare("SELECT seq, scan_id, code, payload, created_at FROM queue ORDER BY seq");
  std::vector<QueuedScan> out;
  while (s.step()) out.push_back({s.int64(0), s.text(1), s.text(2), s.text(3), s.int64(4)});
  return out;
}

std::size_t Journal::size() {
  auto s = db_.prepare("SELECT count(*) FROM queue");
  s.step();
  return static_cast<std::size_t>(s.int64(0));
}

}  // namespace sa
