// Parsing of scan payloads. Every field is checked for type and range; anything off makes the
// scan malformed, but the parser still recovers the scanner and scan_id when it can so that the
// scanner gets an answer.
#include "scan.hpp"

#include <nlohmann/json.hpp>

#include "ids.hpp"

namespace tb {
namespace {

using nlohmann::json;

constexpr Millis kMaxClockSkew = 5 * 60 * 1000;
constexpr std::size_t kMaxGateLength = 128;

// Returns the string at `key` when present as a string, else nothing.
std::optional<std::string> string_field(const json& obj, const char* key) {
  const auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

}  // namespace

ParsedScan parse_scan(std::string_view payload) {
  ParsedScan out;
  if (payload.size() > kMaxScanPayload) {
    out.error = "payload of " + std::to_string(payload.size()) + " bytes exceeds " +
                std::to_string(kMaxScanPayload);
    return out;
  }
  // The parser rejects invalid UTF-8 and nesting deeper than its stack allows is bounded by the
  // payload limit above.
  json doc = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    out.error = "not JSON";
    return out;
  }
  if (!doc.is_object()) {
    out.error = "not a JSON object";
    return out;
  }

  // Salvage what identifies the scan first, so that a malformed scan can still be answered.
  if (auto s = string_field(doc, "scanner"); s && is_valid_id(*s)) out.scanner = std::move(s);
  if (auto s = string_field(doc, "scan_id"); s && is_valid_label(*s, kMaxIdLength)) {
    out.scan_id = std::move(s);
  }
  if (auto s = string_field(doc, "code"); s && is_valid_id(*s)) out.code = std::move(s);

  Scan scan;
  const auto fail = [&out](std::string why) {
    out.error = std::move(why);
    return out;
  };

  if (!doc.contains("scanner")) return fail("missing scanner");
  if (!out.scanner)
    return fail("scanner must be a string of 1-128 characters without / + # or spaces");
  scan.scanner = *out.scanner;

  if (!doc.contains("code")) return fail("missing code");
  if (!out.code) return fail("code must be a string of 1-128 characters without / + # or spaces");
  scan.code = *out.code;

  if (const auto it = doc.find("scan_id"); it != doc.end() && !it->is_null()) {
    if (!out.scan_id) return fail("scan_id must be a string of 1-128 characters");
    scan.scan_id = out.scan_id;
  }

  if (const auto it = doc.find("gate"); it != doc.end() && !it->is_null()) {
    auto gate = string_field(doc, "gate");
    if (!gate || !is_valid_label(*gate, kMaxGateLength)) {
      return fail("gate must be a string of 1-128 characters");
    }
    scan.gate = std::move(gate);
  }

  if (const auto it = doc.find("direction"); it != doc.end() && !it->is_null()) {
    const auto dir = string_field(doc, "direction");
    if (dir == "in") {
      scan.direction = Direction::In;
    } else if (dir == "out") {
      scan.direction = Direction::Out;
    } else {
      return fail("direction must be \"in\" or \"out\"");
    }
  }

  if (const auto it = doc.find("scanned_at"); it != doc.end() && !it->is_null()) {
    const auto text = string_field(doc, "scanned_at");
    const auto t = text ? parse_rfc3339(*text) : std::nullopt;
    if (!t) return fail("scanned_at must be an RFC 3339 time");
    scan.scanned_at = t;
  }

  out.scan = std::move(scan);
  return out;
}

Millis effective_scan_time(const Scan& scan, Millis now) {
  if (!scan.scanned_at || *scan.scanned_at > now + kMaxClockSkew) return now;
  return *scan.scanned_at;
}

std::string_view to_string(Direction d) {
  return d == Direction::In ? "in" : "out";
}

}  // namespace tb
