// RFC 4180 CSV reading.
#include "csv.hpp"

namespace tb {

std::optional<CsvRow> CsvReader::next() {
  CsvRow row;
  row.line = line_;
  std::string field;
  bool quoted = false;
  bool any = false;
  for (;;) {
    const int c = in_.get();
    if (c == EOF) {
      if (quoted) {
        error_ = "line " + std::to_string(row.line) + ": unterminated quoted field";
        return std::nullopt;
      }
      if (!any) return std::nullopt;
      row.fields.push_back(std::move(field));
      return row;
    }
    any = true;
    if (quoted) {
      if (c == '"') {
        if (in_.peek() == '"') {
          in_.get();
          field.push_back('"');
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line_;
        field.push_back(static_cast<char>(c));
      }
      continue;
    }
    if (c == '"' && field.empty()) {
      quoted = true;
    } else if (c == ',') {
      row.fields.push_back(std::move(field));
      field.clear();
    } else if (c == '\r' && in_.peek() == '\n') {
      // the '\n' ends the row
    } else if (c == '\n') {
      ++line_;
      row.fields.push_back(std::move(field));
      return row;
    } else {
      field.push_back(static_cast<char>(c));
    }
  }
}

}  // namespace tb
