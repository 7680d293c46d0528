// A thin RAII layer over libpq, as sqlite.hpp is over SQLite: a connection, prepared statements
// with text parameters, results, errors as exceptions (DbError, with SQLSTATE class 23 as a
// constraint error). Nothing here knows about tickets.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "db_error.hpp"

namespace tb::pg {

class Error : public DbError {
 public:
  // SQLSTATE class 23: an integrity constraint violated. A conflict, a race lost to another
  // bridge that running the transaction again resolves: class 40 (serialization failure,
  // deadlock), 55P03 (lock_timeout), and a second insert of one scan_id (the unique key
  // scans_scan_id_key).
  Error(const std::string& what, std::string sqlstate, std::string_view constraint = {})
      : DbError(what, sqlstate.rfind("23", 0) == 0,
                sqlstate.rfind("40", 0) == 0 || sqlstate == "55P03" ||
                    (sqlstate == "23505" && constraint == "scans_scan_id_key")),
        sqlstate_(std::move(sqlstate)) {}
  const std::string& sqlstate() const { return sqlstate_; }  // empty: no answer from the server

 private:
  std::string sqlstate_;
};

// The parameters of one statement, in order ($1, $2, ...), sent as text.
class Params {
 public:
  Params& add(std::int64_t v);
  Params& add(std::string_view v);
  Params& add(const std::string& v) { return add(std::string_view(v)); }
  Params& add(const char* v) { return add(std::string_view(v)); }
  Params& add(const std::optional<std::string>& v);
  Params& add(const std::optional<std::int64_t>& v);
  Params& add_null();

  int size() const { return static_cast<int>(values_.size()); }
  // Pointers into the values; valid while this object lives and is not added to.
  std::vector<const char*> pointers() const;
  std::vector<int> lengths() const;

 private:
  std::vector<std::string> values_;
  std::vector<bool> null_;
};

class Result {
 public:
  explicit Result(PGresult* r) : r_(r, &PQclear) {}
  int rows() const { return PQntuples(r_.get()); }
  int columns() const { return PQnfields(r_.get()); }
  bool is_null(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  std::string text(int row, int col) const;
  std::int64_t int64(int row, int col) const;
  std::optional<std::string> opt_text(int row, int col) const;
  std::optional<std::int64_t> opt_int64(int row, int col) const;
  // Rows the command changed (INSERT, UPDATE, DELETE), 0 for any other command.
  std::int64_t changed() const;
  // The command's tag, such as "COMMIT" or "ROLLBACK" (what an aborted transaction's COMMIT says).
  std::string_view tag() const { return PQcmdStatus(r_.get()); }

 private:
  std::unique_ptr<PGresult, void (*)(PGresult*)> r_;
};

// A call of a pipeline failed (Conn::pipeline): its error, and which call it was.
class PipelineError : public Error {
 public:
  PipelineError(const Error& e, std::size_t index) : Error(e), index_(index) {}
  std::size_t index() const { return index_; }

 private:
  std::size_t index_;
};

// One statement of a pipeline (Conn::pipeline): a prepared statement's name and parameters, or
// (`sql` set) a statement without parameters such as BEGIN or SAVEPOINT.
struct Call {
  std::string name;
  Params params = {};
  std::string sql = {};
};

// The elements of an array parameter ($1::text[], $2::bigint[]), built one by one: the
// multi-row statements (UPDATE ... FROM unnest(...)) of a batch's writes.
class ArrayParam {
 public:
  ArrayParam& add(std::string_view v);  // a text element, quoted
  ArrayParam& add(const std::optional<std::string>& v);
  ArrayParam& add(std::int64_t v);
  ArrayParam& add(const std::optional<std::int64_t>& v);
  ArrayParam& add_null();
  bool empty() const { return count_ == 0; }
  std::size_t size() const { return count_; }
  std::string literal() const { return text_ + '}'; }

 private:
  void next();
  std::string text_ = "{";
  std::size_t count_ = 0;
};

class Conn {
 public:
  // Connects with a libpq connection string or URI (postgresql://...); throws Error when it
  // cannot. The password is `password` when given, else libpq's own means (passfile=,
  // PGPASSFILE, ~/.pgpass): never part of the URI, which is logged and shown by ps.
  explicit Conn(const std::string& conninfo, const std::optional<std::string>& password = {});
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Whether the connection is up; after a failure, reset() connects again (prepared statements
  // are gone then: prepare them again).
  // False once the connection is lost, or left in a state no statement can follow (a pipeline
  // cut short): reset() then makes a new one.
  bool ok() const { return !broken_ && PQstatus(c_.get()) == CONNECTION_OK; }
  void reset();

  // One or more statements without parameters (schema, BEGIN, SET ...).
  Result exec(const std::string& sql);
  void prepare(const std::string& name, const std::string& sql);
  Result run(const std::string& name, const Params& params = {});
  // The calls sent at once and answered in order (libpq's pipeline mode): one round trip for
  // all. The first that fails throws, and those after it are not run. Inside a transaction,
  // that transaction is then failed: roll it back (or to a savepoint).
  std::vector<Result> pipeline(const std::vector<Call>& calls);
  // Round trips to the server since this connection opened: a statement, or a pipeline.
  std::uint64_t round_trips() const { return round_trips_; }
  // Rows changed by this connection's commands since it opened.
  std::int64_t total_changes() const { return total_changes_; }

 private:
  Result check(PGresult* r, std::string_view what);

  std::unique_ptr<PGconn, void (*)(PGconn*)> c_;
  std::int64_t total_changes_ = 0;
  std::uint64_t round_trips_ = 0;
  bool broken_ = false;
};

// A text[] parameter's value: {"a","b"}, each element quoted, its " and \ escaped.
std::string array_literal(const std::vector<std::string>& items);

// Whether a connection string or URI carries a password itself (user:pw@ or ?password=), which
// would then be logged and shown by ps. Also true for one libpq cannot parse.
bool has_password(const std::string& conninfo);

// Whether `where` names a PostgreSQL database (postgresql:// or postgres://) rather than a file.
bool is_url(std::string_view where);

}  // namespace tb::pg
