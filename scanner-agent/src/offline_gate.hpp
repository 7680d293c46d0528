// Deciding a scan at the gate alone, when the bridge does not answer (docs/offline.md). Only a
// signed code can be decided here: its signature proves the venue issued it, and it carries the
// rules the bridge would apply (window, gates, entries, re-entry, rotating). What the ticket has
// used so far comes from the agent's own record (journal.hpp): its offline decisions, the
// bridge's answers at this gate, and the bridge's feed of what other gates let in. The rules are
// the bridge's own (admission.hpp). Pure: the clock and the record are passed in.
#pragma once

#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "admission.hpp"
#include "gate_sync.hpp"
#include "rotating_code.hpp"
#include "signed_code.hpp"

namespace sa {

// What the gate knows of a ticket's use.
struct KnownUsage {
  tb::TicketUsage usage;
  bool revoked = false;
};

// The venue's public keys (every one whose tickets are still valid) and, when the venue gives its
// gates one, the rotating key.
struct OfflineKeys {
  std::vector<tb::VerifyKey> verify;
  std::optional<tb::RotatingKey> rotating;
};

struct OfflineVerdict {
  tb::Decision decision;
  std::string code;  // the plain ticket code
  std::int64_t max_entries = 1;
  tb::TicketUsage usage;  // before the scan
  tb::Millis decided_at = 0;
};

// What the gate knows of a ticket, by its plain code and its signed code's feed key.
using UsageLookup = std::function<std::optional<KnownUsage>(const std::string& plain_code,
                                                            const std::string& sync_key)>;

// The gate's own record of a ticket (`own`, last changed at `own_at`) merged with what the
// bridge's feed said of it (gate_sync.hpp): the most entries, revoked if either says so, inside
// as the later of the two says. The last entry is the gate's own (the feed does not carry it).
KnownUsage merge_known(const std::optional<KnownUsage>& own, tb::Millis own_at,
                       const tb::SyncEntry& heard);

// The verdict on `text` (as scanned, upper-cased) at `gate` in `direction` at `at`, or why the
// gate cannot decide it alone (a plain code; a rotating ticket and no rotating key here).
std::variant<OfflineVerdict, std::string> decide_offline(const OfflineKeys& keys,
                                                         const std::string& text,
                                                         const tb::Scan& scan, tb::Millis at,
                                                         const UsageLookup& known);

// The verdict as the bridge's answer would put it (code, status, reason, entries, max_entries,
// previous, decided_at), with "offline": true.
nlohmann::json verdict_answer(const OfflineVerdict& v);

// The scan's "offline" object (SPEC.md v1.1): status, reason, decided_at.
nlohmann::json verdict_record(const OfflineVerdict& v);

// Reads the agent's --offline-key files (PEM public keys) and --rotating-key file. Throws
// std::runtime_error naming the file.
OfflineKeys load_offline_keys(const std::vector<std::string>& public_key_files,
                              const std::string& rotating_key_file);

}  // namespace sa
