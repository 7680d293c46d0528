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
  )sql");
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
