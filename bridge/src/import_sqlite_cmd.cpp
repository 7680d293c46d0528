// `ticket-bridge import-sqlite FILE`: moves a venue from SQLite to PostgreSQL. Every row of the
// SQLite database FILE (tickets, the scans' audit log, each uid's seq and events, the events not
// yet acknowledged by the broker, the scanner table) is copied into the empty PostgreSQL store of
// --db, in one read transaction on one side and one write transaction on the other: the copy is all
// or nothing, and consistent.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include "commands.hpp"
#include "pg.hpp"
#include "sqlite.hpp"
#include "store.hpp"

namespace tb {

namespace fs = std::filesystem;

namespace {

struct Table {
  const char* name;
  const char* columns;  // on PostgreSQL
  const char* select;   // the same columns, in order, read from SQLite
  const char* insert_options = "";
};

// What each store keeps. events.code is derived on SQLite (from the body), stored on PostgreSQL.
constexpr Table kTables[] = {
    {"tickets",
     "code, uid, holder, max_entries, reentry, valid_from, valid_until, gates, revoked, "
     "created_at, entries, inside, last_in_at, last_in_gate, last_in_scanner, signed_code, "
     "rotating",
     "SELECT code, uid, holder, max_entries, reentry, valid_from, valid_until, gates, revoked, "
     "created_at, entries, inside, last_in_at, last_in_gate, last_in_scanner, signed_code, "
     "rotating FROM tickets ORDER BY code"},
    {"scans",
     "id, scan_id, code, scanner, gate, direction, scanned_at, decided_at, status, reason, "
     "result, claimed_gate, offline, conflict",
     "SELECT id, scan_id, code, scanner, gate, direction, scanned_at, decided_at, status, "
     "reason, result, claimed_gate, offline, conflict FROM scans ORDER BY id",
     " OVERRIDING SYSTEM VALUE"},
    {"users", "uid, last_seq", "SELECT uid, last_seq FROM users ORDER BY uid"},
    {"events", "uid, seq, at, body, code",
     "SELECT uid, seq, at, body, CASE WHEN json_type(body, '$.code') = 'text' "
     "THEN NULLIF(json_extract(body, '$.code'), '') END FROM events ORDER BY uid, seq"},
    {"outbox", "uid, seq", "SELECT uid, seq FROM outbox ORDER BY uid, seq"},
    {"scanners", "id, gate, direction, updated_at",
     "SELECT id, gate, direction, updated_at FROM scanners ORDER BY id"},
};

constexpr int kRowsPerInsert = 500;

int column_count(std::string_view columns) {
  return 1 + static_cast<int>(std::count(columns.begin(), columns.end(), ','));
}

// INSERT INTO t (cols) VALUES ($1,...),(...) for `rows` rows.
std::string insert_sql(const Table& t, int rows) {
  const int cols = column_count(t.columns);
  std::string sql = "INSERT INTO ";
  sql += t.name;
  sql += " (";
  sql += t.columns;
  sql += ")";
  sql += t.insert_options;
  sql += " VALUES ";
  for (int r = 0; r < rows; ++r) {
    sql += r == 0 ? "(" : ",(";
    for (int c = 0; c < cols; ++c) {
      if (c > 0) sql += ',';
      sql += '$';
      sql += std::to_string(r * cols + c + 1);
    }
    sql += ')';
  }
  return sql;
}

// Copies one table, kRowsPerInsert rows per statement; returns the rows copied.
std::int64_t copy_table(sql::Db& from, pg::Conn& to, const Table& t) {
  const int cols = column_count(t.columns);
  auto read = from.prepare(t.select);
  std::int64_t copied = 0;
  pg::Params batch;
  int in_batch = 0;
  bool prepared_full = false;
  const auto flush = [&] {
    if (in_batch == 0) return;
    const std::string name = std::string("import_") + t.name + "_" + std::to_string(in_batch);
    if (in_batch != kRowsPerInsert || !prepared_full) {
      to.prepare(name, insert_sql(t, in_batch));
      prepared_full = prepared_full || in_batch == kRowsPerInsert;
    }
    to.run(name, batch);
    copied += in_batch;
    batch = pg::Params();
    in_batch = 0;
  };
  while (read.step()) {
    for (int c = 0; c < cols; ++c) batch.add(read.opt_text(c));
    if (++in_batch == kRowsPerInsert) flush();
  }
  flush();
  return copied;
}

}  // namespace

int cmd_import_sqlite(const Settings& s, const std::string& file) {
  const std::string& where = s.get("db");
  if (!pg::is_url(where)) {
    throw UsageError(
        "import-sqlite copies into PostgreSQL: --db must be a postgresql:// URL (a copy of a "
        "SQLite database is `backup`)");
  }
  if (!fs::is_regular_file(file)) {
    std::cerr << "ticket-bridge: no SQLite database at " << fs::absolute(file).string() << "\n";
    return 1;
  }
  // The target's tables, created when it has none, and checked empty before the source is
  // touched.
  open_store(s, Create::Always);
  pg::Conn to(where, db_password(s));
  to.exec("BEGIN");
  // No bridge writes meanwhile, and the target must hold nothing yet: a venue's tickets merged
  // into another's would mix two seq histories. A session holding the tables (a bridge already
  // serving on this database) makes the lock wait; not for ever.
  to.exec("SET LOCAL lock_timeout = '10s'");
  try {
    to.exec("LOCK TABLE tickets, scans, users, events, outbox, scanners IN EXCLUSIVE MODE");
  } catch (const pg::Error& e) {
    std::cerr << "ticket-bridge: the PostgreSQL tables are in use (is a bridge serving on this "
                 "database?): "
              << e.what() << "\n";
    return 1;
  }
  for (const auto& t : kTables) {
    const auto n = to.exec(std::string("SELECT count(*) FROM ") + t.name).int64(0, 0);
    if (n > 0) {
      to.exec("ROLLBACK");
      std::cerr << "ticket-bridge: the PostgreSQL store is not empty (" << n << " rows in "
                << t.name << "): import-sqlite copies into an empty one only\n";
      return 1;
    }
  }
  // The source at this program's schema: migrated forward in place, as serve would.
  make_store(file, Durability::Full);
  sql::Db from(file, false);
  sqlite3_busy_timeout(from.handle(), 5000);
  from.exec("BEGIN");  // one snapshot of the whole file
  for (const auto& t : kTables) {
    const auto n = copy_table(from, to, t);
    std::cout << t.name << ": " << n << " rows\n";
  }
  // New scans go on from the highest id copied.
  to.exec(
      "SELECT setval(pg_get_serial_sequence('scans', 'id'), "
      "COALESCE((SELECT max(id) FROM scans), 0) + 1, false)");
  const auto done = to.exec("COMMIT");
  if (done.tag() != "COMMIT") {
    std::cerr << "ticket-bridge: the copy was not committed (" << done.tag() << ")\n";
    return 1;
  }
  from.exec("COMMIT");
  std::cout << "copied " << file << " into " << where << "\n";
  return 0;
}

}  // namespace tb
