// Wall-clock times as milliseconds since the Unix epoch, and their RFC 3339 form.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tb {

using Millis = std::int64_t;  // milliseconds since 1970-01-01T00:00:00Z

Millis now_ms();

// "2026-11-25T19:02:11.123Z": UTC, always with milliseconds.
std::string format_rfc3339(Millis t);

// Accepts "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)"; 't' and 'z' too.
// Returns nothing for anything else (including out-of-range fields).
std::optional<Millis> parse_rfc3339(std::string_view s);

}  // namespace tb
