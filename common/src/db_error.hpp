// A failed database operation, whichever database: SQLite (sqlite.hpp) or PostgreSQL. A
// constraint error means a row broke a rule of the schema (a duplicate key): the request's fault,
// undone on its own, or a race lost to another writer (two bridges storing one scan_id). A
// conflict is a race lost in the database itself (PostgreSQL's deadlock or serialization
// failure): the transaction runs again. Any other error means the store is in trouble, and the
// caller retries or reports it.
#pragma once

#include <stdexcept>
#include <string>

namespace tb {

class DbError : public std::runtime_error {
 public:
  DbError(const std::string& what, bool constraint, bool conflict = false)
      : std::runtime_error(what), constraint_(constraint), conflict_(conflict) {}
  bool is_constraint() const { return constraint_; }
  bool is_conflict() const { return conflict_; }

 private:
  bool constraint_;
  bool conflict_;
};

}  // namespace tb
