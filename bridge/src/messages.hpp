// The JSON the bridge sends: answers to scanners, events to owners, tickets to the API and CLI.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "admission.hpp"
#include "ticket.hpp"

namespace tb {

// The answer on `tickets/result/<scanner>`. Every key is always present; unknown values are null.
// `ticket` may be null (unknown or malformed scans).
nlohmann::json make_result(const std::optional<std::string>& scan_id,
                           const std::optional<std::string>& code, const Decision& d,
                           const Ticket* ticket, Millis decided_at);

// The owner's event for a decided scan of a known ticket, without `seq` (the store assigns it).
// Returns nothing when the decision gives the owner no event.
std::optional<nlohmann::json> make_scan_event(const Scan& scan, const Decision& d,
                                              const Ticket& ticket, Millis at);

// A gate's offline verdict as the scan carried it and the audit log keeps it: status, reason,
// decided_at.
nlohmann::json gate_verdict_json(const GateVerdict& v);

// The owner's one event when a gate's offline verdict on a scan of their ticket conflicts with
// the bridge's (docs/protocol.md, `ticket.conflict`): `status` and `reason` are what the bridge
// recorded, `offline` what the gate decided. `previous` is the ticket's entry before, on
// already_used.
nlohmann::json make_conflict_event(const Scan& scan, Status status, Reason reason,
                                   const Ticket& ticket, Millis at);

nlohmann::json entry_json(const std::optional<EntryRecord>& e);

// The ticket as the API and `tickets show` present it.
nlohmann::json ticket_json(const Ticket& t);

struct ScanRecord;
// Audit rows as `last_scans` of a ticket.
nlohmann::json scans_json(const std::vector<ScanRecord>& scans);

}  // namespace tb
