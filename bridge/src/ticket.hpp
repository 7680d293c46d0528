// The ticket: what was sold (rules) and how it has been used so far (usage).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ids.hpp"
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

// When a token scoped to ticket `t` expires (seconds since the epoch): at the ticket's
// valid_until (exclusive, like `exp`), sooner when a shorter `ttl_s` is asked for; a ticket
// without valid_until gets `ttl_s`, else `default_ttl_s`. Why no token is due instead: the
// ticket is revoked or its validity has ended.
std::variant<std::int64_t, std::string> scoped_token_expiry(const Ticket& t,
                                                            std::optional<std::int64_t> ttl_s,
                                                            std::int64_t default_ttl_s,
                                                            std::int64_t now_s);

class SigningKey;
// Gives `t` the signed code of its fields as they are now (signed_code.hpp). Throws
// std::invalid_argument when they do not fit in one (gates too long).
void sign_ticket(Ticket& t, const SigningKey& key);
// Gives a new ticket its signed code when a `key` is configured (null: none). Why the ticket
// cannot be issued: it is rotating and there is no signing key or no rotating key (`rotating_key`:
// whether the venue has one), or its fields do not fit a signed code.
std::optional<std::string> issue_signed_code(Ticket& t, const SigningKey* key, bool rotating_key);

// A fresh random ticket code: 12 characters from an alphabet without look-alikes (0/O, 1/I).
std::string random_ticket_code();

}  // namespace tb
