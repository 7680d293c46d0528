// Offline decisions at the gate (offline_gate.hpp).
#include "offline_gate.hpp"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "timeutil.hpp"

namespace sa {

using nlohmann::json;

namespace {

tb::Decision reject(tb::Reason r) {
  return tb::Decision{tb::Status::Rejected, r, std::nullopt};
}

std::string read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(std::string("cannot read the ") + what + " " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

json entry_json(const std::optional<tb::EntryRecord>& e) {
  if (!e) return nullptr;
  return json{{"at", tb::format_rfc3339(e->at)},
              {"gate", e->gate ? json(*e->gate) : json(nullptr)},
              {"scanner", e->scanner ? json(*e->scanner) : json(nullptr)}};
}

}  // namespace

std::variant<OfflineVerdict, std::string> decide_offline(const OfflineKeys& keys,
                                                         const std::string& text,
                                                         const tb::Scan& scan, tb::Millis at,
                                                         const UsageLookup& known) {
  if (!tb::looks_signed(text)) return std::string("a plain code: only the bridge knows it");
  OfflineVerdict v;
  v.decided_at = at;
  auto scanned = tb::decode_scanned_signed_code(text);
  if (std::holds_alternative<std::string>(scanned)) {
    v.code = text.substr(0, 40);
    v.decision = reject(tb::Reason::Malformed);
    return v;
  }
  const auto& s = std::get<tb::ScannedSignedCode>(scanned);
  const tb::CodeClaims& c = s.code.claims;
  v.code = c.code;
  v.max_entries = c.max_entries;
  // A code the venue's keys did not sign (a flipped bit, another key, a forgery) is a ticket this
  // gate does not know.
  if (!tb::verify_signed_code(s.code, keys.verify)) {
    v.decision = reject(tb::Reason::Unknown);
    return v;
  }
  bool fresh = true;
  if (c.rotating) {
    if (!keys.rotating) {
      return std::string("the ticket needs a rotating code and this gate has no rotating key");
    }
    fresh = s.rotating_value.has_value() &&
            tb::rotating_value_fresh(tb::ticket_rotating_secret(*keys.rotating, c.code),
                                     *s.rotating_value, at);
  }
  tb::Ticket t;
  t.code = c.code;
  t.max_entries = c.max_entries;
  t.reentry = c.reentry;
  t.valid_from = c.valid_from;
  t.valid_until = c.valid_until;
  t.gates = c.gates;
  t.rotating = c.rotating;
  if (const auto k = known(c.code, tb::sync_key(s.code.signature))) {
    t.usage = k->usage;
    t.revoked = k->revoked;
  }
  v.usage = t.usage;
  v.decision = tb::decide(&t, scan, at, fresh);
  return v;
}

KnownUsage merge_known(const std::optional<KnownUsage>& own, tb::Millis own_at,
                       const tb::SyncEntry& heard) {
  KnownUsage k = own.value_or(KnownUsage{});
  k.usage.entries = std::max(k.usage.entries, heard.entries);
  k.revoked = k.revoked || heard.revoked;
  if (!own || heard.at > own_at) k.usage.inside = heard.inside;
  return k;
}

json verdict_answer(const OfflineVerdict& v) {
  const auto& d = v.decision;
  json a = {{"code", v.code},
            {"status", std::string(tb::to_string(d.status))},
            {"reason", std::string(tb::to_string(d.reason))},
            {"decided_at", tb::format_rfc3339(v.decided_at)},
            {"offline", true}};
  a["entries"] = d.new_usage ? d.new_usage->entries : v.usage.entries;
  a["max_entries"] = v.max_entries;
  a["previous"] =
      d.reason == tb::Reason::AlreadyUsed ? entry_json(v.usage.last_entry) : json(nullptr);
  return a;
}

json verdict_record(const OfflineVerdict& v) {
  return json{{"status", std::string(tb::to_string(v.decision.status))},
              {"reason", std::string(tb::to_string(v.decision.reason))},
              {"decided_at", tb::format_rfc3339(v.decided_at)}};
}

OfflineKeys load_offline_keys(const std::vector<std::string>& public_key_files,
                              const std::string& rotating_key_file) {
  OfflineKeys k;
  for (const auto& path : public_key_files) {
    try {
      k.verify.push_back(tb::verify_key_from_pem(read_file(path, "offline key")));
    } catch (const std::exception& e) {
      throw std::runtime_error("--offline-key " + path + ": " + e.what());
    }
  }
  if (!rotating_key_file.empty()) {
    try {
      k.rotating = tb::rotating_key_from_text(read_file(rotating_key_file, "rotating key"));
    } catch (const std::exception& e) {
      throw std::runtime_error("--rotating-key " + rotating_key_file + ": " + e.what());
    }
  }
  return k;
}

}  // namespace sa
