// Parsing of scan payloads. Every field is checked for type and range; anything off makes the
// scan malformed, but the parser still recovers the scanner and scan_id when it can so that the
// scanner gets an answer.
#include "scan.hpp"

#include <cctype>
#include <nlohmann/json.hpp>

#include "admission.hpp"
#include "ids.hpp"
#include "rotating_code.hpp"
#include "signed_code.hpp"

namespace tb {
namespace {

using nlohmann::json;

constexpr Millis kMaxClockSkew = 5 * 60 * 1000;

// Returns the string at `key` when present as a string, else nothing.
std::optional<std::string> string_field(const json& obj, const char* key) {
  const auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::string too_large(std::size_t size) {
  return "payload of " + std::to_string(size) + " bytes exceeds " + std::to_string(kMaxScanPayload);
}

// The payload as a JSON object, or why it is none. The parser rejects invalid UTF-8, and the
// nesting depth is bounded by the payload limit checked before.
std::optional<json> parse_object(std::string_view payload, std::string& error) {
  json doc = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    error = "not JSON";
    return std::nullopt;
  }
  if (!doc.is_object()) {
    error = "not a JSON object";
    return std::nullopt;
  }
  return doc;
}

constexpr std::string_view kSpace = " \t\r\n\v\f";

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

ParsedScan read_scan_object(const json& doc);

// The scan's `offline` object: a status, a reason that fits it (ok for an admission or an exit,
// any other but malformed for a rejection) and decided_at.
std::optional<GateVerdict> read_gate_verdict(const json& v) {
  if (!v.is_object()) return std::nullopt;
  const auto status = string_field(v, "status");
  const auto reason = string_field(v, "reason");
  const auto at = string_field(v, "decided_at");
  if (!status || !reason || !at) return std::nullopt;
  GateVerdict out;
  const auto s = status_from_string(*status);
  const auto r = reason_from_string(*reason);
  const auto t = parse_rfc3339(*at);
  if (!s || !r || !t || *r == Reason::Malformed) return std::nullopt;
  if ((*s == Status::Rejected) == (*r == Reason::Ok)) return std::nullopt;
  out.status = *s;
  out.reason = *r;
  out.decided_at = *t;
  return out;
}

constexpr const char* kBadCode =
    "the code must be 1-128 characters without / + # whitespace or control characters, or a "
    "signed code";

// Reads a scanned code into `scan`: a plain one as it is, a signed one (SPEC.md v1.1) as the
// plain code inside it, with its canonical form in `signed_code`. Why it is neither, otherwise.
std::optional<std::string> read_code(std::string_view text, Scan& scan) {
  if (looks_signed(text)) {
    auto decoded = decode_scanned_signed_code(text);
    if (auto* why = std::get_if<std::string>(&decoded)) return std::move(*why);
    auto& d = std::get<ScannedSignedCode>(decoded);
    scan.code = std::move(d.code.claims.code);
    scan.signed_code = std::move(d.code.canonical);
    scan.rotating_value = std::move(d.rotating_value);
    return std::nullopt;
  }
  if (!utf8_length(text)) return std::string("the code is not valid UTF-8");
  if (!is_valid_id(text)) return std::string(kBadCode);
  scan.code = std::string(text);
  return std::nullopt;
}

}  // namespace

ParsedScan parse_scan(std::string_view payload) {
  ParsedScan out;
  if (payload.size() > kMaxScanPayload) {
    out.error = too_large(payload.size());
    return out;
  }
  auto doc = parse_object(payload, out.error);
  if (!doc) return out;
  return read_scan_object(*doc);
}

ParsedScan parse_device_scan(std::string_view scanner, std::string_view payload) {
  ParsedScan out;
  if (is_valid_id(scanner)) out.scanner = std::string(scanner);
  const auto fail = [&out](std::string why) {
    out.error = std::move(why);
    return out;
  };
  if (!out.scanner) return fail("the topic's scanner level is not a valid scanner id");
  if (payload.size() > kMaxScanPayload) return fail(too_large(payload.size()));
  const std::string_view text = trim(payload);
  if (text.empty()) return fail("empty scan");
  if (text.front() == '{') {
    auto doc = parse_object(text, out.error);
    if (!doc) return out;
    (*doc)["scanner"] = *out.scanner;  // the topic names the scanner, proven by the broker's ACL
    // An embedded scanner decides nothing alone, and the JSON may be a QR code's own.
    doc->erase("offline");
    return read_scan_object(*doc);
  }
  Scan scan;
  scan.scanner = *out.scanner;
  if (auto why = read_code(text, scan)) return fail(std::move(*why));
  out.code = scan.code;
  out.scan = std::move(scan);
  return out;
}

std::optional<bool> parse_presence(std::string_view payload) {
  if (payload.size() > kMaxScanPayload) return std::nullopt;
  const std::string_view text = trim(payload);
  if (text.empty()) return false;  // the retained status was cleared
  std::string state;
  if (text.front() == '{') {
    std::string error;
    const auto doc = parse_object(text, error);
    if (!doc) return std::nullopt;
    auto s = string_field(*doc, "state");
    if (!s) return std::nullopt;
    state = std::move(*s);
  } else {
    state = std::string(text);
  }
  for (auto& c : state) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (state == "online") return true;
  if (state == "offline") return false;
  return std::nullopt;
}

namespace {

ParsedScan read_scan_object(const json& doc) {
  ParsedScan out;
  // Salvage what identifies the scan first, so that a malformed scan can still be answered.
  if (auto s = string_field(doc, "scanner"); s && is_valid_id(*s)) out.scanner = std::move(s);
  if (auto s = string_field(doc, "scan_id"); s && is_valid_label(*s, kMaxIdLength)) {
    out.scan_id = std::move(s);
  }
  Scan scan;
  std::string code_problem = kBadCode;
  if (auto s = string_field(doc, "code")) {
    if (auto why = read_code(*s, scan)) {
      code_problem = std::move(*why);
    } else {
      out.code = scan.code;
    }
  }

  const auto fail = [&out](std::string why) {
    out.error = std::move(why);
    return out;
  };

  if (!doc.contains("scanner")) return fail("missing scanner");
  if (!out.scanner)
    return fail("scanner must be a string of 1-128 characters without / + # or spaces");
  scan.scanner = *out.scanner;

  if (!doc.contains("code")) return fail("missing code");
  if (!out.code) return fail(code_problem);

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
    scan.direction_named = true;
  }

  if (const auto it = doc.find("scanned_at"); it != doc.end() && !it->is_null()) {
    const auto text = string_field(doc, "scanned_at");
    const auto t = text ? parse_rfc3339(*text) : std::nullopt;
    if (!t) return fail("scanned_at must be an RFC 3339 time");
    scan.scanned_at = t;
  }

  if (const auto it = doc.find("offline"); it != doc.end() && !it->is_null()) {
    scan.offline = read_gate_verdict(*it);
    if (!scan.offline) {
      return fail(
          "offline must be an object of status, a reason that fits it and decided_at (RFC "
          "3339)");
    }
  }

  out.scan = std::move(scan);
  return out;
}

}  // namespace

Millis effective_scan_time(const Scan& scan, Millis now) {
  if (!scan.scanned_at || *scan.scanned_at > now + kMaxClockSkew) return now;
  return *scan.scanned_at;
}

std::string_view to_string(Direction d) {
  return d == Direction::In ? "in" : "out";
}

}  // namespace tb
