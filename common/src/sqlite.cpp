// SQLite RAII wrappers.
#include "sqlite.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace tb::sql {

void throw_error(sqlite3* db, int rc, std::string_view context) {
  std::string msg(context);
  msg += ": ";
  msg += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  throw Error(db != nullptr ? sqlite3_extended_errcode(db) : rc, msg);
}

Stmt::Stmt(sqlite3* db, std::string_view sql) : db_(db) {
  const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &st_, nullptr);
  if (rc != SQLITE_OK) throw_error(db, rc, "prepare '" + std::string(sql.substr(0, 60)) + "'");
}

Stmt& Stmt::operator=(Stmt&& o) noexcept {
  if (this != &o) {
    sqlite3_finalize(st_);
    db_ = o.db_;
    st_ = o.st_;
    o.st_ = nullptr;
  }
  return *this;
}

Stmt::~Stmt() {
  sqlite3_finalize(st_);
}

Stmt& Stmt::bind(int i, std::int64_t v) {
  sqlite3_bind_int64(st_, i, v);
  return *this;
}

Stmt& Stmt::bind(int i, std::string_view v) {
  sqlite3_bind_text64(st_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}

Stmt& Stmt::bind(int i, const std::optional<std::string>& v) {
  return v ? bind(i, std::string_view(*v)) : bind_null(i);
}

Stmt& Stmt::bind(int i, const std::optional<std::int64_t>& v) {
  return v ? bind(i, *v) : bind_null(i);
}

Stmt& Stmt::bind_null(int i) {
  sqlite3_bind_null(st_, i);
  return *this;
}

bool Stmt::step() {
  const int rc = sqlite3_step(st_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3_reset(st_);
  throw_error(db_, rc, "step");
}

void Stmt::run() {
  while (step()) {
  }
  reset();
}

void Stmt::reset() {
  sqlite3_reset(st_);
  sqlite3_clear_bindings(st_);
}

bool Stmt::is_null(int col) const {
  return sqlite3_column_type(st_, col) == SQLITE_NULL;
}

std::int64_t Stmt::int64(int col) const {
  return sqlite3_column_int64(st_, col);
}

std::string Stmt::text(int col) const {
  const auto* p = sqlite3_column_text(st_, col);
  const int n = sqlite3_column_bytes(st_, col);
  return p != nullptr ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n))
                      : std::string();
}

std::optional<std::string> Stmt::opt_text(int col) const {
  if (is_null(col)) return std::nullopt;
  return text(col);
}

std::optional<std::int64_t> Stmt::opt_int64(int col) const {
  if (is_null(col)) return std::nullopt;
  return int64(col);
}

Db::Db(const std::string& path, bool create) {
  const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = "cannot open database " + path + ": " +
                      (db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error(rc, msg);
  }
  sqlite3_extended_result_codes(db_, 1);
}

Db::~Db() {
  sqlite3_close_v2(db_);
}

void Db::exec(const char* sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw Error(sqlite3_extended_errcode(db_), msg);
  }
}

namespace {

void copy_into(Db& source, const std::string& tmp) {
  Db dest(tmp, false);  // the empty file made by backup(): SQLite takes it as a new database
  sqlite3_backup* b = sqlite3_backup_init(dest.handle(), "main", source.handle(), "main");
  if (b == nullptr) throw_error(dest.handle(), sqlite3_errcode(dest.handle()), "backup");
  // All pages in one step. Busy only while a writer holds a lock the read needs (rare in WAL);
  // each step already waits the source's busy timeout.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  int rc = SQLITE_OK;
  for (;;) {
    rc = sqlite3_backup_step(b, -1);
    const bool busy = rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
    if (!busy || std::chrono::steady_clock::now() >= deadline) break;
    sqlite3_sleep(50);
  }
  const int finished = sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) throw_error(dest.handle(), rc, "backup");
  if (finished != SQLITE_OK) throw_error(dest.handle(), finished, "backup");
  auto mode = dest.prepare("PRAGMA journal_mode=DELETE");  // one self-contained file
  if (!mode.step() || mode.text(0) != "delete") {
    throw std::runtime_error("the copy in " + tmp + " stays in WAL mode");
  }
  auto check = dest.prepare("PRAGMA quick_check");
  if (!check.step() || check.text(0) != "ok") {
    throw std::runtime_error("the copy in " + tmp + " fails SQLite's check");
  }
}

void sync_directory_of(const std::string& path) {
  const auto dir = std::filesystem::absolute(path).parent_path();
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);  // the new name survives a power loss
  ::close(fd);
}

}  // namespace

std::uintmax_t backup(Db& source, const std::string& path, bool replace) {
  // A name no one else has, created 0600 (tickets name people), never through a symlink.
  std::string tmp = path + ".XXXXXX";
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot create " + tmp + ": " + std::strerror(errno));
  ::close(fd);
  try {
    copy_into(source, tmp);
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(),
                    replace ? 0 : RENAME_NOREPLACE) != 0) {
      throw std::runtime_error(errno == EEXIST ? path + " exists"
                                               : "cannot rename " + tmp + " to " + path + ": " +
                                                     std::strerror(errno));
    }
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    std::filesystem::remove(tmp + "-journal", ignored);
    throw;
  }
  sync_directory_of(path);
  return std::filesystem::file_size(path);
}

}  // namespace tb::sql
