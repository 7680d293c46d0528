// HS256 JSON Web Tokens for owners: `sub` is the uid, `exp` is required. Only HS256 is accepted,
// whatever the token's header claims, and signatures are compared in constant time.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "timeutil.hpp"

namespace tb {

struct TokenClaims {
  std::string uid;
  std::int64_t exp = 0;  // seconds since the epoch
};

// Signs a token for `uid`, valid for `ttl_s` seconds from `now_s`.
std::string sign_token(std::string_view uid, std::int64_t ttl_s, std::string_view secret,
                       std::int64_t now_s);

// Signs arbitrary header and claims JSON texts with HMAC-SHA256 (sign_token's building block;
// tests use it to craft tokens with unusual claims).
std::string sign_jwt(std::string_view header_json, std::string_view claims_json,
                     std::string_view secret);

// Checks signature, algorithm, `exp` (and `nbf` when present) against `now_s`, and that `sub` is
// a valid uid. Returns the claims, or why the token is refused (for logs, never for clients).
std::variant<TokenClaims, std::string> verify_token(std::string_view token, std::string_view secret,
                                                    std::int64_t now_s);

std::string base64url_encode(std::string_view in);
std::optional<std::string> base64url_decode(std::string_view in);

}  // namespace tb
