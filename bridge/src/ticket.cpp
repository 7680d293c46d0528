// Random ticket codes, signed codes, and the expiry of a token scoped to a ticket.
#include "ticket.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <stdexcept>

#include "signed_code.hpp"

namespace tb {

void sign_ticket(Ticket& t, const SigningKey& key) {
  CodeClaims c;
  c.code = t.code;
  c.rotating = t.rotating;
  c.max_entries = t.max_entries;
  c.reentry = t.reentry;
  c.valid_from = t.valid_from;
  c.valid_until = t.valid_until;
  c.gates = t.gates;
  t.signed_code = key.sign(c);
}

std::optional<std::string> issue_signed_code(Ticket& t, const SigningKey* key, bool rotating_key) {
  if (t.rotating && (key == nullptr || !rotating_key)) {
    return std::string(key == nullptr ? "a rotating code needs a signed code, and no signing key "
                                        "is configured (ticket-bridge keys init)"
                                      : "a rotating code needs the venue's rotating key, and "
                                        "there is none beside the signing key (ticket-bridge "
                                        "keys init adds it)");
  }
  if (key == nullptr) return std::nullopt;
  try {
    sign_ticket(t, *key);
  } catch (const std::invalid_argument& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

std::string random_ticket_code() {
  static constexpr std::string_view kAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";  // 32 symbols
  std::array<unsigned char, 12> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    throw std::runtime_error("no random bytes from OpenSSL");
  }
  std::string code;
  code.reserve(bytes.size());
  for (const unsigned char b : bytes) code.push_back(kAlphabet[b % kAlphabet.size()]);
  return code;
}

std::variant<std::int64_t, std::string> scoped_token_expiry(const Ticket& t,
                                                            std::optional<std::int64_t> ttl_s,
                                                            std::int64_t default_ttl_s,
                                                            std::int64_t now_s) {
  if (t.revoked) return std::string("ticket " + t.code + " is revoked");
  if (!t.valid_until) return now_s + ttl_s.value_or(default_ttl_s);
  // valid_until is in milliseconds, exp in seconds: rounded up to the next whole second.
  const std::int64_t until_s = (*t.valid_until + 999) / 1000;
  if (until_s <= now_s) return std::string("ticket " + t.code + " is no longer valid");
  return ttl_s ? std::min(now_s + *ttl_s, until_s) : until_s;
}

}  // namespace tb
