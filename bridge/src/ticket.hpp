// The ticket: what was sold (rules) and how it has been used so far (usage).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
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
  TicketUsage usage;
};

inline constexpr std::size_t kMaxIdLength = 128;

// Ticket codes, uids and scanner ids: 1 to 128 characters, none of them '/', '+', '#',
// whitespace or control characters (they become parts of MQTT topic names), valid UTF-8.
bool is_valid_id(std::string_view s);

// Free text such as a gate or holder name: 1..max_chars characters of valid UTF-8, no control
// characters (C0, DEL, C1) and no Unicode noncharacters.
bool is_valid_label(std::string_view s, std::size_t max_chars);

// Number of code points of valid UTF-8, or nothing when `s` is not valid UTF-8.
std::optional<std::size_t> utf8_length(std::string_view s);

// Valid UTF-8 without the code points MQTT forbids in its strings and Mosquitto refuses in a topic
// (a client that publishes one is disconnected): U+0000-U+001F, U+007F-U+009F, U+FDD0-U+FDEF and
// U+xFFFE/U+xFFFF.
bool is_mqtt_text(std::string_view s);

// A fresh random ticket code: 12 characters from an alphabet without look-alikes (0/O, 1/I).
std::string random_ticket_code();

}  // namespace tb
