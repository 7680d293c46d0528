// Admission rules, as SPEC.md states them.
#include "admission.hpp"

#include <algorithm>

namespace tb {
namespace {

Decision reject(Reason r) {
  return Decision{Status::Rejected, r, std::nullopt};
}

Decision decide_out(const Ticket& t) {
  if (!t.usage.inside) return reject(Reason::NotInside);
  TicketUsage u = t.usage;
  u.inside = false;
  return Decision{Status::Exited, Reason::Ok, u};
}

Decision decide_in(const Ticket& t, const Scan& scan, Millis at) {
  if (t.valid_from && at < *t.valid_from) return reject(Reason::NotYetValid);
  if (t.valid_until && at >= *t.valid_until) return reject(Reason::Expired);
  if (!t.gates.empty() &&
      (!scan.gate || std::find(t.gates.begin(), t.gates.end(), *scan.gate) == t.gates.end())) {
    return reject(Reason::WrongGate);
  }

  TicketUsage u = t.usage;
  const bool returning = t.reentry && u.entries > 0 && !u.inside;
  const bool entries_left = t.max_entries == 0 || u.entries < t.max_entries;
  if (!returning && !entries_left) return reject(Reason::AlreadyUsed);
  if (!returning) ++u.entries;  // coming back in after an `out` uses no further entry
  u.inside = true;
  u.last_entry = EntryRecord{at, scan.gate, scan.scanner};
  return Decision{Status::Admitted, Reason::Ok, u};
}

}  // namespace

Decision decide(const Ticket* ticket, const Scan& scan, Millis at, bool code_fresh) {
  if (ticket == nullptr) return reject(Reason::Unknown);
  if (ticket->revoked) return reject(Reason::Revoked);
  // A copy is refused before anything about the ticket is judged: it uses no entry, in or out.
  if (!code_fresh) return reject(Reason::StaleCode);
  return scan.direction == Direction::Out ? decide_out(*ticket) : decide_in(*ticket, scan, at);
}

std::string_view to_string(Status s) {
  switch (s) {
    case Status::Admitted:
      return "admitted";
    case Status::Exited:
      return "exited";
    case Status::Rejected:
      return "rejected";
  }
  return "rejected";
}

std::string_view to_string(Reason r) {
  switch (r) {
    case Reason::Ok:
      return "ok";
    case Reason::Unknown:
      return "unknown";
    case Reason::AlreadyUsed:
      return "already_used";
    case Reason::Revoked:
      return "revoked";
    case Reason::NotYetValid:
      return "not_yet_valid";
    case Reason::Expired:
      return "expired";
    case Reason::WrongGate:
      return "wrong_gate";
    case Reason::NotInside:
      return "not_inside";
    case Reason::Malformed:
      return "malformed";
    case Reason::StaleCode:
      return "stale_code";
  }
  return "malformed";
}

std::optional<Status> status_from_string(std::string_view s) {
  for (const Status v : {Status::Admitted, Status::Exited, Status::Rejected}) {
    if (to_string(v) == s) return v;
  }
  return std::nullopt;
}

std::optional<Reason> reason_from_string(std::string_view s) {
  for (std::size_t i = 0; i < kReasonCount; ++i) {
    const auto v = static_cast<Reason>(i);
    if (to_string(v) == s) return v;
  }
  return std::nullopt;
}

}  // namespace tb
