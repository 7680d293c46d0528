// The answers a small device can show (SPEC.md v1.1 "Embedded scanners"): a short line of text
// for a display, such as `ADMIT A. Example` or `REJECT already used north 19:02`, and a light,
// `green` or `red`, for an LED or a relay. Both are made from the JSON result alone, so that a
// repeated scan, answered from the audit log, gets the same ones again.
#pragma once

#include <cstddef>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "timeutil.hpp"

namespace tb {

struct TextOptions {
  std::size_t max_bytes = 64;  // the line is cut there, never inside a UTF-8 character
  bool ascii = false;          // for displays without UTF-8: letters lose their accents, ? else
};
inline constexpr std::size_t kMinTextBytes = 16;
inline constexpr std::size_t kMaxTextBytes = 1024;

// `result` is the JSON result of SPEC.md's tickets/result/<scanner>. Times are in the process's
// local time zone (TZ, set by --venue-time-zone).
std::string result_text(const nlohmann::json& result, const TextOptions& options);
// `green` for admitted and exited, `red` for rejected.
std::string_view result_light(const nlohmann::json& result);

// Each character outside ASCII replaced: Latin letters by their base letters (é -> e, ß -> ss,
// Ø -> O), a few punctuation marks by their ASCII look-alikes, anything else by `?`.
std::string to_ascii(std::string_view utf8);
// The longest prefix of at most `max_bytes` that ends on a character boundary.
std::string_view cut_utf8(std::string_view s, std::size_t max_bytes);
// "19:02" in the local time zone, or "11-30 19:02" when `at` is on another local day than `now`.
std::string local_time(Millis at, Millis now);

}  // namespace tb
