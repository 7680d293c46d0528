// Builders for the JSON documents of SPEC.md.
#include "messages.hpp"

#include <nlohmann/json.hpp>

#include "store.hpp"

namespace tb {

using nlohmann::json;

namespace {
json opt(const std::optional<std::string>& s) {
  return s ? json(*s) : json(nullptr);
}
json opt_time(const std::optional<Millis>& t) {
  return t ? json(format_rfc3339(*t)) : json();
}
}  // namespace

json entry_json(const std::optional<EntryRecord>& e) {
  if (!e) return nullptr;
  return json{{"at", format_rfc3339(e->at)}, {"gate", opt(e->gate)}, {"scanner", opt(e->scanner)}};
}

json make_result(const std::optional<std::string>& scan_id, const std::optional<std::string>& code,
                 const Decision& d, const Ticket* ticket, Millis decided_at) {
  json r;
  r["scan_id"] = opt(scan_id);
  r["code"] = opt(code);
  r["status"] = to_string(d.status);
  r["reason"] = to_string(d.reason);
  if (ticket != nullptr) {
    const TicketUsage& u = d.new_usage ? *d.new_usage : ticket->usage;
    r["entries"] = u.entries;
    r["max_entries"] = ticket->max_entries;
    r["holder"] = opt(ticket->holder);
  } else {
    r["entries"] = nullptr;
    r["max_entries"] = nullptr;
    r["holder"] = nullptr;
  }
  r["previous"] = d.reason == Reason::AlreadyUsed && ticket != nullptr
                      ? entry_json(ticket->usage.last_entry)
                      : json(nullptr);
  r["decided_at"] = format_rfc3339(decided_at);
  return r;
}

std::optional<json> make_scan_event(const Scan& scan, const Decision& d, const Ticket& ticket,
                                    Millis at) {
  if (d.reason == Reason::Malformed || d.reason == Reason::Unknown) return std::nullopt;
  json e;
  switch (d.status) {
    case Status::Admitted:
      e["type"] = "ticket.admitted";
      break;
    case Status::Exited:
      e["type"] = "ticket.exited";
      break;
    case Status::Rejected:
      e["type"] = "ticket.rejected";
      break;
  }
  e["at"] = format_rfc3339(at);
  e["code"] = ticket.code;
  e["gate"] = opt(scan.gate);
  if (d.status == Status::Rejected) {
    e["reason"] = to_string(d.reason);
    // Lets the owner's page say when and where the ticket was used before.
    if (d.reason == Reason::AlreadyUsed) e["previous"] = entry_json(ticket.usage.last_entry);
  }
  return e;
}

json gate_verdict_json(const GateVerdict& v) {
  return json{{"status", to_string(v.status)},
              {"reason", to_string(v.reason)},
              {"decided_at", format_rfc3339(v.decided_at)}};
}

json make_conflict_event(const Scan& scan, Status status, Reason reason, const Ticket& ticket,
                         Millis at) {
  json e{{"type", "ticket.conflict"},
         {"at", format_rfc3339(at)},
         {"code", ticket.code},
         {"gate", opt(scan.gate)},
         {"status", to_string(status)},
         {"reason", to_string(reason)},
         {"offline", scan.offline ? gate_verdict_json(*scan.offline) : json(nullptr)}};
  if (reason == Reason::AlreadyUsed) e["previous"] = entry_json(ticket.usage.last_entry);
  return e;
}

json ticket_json(const Ticket& t) {
  return json{{"code", t.code},
              {"uid", t.uid},
              {"holder", opt(t.holder)},
              {"max_entries", t.max_entries},
              {"reentry", t.reentry},
              {"valid_from", opt_time(t.valid_from)},
              {"valid_until", opt_time(t.valid_until)},
              {"gates", t.gates},
              {"state", t.revoked ? "revoked" : "valid"},
              {"entries", t.usage.entries},
              {"inside", t.usage.inside},
              {"last_entry", entry_json(t.usage.last_entry)},
              {"created_at", format_rfc3339(t.created_at)},
              {"signed_code", opt(t.signed_code)},
              {"rotating", t.rotating}};
}

json scans_json(const std::vector<ScanRecord>& scans) {
  json out = json::array();
  for (const auto& r : scans) {
    out.push_back({{"scan_id", opt(r.scan_id)},
                   {"scanner", opt(r.scanner)},
                   {"gate", opt(r.gate)},
                   {"claimed_gate", opt(r.claimed_gate)},
                   {"direction", opt(r.direction)},
                   {"scanned_at", opt_time(r.scanned_at)},
                   {"decided_at", format_rfc3339(r.decided_at)},
                   {"status", r.status},
                   {"reason", r.reason},
                   {"offline", r.offline ? json::parse(*r.offline, nullptr, false) : json()},
                   {"conflict", r.conflict}});
  }
  return out;
}

}  // namespace tb
