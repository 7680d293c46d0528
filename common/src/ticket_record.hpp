// The ticket: what was sold (rules) and how it has been used so far (usage). Shared by the
// bridge, which stores it, and the scanner agent, which rebuilds one from a signed code and its
// own record when it decides alone (admission.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "timeutil.hpp"

namespace tb {

// Where and when a ticket was last let in; shown to staff on `already_used`.
struct EntryRecord {
  Millis at = 0;
  std::optional<std::string> gate;
  std::optional<std::string> scanner;
};

struct TicketUsage {
  std::int64_t entries = 0;  // entries used so far
  bool inside = false;       // admitted and not scanned out since
  std::optional<EntryRecord> last_entry;
};

struct Ticket {
  std::string code;
  std::string uid;
  std::optional<std::string> holder;
  std::int64_t max_entries = 1;       // 0 = no limit
  bool reentry = false;               // may come back in after an `out` scan without using an entry
  std::optional<Millis> valid_from;   // inclusive
  std::optional<Millis> valid_until;  // exclusive
  std::vector<std::string> gates;     // empty = every gate
  bool revoked = false;
  Millis created_at = 0;
  // The signed code issued for it (SPEC.md v1.1, signed_code.hpp), when a signing key was
  // configured then. A scan of a signed code is decided only when it is exactly this one.
  std::optional<std::string> signed_code;
  // Its scans must carry a fresh rotating value (SPEC.md v1.1, rotating_code.hpp), else they are
  // refused as stale_code. Only a ticket with a signed code can be rotating; the signed code says
  // so too, for a gate that decides alone.
  bool rotating = false;
  TicketUsage usage;
};

}  // namespace tb
