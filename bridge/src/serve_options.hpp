// The settings of `ticket-bridge serve`: registered once (for serve, check-config and the config
// file init writes) and read into a ServeConfig, every problem named.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "http_server.hpp"
#include "mqtt_link.hpp"
#include "scan_decision.hpp"
#include "settings.hpp"

namespace tb {

struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};

// Registers every setting of `serve` (the common ones too).
void add_serve_settings(Settings& s);

// The problems of a configuration, one line each, instead of stopping at the first.
class Problems {
 public:
  // Runs `check`; what it throws becomes one line.
  template <class F>
  void check(F&& check) {
    try {
      check();
    } catch (const std::exception& e) {
      lines_.emplace_back(e.what());
    }
  }
  void add(std::string line) { lines_.push_back(std::move(line)); }
  bool empty() const { return lines_.empty(); }
  const std::vector<std::string>& lines() const { return lines_; }

 private:
  std::vector<std::string> lines_;
};

// What `serve` runs with, read from its settings. Secrets and the database are not read here.
struct ServeConfig {
  HostPort listen;
  ScanRules rules;
  std::chrono::microseconds group_commit{1000};
  MqttOptions mqtt;  // without the password
  HttpOptions http;
  std::int64_t retention_events = 100;
  std::int64_t retention_age_s = 24 * 3600;
  bool peer_events = true;                           // hear other bridges' events (peer_events.hpp)
  std::chrono::seconds gate_feed_interval{60};       // the gates' feed's snapshot (0: no feed)
  std::size_t max_gates = 64;                        // the venue board's gates (venue_board.hpp)
  std::chrono::milliseconds operator_interval{500};  // the operator feed's (venue_board.hpp)
};
// Every setting checked, each problem added to `problems`. Applies --venue-time-zone to the
// process (see apply_venue_time_zone).
ServeConfig read_serve_config(const Settings& s, Problems& problems);

// "HOST:PORT", "[v6]:PORT". Throws UsageError.
HostPort parse_listen(const std::string& text);
// --max-connections within the open-file limit: each connection is a descriptor, and the store,
// the broker link and the logs need some of their own (64 are kept for them).
std::size_t connection_cap(const Settings& s);
// --venue-time-zone: an IANA name of the system's time zone database, set as the process's TZ.
// Call before any thread starts (localtime_r reads it). Throws UsageError.
void apply_venue_time_zone(const Settings& s);
// --scan-repeat-window and the text answer's options. Throws UsageError.
ScanRules scan_rules(const Settings& s);

}  // namespace tb
