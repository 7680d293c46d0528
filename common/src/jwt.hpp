// HS256 JSON Web Tokens for owners: `sub` is the uid, `exp` is required; an optional `code` scopes
// the token to one ticket of that uid, and an optional `role` names a token that is not an
// owner's (an operator's: refused wherever an owner's token is expected). Only HS256 is accepted,
// whatever the token's header claims, and signatures are compared in constant time.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "timeutil.hpp"

namespace tb {

inline constexpr std::int64_t kDefaultTokenTtlS = 3600;  // SPEC.md: one hour
// The role of an operator's token (`ticket-bridge token --operator`): the operator page and the
// API's read-only routes; refused on /ws and by the broker.
inline constexpr std::string_view kOperatorRole = "operator";

struct TokenClaims {
  std::string uid;
  std::int64_t exp = 0;  // seconds since the epoch
  std::string code;      // when set, the token is scoped to this one ticket of `uid`
  std::string role;      // empty for an owner's token

  // A token that may stand for its owner everywhere (the MQTT login, every ticket of the uid).
  bool whole_uid() const { return code.empty() && role.empty(); }
};

// Signs a token for `uid`, valid for `ttl_s` seconds from `now_s`; scoped to the ticket `code`
// when it is given, and with a `role` claim when that is given.
std::string sign_token(std::string_view uid, std::int64_t ttl_s, std::string_view secret,
                       std::int64_t now_s, std::string_view code = {}, std::string_view role = {});

// Signs arbitrary header and claims JSON texts with HMAC-SHA256 (sign_token's building block;
// tests use it to craft tokens with unusual claims).
std::string sign_jwt(std::string_view header_json, std::string_view claims_json,
                     std::string_view secret);

// Checks signature, algorithm, `exp` (and `nbf` when present) against `now_s`, and that `sub` is
// a valid uid (and `code`, when present, a valid ticket code; `role`, when present, a string).
// Returns the claims, or why the token is refused (for logs, never for clients).
std::variant<TokenClaims, std::string> verify_token(std::string_view token, std::string_view secret,
                                                    std::int64_t now_s);

std::string base64url_encode(std::string_view in);
std::optional<std::string> base64url_decode(std::string_view in);

}  // namespace tb
