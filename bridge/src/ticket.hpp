// What the bridge does with a ticket (ticket_record.hpp) beyond the admission rules: token
// expiry, signed codes, random codes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ids.hpp"
#include "ticket_record.hpp"
#include "timeutil.hpp"

namespace tb {

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
