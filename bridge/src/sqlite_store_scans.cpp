// The store's audit log of scans (sqlite_store.hpp): the exactly-once look-ups by scan_id and by
// the repeat window, a ticket's last scans; and the scanner table.
#include "sqlite_store.hpp"

namespace tb {

std::optional<std::string> SqliteStore::find_result(const std::string& scan_id) {
  auto& s = find_result_;
  s.bind(1, scan_id);
  std::optional<std::string> out;
  if (s.step()) out = s.text(0);
  s.reset();
  return out;
}

void SqliteStore::record_scan(const ScanRecord& r) {
  auto& s = record_scan_;
  s.bind(1, r.scan_id).bind(2, r.code).bind(3, r.scanner).bind(4, r.gate).bind(5, r.direction);
  s.bind(6, r.scanned_at).bind(7, r.decided_at).bind(8, r.status).bind(9, r.reason);
  s.bind(10, r.result).bind(11, r.claimed_gate).bind(12, r.offline);
  s.bind(13, std::int64_t{r.conflict ? 1 : 0});
  s.run();
}

bool SqliteStore::record_offline(const std::string& scan_id, const std::string& offline,
                                 bool conflict, const std::string& result) {
  auto& s = record_offline_;
  s.bind(1, scan_id).bind(2, offline).bind(3, std::int64_t{conflict ? 1 : 0}).bind(4, result);
  s.run();
  return db_.changes() > 0;
}

std::vector<ScanRecord> SqliteStore::recent_scans(const std::string& code, int limit) {
  auto& s = recent_scans_;
  s.bind(1, code).bind(2, std::int64_t{limit});
  std::vector<ScanRecord> out;
  while (s.step()) {
    out.push_back(ScanRecord{s.opt_text(0), s.opt_text(1), s.opt_text(2), s.opt_text(3),
                             s.opt_text(4), s.opt_int64(5), s.int64(6), s.text(7), s.text(8),
                             s.text(9), s.opt_text(10), s.opt_text(11), s.int64(12) != 0});
  }
  s.reset();
  return out;
}

std::optional<std::string> SqliteStore::recent_result(const std::string& code,
                                                      const std::string& scanner,
                                                      Direction direction, Millis since) {
  auto& s = recent_result_;
  s.bind(1, code).bind(2, scanner).bind(3, std::string(to_string(direction))).bind(4, since);
  s.bind(5, std::int64_t{kRepeatLookback});
  std::optional<std::string> out;
  if (s.step()) out = s.text(0);
  s.reset();
  return out;
}

namespace {
Direction direction_from_text(const std::string& text) {
  return text == "out" ? Direction::Out : Direction::In;
}

ScannerConfig scanner_row(sql::Stmt& s) {
  return ScannerConfig{s.text(0), s.text(1), direction_from_text(s.text(2)), s.int64(3)};
}
}  // namespace

std::optional<ScannerConfig> SqliteStore::find_scanner(const std::string& id) {
  auto& s = find_scanner_;
  s.bind(1, id);
  std::optional<ScannerConfig> out;
  if (s.step()) out = scanner_row(s);
  s.reset();
  return out;
}

void SqliteStore::set_scanner(const ScannerConfig& c) {
  auto& s = set_scanner_;
  s.bind(1, c.id).bind(2, c.gate).bind(3, std::string(to_string(c.direction)));
  s.bind(4, c.updated_at).run();
}

bool SqliteStore::remove_scanner(const std::string& id) {
  remove_scanner_.bind(1, id).run();
  return db_.changes() > 0;
}

std::vector<Store::FeedTicket> SqliteStore::feed_tickets() {
  auto s = db_.prepare(kFeedTicketsSql);
  std::vector<FeedTicket> out;
  while (s.step()) out.push_back({s.text(0), s.int64(1), s.int64(2) != 0, s.int64(3) != 0});
  return out;
}

Store::VenueCounts SqliteStore::venue_counts() {
  auto s = db_.prepare(kVenueCountsSql);
  VenueCounts out;
  if (s.step()) out = {s.int64(0), s.int64(1), s.int64(2)};
  return out;
}

std::vector<ScannerConfig> SqliteStore::scanners() {
  auto& s = list_scanners_;
  std::vector<ScannerConfig> out;
  while (s.step()) out.push_back(scanner_row(s));
  s.reset();
  return out;
}

}  // namespace tb
