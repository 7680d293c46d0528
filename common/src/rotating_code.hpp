// Rotating codes (issue #17): a signed code followed by a time-based value that changes every
// 15 seconds, so that a screenshot of the ticket page is stale within seconds.
//
//   TB1.<base32 signed code>.<8 digits>
//
// The value is RFC 6238 TOTP with HMAC-SHA256, 8 digits, a 15-second step counted from the Unix
// epoch, over a per-ticket secret:
//
//   secret = HMAC-SHA256(venue's rotating key, "tb-rotating-v1" 0x00 plain ticket code)
//
// The bridge (and a gate given the venue's rotating key) derives the secret from the code; it is
// never stored. The ticket page receives it once, over the authenticated WebSocket, and computes
// the values itself, so it keeps rotating with no network. A value is fresh when it is the value
// of the step of the moment the scan is judged at, or of the step before or after it
// (kRotatingWindowSteps): a screenshot of the page stays good for 15 to 30 seconds after it was
// taken, and phone and gate clocks may differ by up to about 15 seconds.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "signed_code.hpp"
#include "timeutil.hpp"

namespace tb {

inline constexpr std::int64_t kRotatingStepMs = 15'000;
inline constexpr int kRotatingDigits = 8;
inline constexpr std::int64_t kRotatingWindowSteps = 1;
// The value and the dot before it.
inline constexpr std::size_t kRotatingSuffixLength = 1 + kRotatingDigits;

using RotatingKey = std::array<std::uint8_t, 32>;
using RotatingSecret = std::array<std::uint8_t, 32>;

// A fresh random venue key.
RotatingKey generate_rotating_key();
// The key as `keys init` writes it: 64 hex digits (and a newline); reading ignores surrounding
// whitespace. Throws std::runtime_error on anything else.
std::string rotating_key_text(const RotatingKey& key);
RotatingKey rotating_key_from_text(std::string_view text);
// 8 hex digits naming the key (the first 4 bytes of its SHA-256): a page holding a secret of
// another key asks for a new one.
std::string rotating_key_id(const RotatingKey& key);

RotatingSecret ticket_rotating_secret(const RotatingKey& key, std::string_view plain_code);

// The time step of `at` (ms since the epoch; floor division, so times before 1970 work too).
std::int64_t rotating_step(Millis at);
// The 8-digit value of `step`.
std::string rotating_value(const RotatingSecret& secret, std::int64_t step);
// Whether `value` is the value of the step of `at`, or of one within kRotatingWindowSteps of it.
// Compared in constant time.
bool rotating_value_fresh(const RotatingSecret& secret, std::string_view value, Millis at);

// A scanned text split at its rotating value: `code` is all before the last dot, `value` the
// 8 digits after it. Only a signed code can carry a value (a plain code may contain dots), so
// for any other text, or a signed code with no dot after its prefix, `value` is empty and `code`
// the whole text. A signed code whose last dot is followed by anything but 8 digits: why it is
// damaged.
struct SplitCode {
  std::string_view code;
  std::optional<std::string_view> value;
};
std::variant<SplitCode, std::string> split_rotating(std::string_view text);

// A scanned signed code (the text looks_signed), with its rotating value when it carries one: at
// most kMaxSignedCodeLength characters in all. Why it is damaged, otherwise.
struct ScannedSignedCode {
  DecodedCode code;
  std::optional<std::string> rotating_value;
};
std::variant<ScannedSignedCode, std::string> decode_scanned_signed_code(std::string_view text);

}  // namespace tb
