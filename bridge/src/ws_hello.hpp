// The first message of a WebSocket client (SPEC.md): {"type":"hello","token":...,"since":n}, and
// optionally "rotating_secret": true.
// Parsed from untrusted text, never throws; the token itself is checked by the session.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace tb {

struct Hello {
  std::string token;
  std::optional<std::int64_t> since;  // the last seq the client saw
  // "rotating_secret": true: a ticket page that has no secret for its rotating code yet asks for
  // it (docs/protocol.md); given only to a token scoped to a ticket.
  bool rotating_secret = false;
};

// The hello, or why the message is not one (for logs; the client only hears "unauthorized").
std::variant<Hello, std::string> parse_hello(std::string_view text);

}  // namespace tb
