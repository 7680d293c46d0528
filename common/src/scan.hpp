// A scan as published on `tickets/scan`, and the parser that turns untrusted bytes into one.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "timeutil.hpp"

namespace tb {

enum class Direction { In, Out };

struct Scan {
  std::optional<std::string> scan_id;  // absent: decided every time
  std::string code;
  std::string scanner;
  std::optional<std::string> gate;
  Direction direction = Direction::In;
  std::optional<Millis> scanned_at;
};

// Payloads larger than this are rejected as malformed without being parsed.
inline constexpr std::size_t kMaxScanPayload = 16 * 1024;

struct ParsedScan {
  std::optional<Scan> scan;  // set when the payload is a valid scan
  std::string error;         // why it is malformed, for logs
  // What could be read from a malformed payload, to answer and audit it.
  std::optional<std::string> scanner;
  std::optional<std::string> scan_id;
  std::optional<std::string> code;
};

// Never throws; unknown fields are ignored.
ParsedScan parse_scan(std::string_view payload);

// The moment a scan is judged at: its `scanned_at`, unless absent or more than five minutes
// ahead of the bridge's clock `now`.
Millis effective_scan_time(const Scan& scan, Millis now);

std::string_view to_string(Direction d);

}  // namespace tb
