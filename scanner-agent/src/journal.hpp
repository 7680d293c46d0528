// The agent's on-disk queue (SQLite, synchronous=FULL): every scan is written here before it is
// published, and removed only when the gate's answer for it arrives. Scans therefore survive a
// broker outage, an agent restart and a reboot, and are re-sent in order.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sqlite.hpp"
#include "timeutil.hpp"

namespace sa {

struct QueuedScan {
  std::int64_t seq = 0;  // journal order
  std::string scan_id;
  std::string code;
  std::string payload;  // the exact JSON published, identical on every retry
  tb::Millis created_at = 0;
};

class Journal {
 public:
  explicit Journal(const std::string& path);

  // Makes the next scan's id, "<scanner>:<journal nonce>:<counter>", and queues the payload that
  // `make_payload(scan_id)` builds, in one transaction. Nothing when the queue holds `limit` scans.
  template <typename F>
  std::optional<QueuedScan> add(const std::string& scanner, const std::string& code,
                                std::size_t limit, F make_payload);

  bool remove(const std::string& scan_id);  // true when it was queued
  std::vector<QueuedScan> all();            // in journal order
  std::size_t size();

 private:
  std::optional<QueuedScan> add_impl(const std::string& scanner, const std::string& code,
                                     std::size_t limit,
                                     const std::function<std::string(const std::string&)>& make);
  tb::sql::Db db_;
  std::string nonce_;
};

template <typename F>
std::optional<QueuedScan> Journal::add(const std::string& scanner, const std::string& code,
                                       std::size_t limit, F make_payload) {
  return add_impl(scanner, code, limit, make_payload);
}

}  // namespace sa
