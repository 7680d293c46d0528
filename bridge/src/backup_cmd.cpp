// `ticket-bridge backup FILE`: a consistent copy of the database, taken while `serve` runs
// (sqlite.hpp's backup: one read transaction; the bridge goes on deciding meanwhile). The
// database is opened as it is: never created, never migrated.
#include <filesystem>
#include <iostream>

#include "commands.hpp"
#include "pg.hpp"
#include "sqlite.hpp"

namespace tb {

namespace fs = std::filesystem;

namespace {

// Whether `file` names the database or one of SQLite's files beside it (another spelling, a
// symlink or a hard link): renaming a copy over the live database would lose every admission
// made since, under a running bridge.
bool is_the_database(const fs::path& file, const fs::path& db) {
  std::error_code same_ec, target_ec, source_ec;
  if (fs::equivalent(file, db, same_ec)) return true;
  const auto target = fs::weakly_canonical(file, target_ec);
  const auto source = fs::canonical(db, source_ec).string();
  if (target_ec || source_ec) return false;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    if (target == fs::path(source + suffix)) return true;
  }
  return false;
}

}  // namespace

int cmd_backup(const Settings& s, const std::string& file, bool force) {
  const std::string& db = s.get("db");
  if (pg::is_url(db)) {
    throw UsageError(
        "backup copies a SQLite database; back up PostgreSQL with pg_dump (docs/operations.md)");
  }
  if (!fs::exists(db)) {
    std::cerr << "ticket-bridge: no database at " << fs::absolute(db).string() << "\n";
    return 1;
  }
  if (is_the_database(file, db)) {
    throw UsageError(file + " is the database itself (or one of its files): back up elsewhere");
  }
  if (!force && fs::symlink_status(file).type() != fs::file_type::not_found) {
    std::cerr << "ticket-bridge: " << file << " exists; --force replaces it\n";
    return 1;
  }
  sql::Db source(db, false);
  sqlite3_busy_timeout(source.handle(), 5000);
  try {
    const auto bytes = sql::backup(source, file, force);
    std::cout << "backed up " << db << " to " << file << " (" << bytes << " bytes)\n";
  } catch (const std::runtime_error& e) {
    std::cerr << "ticket-bridge: backup failed: " << e.what()
              << (!force && fs::exists(file) ? "; --force replaces it" : "") << "\n";
    return 1;
  }
  return 0;
}

}  // namespace tb
