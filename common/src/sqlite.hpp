// A thin RAII layer over the SQLite C API: a connection, prepared statements, errors as
// exceptions. Nothing here knows about tickets.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "db_error.hpp"

namespace tb::sql {

class Error : public DbError {
 public:
  Error(int code, const std::string& what)
      : DbError(what, (code & 0xFF) == SQLITE_CONSTRAINT), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

class Stmt {
 public:
  Stmt() = default;
  Stmt(sqlite3* db, std::string_view sql);
  Stmt(Stmt&& o) noexcept : db_(o.db_), st_(o.st_) { o.st_ = nullptr; }
  Stmt& operator=(Stmt&& o) noexcept;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt();

  // Binding, 1-based like SQLite. Nothing binds NULL.
  Stmt& bind(int i, std::int64_t v);
  Stmt& bind(int i, std::string_view v);
  Stmt& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, const std::optional<std::string>& v);
  Stmt& bind(int i, const std::optional<std::int64_t>& v);
  Stmt& bind_null(int i);

  // Steps once: true when a row is ready, false when done. Throws on error.
  bool step();
  // Steps to the end (for statements without rows) and resets.
  void run();
  void reset();

  bool is_null(int col) const;
  std::int64_t int64(int col) const;
  std::string text(int col) const;
  std::optional<std::string> opt_text(int col) const;
  std::optional<std::int64_t> opt_int64(int col) const;

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* st_ = nullptr;
};

class Db {
 public:
  // Opens (creating when allowed) the database at `path`.
  Db(const std::string& path, bool create);
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();

  void exec(const char* sql);
  Stmt prepare(std::string_view sql) { return Stmt(db_, sql); }
  sqlite3* handle() { return db_; }
  std::int64_t changes() const { return sqlite3_changes64(db_); }
  // Rows changed since the connection opened: tells a transaction that wrote from one that did not.
  std::int64_t total_changes() const { return sqlite3_total_changes64(db_); }

 private:
  sqlite3* db_ = nullptr;
};

[[noreturn]] void throw_error(sqlite3* db, int rc, std::string_view context);

// A consistent copy of the whole of `source` in the file `path`, while other connections and
// processes go on writing: SQLite's online backup in one step, that is one read transaction.
// Written to a new file of its own beside `path` (mode 0600, a unique name), checked (PRAGMA
// quick_check), made a single file (journal mode DELETE), then renamed to `path`: over an
// existing `path` only when `replace` (else an error, even if one appears meanwhile). Returns the
// copy's size in bytes.
std::uintmax_t backup(Db& source, const std::string& path, bool replace);

}  // namespace tb::sql
