// A small RFC 4180 CSV reader: quoted fields, doubled quotes, CRLF or LF line ends.
#pragma once

#include <istream>
#include <optional>
#include <string>
#include <vector>

namespace tb {

struct CsvRow {
  std::size_t line = 0;  // 1-based line where the row starts
  std::vector<std::string> fields;
};

class CsvReader {
 public:
  explicit CsvReader(std::istream& in) : in_(in) {}
  // The next row; nothing at the end. Sets error() and returns nothing on an unterminated quote.
  std::optional<CsvRow> next();
  const std::string& error() const { return error_; }

 private:
  std::istream& in_;
  std::size_t line_ = 1;
  std::string error_;
};

}  // namespace tb
