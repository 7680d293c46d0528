// The admission rules: a pure function from (ticket, scan, time) to a decision. No I/O here;
// the bridge calls it inside a transaction, the scanner agent when it decides alone.
#pragma once

#include <optional>
#include <string_view>

#include "scan.hpp"
#include "ticket_record.hpp"

namespace tb {

enum class Status { Admitted, Exited, Rejected };

enum class Reason {
  Ok,
  Unknown,
  AlreadyUsed,
  Revoked,
  NotYetValid,
  Expired,
  WrongGate,
  NotInside,
  Malformed,
  StaleCode,  // SPEC.md v1.1: a ticket that needs a rotating code, shown without a fresh one
};

inline constexpr std::size_t kStatusCount = 3;
inline constexpr std::size_t kReasonCount = 10;

struct Decision {
  Status status = Status::Rejected;
  Reason reason = Reason::Malformed;
  // The ticket's usage after the scan; set only when the scan changed it.
  std::optional<TicketUsage> new_usage;
};

// `ticket` is null when no ticket has the scanned code. `at` is the moment the scan is judged at
// (see effective_scan_time). `code_fresh`: false when the ticket needs a rotating code and the
// scan carried no fresh value (scan_decision.cpp judges that; it takes the venue's key).
Decision decide(const Ticket* ticket, const Scan& scan, Millis at, bool code_fresh);

std::string_view to_string(Status s);
std::string_view to_string(Reason r);
// The names above read back; nothing for any other text.
std::optional<Status> status_from_string(std::string_view s);
std::optional<Reason> reason_from_string(std::string_view s);

}  // namespace tb
