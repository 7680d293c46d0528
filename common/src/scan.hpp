// A scan as published on `tickets/scan`, and the parser that turns untrusted bytes into one.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "timeutil.hpp"

namespace tb {

enum class Direction { In, Out };

enum class Status;  // admission.hpp
enum class Reason;

// What a scanner agent decided alone when the bridge did not answer (SPEC.md v1.1: the scan's
// `offline` object; docs/offline.md, "Reconciliation").
struct GateVerdict {
  Status status{};
  Reason reason{};
  Millis decided_at = 0;
};

struct Scan {
  std::optional<std::string> scan_id;  // absent: decided every time
  std::string code;                    // the plain ticket code
  std::string scanner;
  std::optional<std::string> gate;
  Direction direction = Direction::In;
  std::optional<Millis> scanned_at;
  bool direction_named = false;  // the payload named the direction (else the default above)
  // When a signed code was scanned (SPEC.md v1.1): its canonical form. `code` is the plain code in
  // it, and the scan is decided only when the ticket was issued exactly this signed code.
  std::optional<std::string> signed_code = std::nullopt;
  // The rotating value that followed the signed code (rotating_code.hpp), if any.
  std::optional<std::string> rotating_value = std::nullopt;
  // The gate's own verdict, when it decided the scan offline before sending it. Read only from
  // tickets/scan: an embedded scanner decides nothing (parse_device_scan drops it).
  std::optional<GateVerdict> offline = std::nullopt;
};

// A gate's name: 1 to this many characters of free text (is_valid_label).
inline constexpr std::size_t kMaxGateLength = 128;

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

// A scan on tickets/scan/<scanner> (SPEC.md v1.1): the payload is the code as plain text, trimmed
// of whitespace (a trailing CR/LF included); a payload that starts with `{` is the JSON object of
// tickets/scan, whose `scanner` is always `scanner`, the topic's, whatever the payload says, and
// whose `offline` is ignored.
// `scanner` is the topic's level: when it is no valid id, the scan is malformed and unanswerable.
ParsedScan parse_device_scan(std::string_view scanner, std::string_view payload);

// A scanner's presence on scanners/<scanner>/status: the JSON {"state": "online"|"offline", ...},
// or the plain text `online` / `offline` of a small device (case and surrounding whitespace
// ignored). True: online; false: offline (an empty payload, the retained status cleared, too);
// nothing when the payload says neither.
std::optional<bool> parse_presence(std::string_view payload);

// The moment a scan is judged at: its `scanned_at`, unless absent or more than five minutes
// ahead of the bridge's clock `now`.
Millis effective_scan_time(const Scan& scan, Millis now);

std::string_view to_string(Direction d);

}  // namespace tb
