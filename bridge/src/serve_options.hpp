// The options of `ticket-bridge serve` that need more than a range check: the listen address,
// the connection cap under the open-file limit, the venue's time zone and the scan rules.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "scan_decision.hpp"
#include "settings.hpp"

namespace tb {

struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};

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
