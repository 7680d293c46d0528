// Turning user-supplied ticket fields (command line, CSV row) into a valid Ticket, with one set of
// rules and messages for every way tickets come in.
#pragma once

#include <optional>
#include <string>
#include <variant>

#include "ticket.hpp"

namespace tb {

// Every field as text; absent or empty means "not given".
struct TicketFields {
  std::optional<std::string> code;  // random when not given
  std::optional<std::string> uid;   // required
  std::optional<std::string> holder;
  std::optional<std::string> max_entries;  // whole number >= 0, default 1
  std::optional<std::string> reentry;      // true/false/yes/no/1/0, default false
  std::optional<std::string> valid_from;   // RFC 3339
  std::optional<std::string> valid_until;  // RFC 3339
  std::optional<std::string> gates;        // "north;south"
  std::optional<std::string> rotating;     // true/false..., default: the bridge's rotating-codes
};

// The ticket, or a message naming the offending field. `rotating_default`: whether a ticket that
// does not say needs a rotating code (the rotating-codes setting).
std::variant<Ticket, std::string> ticket_from_fields(const TicketFields& f, Millis now,
                                                     bool rotating_default);

// Checks a ticket built elsewhere (the HTTP API) against the same rules.
std::optional<std::string> check_ticket(const Ticket& t);

inline constexpr std::size_t kMaxHolderLength = 200;
inline constexpr std::size_t kMaxGates = 64;
inline constexpr std::int64_t kMaxEntriesLimit = 1'000'000'000;

}  // namespace tb
