// Deciding one scan inside the writer's transaction (scan_decision.hpp).
#include "scan_decision.hpp"

#include <atomic>

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "admission.hpp"
#include "logging.hpp"
#include "messages.hpp"
#include "rotating_code.hpp"
#include "scan.hpp"
#include "topics.hpp"

namespace tb {

AnswerRoute answer_route(const InboundScan& in, const std::optional<std::string>& scanner,
                         Metrics& metrics) {
  std::optional<std::string> own;
  if (scanner) own = topics::result(*scanner);
  if (in.response_topic && !in.response_topic->empty()) {
    // The Response Topic is the scanner's to choose: untrusted. It is never logged as is.
    const auto refusal = topics::response_topic_refusal(*in.response_topic, scanner);
    if (!refusal) return AnswerRoute{*in.response_topic, own};
    metrics.response_topics_refused.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("scan from {}: Response Topic not used ({}); answering on {}",
                 scanner.value_or("an unknown scanner"), *refusal, own.value_or("no topic"));
  }
  return AnswerRoute{own.value_or(std::string()), std::nullopt};
}

namespace {

DeviceLines device_lines(const std::string& scanner, const nlohmann::json& result,
                         const TextOptions& options) {
  return DeviceLines{topics::result_text(scanner), result_text(result, options),
                     topics::result_light(scanner), std::string(result_light(result))};
}

// Whether `scan` of `ticket` passes the rotating-code check (SPEC.md v1.1, `stale_code`): true
// when the ticket needs none, or the scan carries the value of the step of `at` or one next to it.
bool rotating_code_fresh(const Ticket& ticket, const Scan& scan, Millis at,
                         const RotatingKey* key) {
  if (!ticket.rotating) return true;
  if (!scan.rotating_value) return false;  // the bare code: printed, typed, or an old screenshot
  if (key == nullptr) {
    // Once a minute at most: at a gate this is every scan of such a ticket.
    static std::atomic<Millis> last_logged{0};
    const Millis now = now_ms();
    if (now - last_logged.load(std::memory_order_relaxed) >= 60'000) {
      last_logged.store(now, std::memory_order_relaxed);
      spdlog::error(
          "scan of {} from {}: the ticket needs a rotating code, and this bridge has no "
          "rotating key to check it with (ticket-bridge keys init); refused as "
          "stale_code",
          scan.code, scan.scanner);
    }
    return false;
  }
  return rotating_value_fresh(ticket_rotating_secret(*key, ticket.code), *scan.rotating_value, at);
}

VerdictNote verdict_note(const Scan& scan, Status status, Reason reason, bool conflict) {
  return VerdictNote{
      scan.scan_id.value_or(""), scan.code, scan.scanner, *scan.offline, status, reason, conflict};
}

std::optional<std::string> text_of(const nlohmann::json& obj, const char* key) {
  const auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

// The gate's offline verdict on a scan_id the bridge had decided already (the answer was lost on
// the way back, so the gate decided alone): recorded beside the bridge's decision, which stands,
// once; a conflict when the two statuses differ, told to the owner. Returns the answer for the
// scan_id from now on, when this call recorded the verdict.
std::optional<std::string> record_verdict_beside(Store& store, Scan& scan,
                                                 const std::string& stored, Millis now,
                                                 Decided& out) {
  auto result = nlohmann::json::parse(stored, nullptr, false);
  if (!result.is_object()) return std::nullopt;
  const auto code = text_of(result, "code");
  const auto status = status_from_string(text_of(result, "status").value_or(""));
  const auto reason = reason_from_string(text_of(result, "reason").value_or(""));
  // A scan_id of another ticket's scan is not this scan's: a plain repeat.
  if (!status || !reason || code != scan.code) return std::nullopt;
  const GateVerdict& verdict = *scan.offline;
  const bool conflict = *status != verdict.status;
  result["conflict"] = conflict;
  std::string amended = result.dump();
  if (!store.record_offline(*scan.scan_id, gate_verdict_json(verdict).dump(), conflict, amended)) {
    return std::nullopt;  // recorded before: the stored answer says so already
  }
  out.verdict = verdict_note(scan, *status, *reason, conflict);
  if (conflict) {
    if (auto where = store.find_scanner(scan.scanner)) scan.gate = where->gate;
    if (auto ticket = store.find_ticket(scan.code)) {
      const Millis at = effective_scan_time(scan, now);
      auto event = make_conflict_event(scan, *status, *reason, *ticket, at);
      out.event = std::make_shared<const StoredEvent>(store.append_event(ticket->uid, at, event));
    }
  }
  return amended;
}

}  // namespace

void count_verdict(Metrics& metrics, const VerdictNote& v) {
  metrics.offline_verdicts[static_cast<std::size_t>(v.gate.status)].fetch_add(
      1, std::memory_order_relaxed);
  if (!v.conflict) return;
  metrics.offline_conflicts.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn(
      "scan {} of {} from {}: the gate decided {} ({}) offline, the bridge {} ({}): a conflict",
      v.scan_id, v.code, v.scanner, to_string(v.gate.status), to_string(v.gate.reason),
      to_string(v.status), to_string(v.reason));
}

void log_scan(const ScanNote& note) {
  std::vector<logging::Field> fields;
  fields.reserve(7);
  const auto add = [&](std::string_view key, const std::optional<std::string>& value) {
    if (value) fields.push_back({key, std::string_view(*value)});
  };
  add("scan_id", note.scan_id);
  add("scanner", note.scanner);
  add("gate", note.gate);
  add("code", note.code);
  add("status", note.status);
  add("reason", note.reason);
  add("uid", note.uid);
  logging::log(spdlog::level::debug, note.what, fields);
}

ParsedScan parse_inbound(const InboundScan& in) {
  return in.device_scanner ? parse_device_scan(*in.device_scanner, in.payload)
                           : parse_scan(in.payload);
}

Decided decide_scan(Store& store, Metrics& metrics, InboundScan& in, Millis now,
                    const ScanRules& rules, const ParsedScan* ahead) {
  Decided out;
  const bool device = in.device_scanner.has_value();
  // A copy of the parse ahead: a batch that runs again starts from the payload's word.
  ParsedScan parsed = ahead ? *ahead : parse_inbound(in);
  // One atomic load per scan when debug lines are off.
  const auto note = [&](const char* what) -> ScanNote* {
    if (!spdlog::should_log(spdlog::level::debug)) return nullptr;
    out.note.emplace();
    out.note->what = what;
    out.note->scan_id = parsed.scan_id;
    out.note->scanner = parsed.scanner;
    out.note->code = parsed.code;
    return &*out.note;
  };
  const AnswerRoute route = answer_route(in, parsed.scanner, metrics);
  // The JSON result goes by the route; a device's scan also gets its text and light. `result` is
  // the payload as JSON when at hand (else it is parsed again, for a device only).
  const auto answer = [&](std::string payload, const nlohmann::json* result) {
    if (route.topic.empty()) return;
    Answer a{route.topic, in.correlation, std::move(payload), route.fallback, {}};
    if (device && parsed.scanner) {
      a.device = device_lines(*parsed.scanner,
                              result ? *result : nlohmann::json::parse(a.payload, nullptr, false),
                              rules.text);
    }
    out.answer = std::move(a);
  };

  // Exactly once: a scan_id seen before gets its first answer again and changes nothing.
  if (parsed.scan_id) {
    if (auto stored = store.find_result(*parsed.scan_id)) {
      metrics.scans_duplicate.fetch_add(1, std::memory_order_relaxed);
      if (parsed.scan && parsed.scan->offline) {
        auto amended = record_verdict_beside(store, *parsed.scan, *stored, now, out);
        if (amended) stored = std::move(amended);
      }
      note("scan_id seen before: its first answer again");
      answer(std::move(*stored), nullptr);
      return out;
    }
  }

  ScanRecord rec;
  rec.scan_id = parsed.scan_id;
  rec.decided_at = now;

  if (!parsed.scan) {
    const Decision d{Status::Rejected, Reason::Malformed, std::nullopt};
    metrics.count_scan(d.status, d.reason);
    spdlog::warn("malformed scan from {}: {}", parsed.scanner.value_or("an unknown scanner"),
                 parsed.error);
    if (auto* n = note("scan malformed")) {
      n->status = std::string(to_string(d.status));
      n->reason = std::string(to_string(d.reason));
    }
    out.tally = Tally{{},
                      parsed.scanner.value_or(""),
                      parsed.code.value_or(""),
                      {},
                      d.status,
                      d.reason,
                      now,
                      0,
                      0,
                      false};
    if (!parsed.scanner && route.topic.empty())
      return out;  // nobody to answer, nothing to audit by
    rec.code = parsed.code;
    rec.scanner = parsed.scanner;
    rec.status = to_string(d.status);
    rec.reason = to_string(d.reason);
    const auto result = make_result(parsed.scan_id, parsed.code, d, nullptr, now);
    rec.result = result.dump();
    store.record_scan(rec);
    answer(rec.result, &result);
    return out;
  }

  Scan& scan = *parsed.scan;
  // The scanner table says where the scanner stands, whatever the payload claims.
  if (auto where = store.find_scanner(scan.scanner)) {
    if (scan.gate && *scan.gate != where->gate) {
      rec.claimed_gate = scan.gate;
      metrics.scan_gate_mismatches.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("scan from {} names gate {}: decided at its gate in the scanner table, {}",
                   scan.scanner, *scan.gate, where->gate);
    }
    scan.gate = where->gate;
    if (!scan.direction_named) scan.direction = where->direction;
  }
  std::optional<Ticket> ticket = store.find_ticket(scan.code);
  bool mismatch = false;
  // A signed code counts only as issued (SPEC.md v1.1): one that differs from the ticket's in any
  // bit (another key, a changed window, a forged signature) is no ticket of ours. The comparison
  // stands in for a signature check, which would cost far more CPU per scan.
  if (ticket && scan.signed_code && ticket->signed_code != scan.signed_code) {
    metrics.scans_signed_mismatch.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("scan from {}: a signed code for {} that is not the one issued", scan.scanner,
                 scan.code);
    ticket.reset();
    mismatch = true;
  }
  // Without a scan_id, a device's repeat within the window is the same scan, but never across
  // signed codes that differ: a copy that is not the issued code is decided (unknown)
  // rather than given the first answer, and a refusal as unknown is not replayed to a scan of a
  // ticket that exists.
  // Nor across rotating values: a copy's stale value is decided (stale_code), and the live code
  // shown right after a refused copy is decided too, not refused again.
  const Millis at = effective_scan_time(scan, now);
  // A scanner's own scan (tickets/scan) is judged at its scanned_at, as an agent delivers a scan
  // late after an outage. An embedded scanner publishes what it read, and a QR code can be made to
  // read as a JSON scan with a scanned_at of its choosing: its value is judged at the bridge's
  // clock.
  const bool fresh =
      !ticket || rotating_code_fresh(*ticket, scan, device ? now : at, rules.rotating_key.get());
  if (device && !scan.scan_id && rules.repeat_window_ms > 0 && !mismatch && fresh) {
    auto first =
        store.recent_result(scan.code, scan.scanner, scan.direction, now - rules.repeat_window_ms);
    if (first && ticket) {
      const auto stored = nlohmann::json::parse(*first, nullptr, false);
      const auto reason = stored.is_object() ? stored.value("reason", "") : std::string();
      if (reason == "unknown" || reason == "stale_code") first.reset();
    }
    if (first) {
      metrics.scans_repeated.fetch_add(1, std::memory_order_relaxed);
      if (auto* n = note("scan repeated within the window: its first answer again")) {
        n->scanner = scan.scanner;
        n->code = scan.code;
        n->gate = scan.gate;
      }
      answer(std::move(*first), nullptr);
      return out;
    }
  }

  Decision d = decide(ticket ? &*ticket : nullptr, scan, at, fresh);
  // A scan the gate decided offline (docs/offline.md): the bridge's own decision stands and the
  // gate's verdict is recorded beside it, a conflict when the statuses differ, except that a holder
  // the gate turned away is not admitted afterwards: the gate's refusal is recorded.
  bool conflict = false;
  if (scan.offline) {
    conflict = scan.offline->status != d.status;
    if (conflict && scan.offline->status == Status::Rejected) {
      d = Decision{Status::Rejected, scan.offline->reason, std::nullopt};
    }
    out.verdict = verdict_note(scan, d.status, d.reason, conflict);
  }
  if (d.new_usage) {
    store.save_usage(scan.code, *d.new_usage);
    if (rules.gate_feed && ticket && ticket->signed_code) {
      if (auto key = sync_key_of(*ticket->signed_code)) {
        out.feed = SyncEntry{std::move(*key), d.new_usage->entries, d.new_usage->inside,
                             ticket->revoked, now};
      }
    }
  }
  metrics.count_scan(d.status, d.reason);
  {
    Tally& t = out.tally.emplace();
    t.gate = scan.gate.value_or("");
    t.scanner = scan.scanner;
    t.code = scan.code;
    if (ticket && ticket->holder) t.holder = *ticket->holder;
    t.status = d.status;
    t.reason = d.reason;
    t.at = now;
    if (ticket && d.new_usage) {
      t.admitted_delta = ticket->usage.entries == 0 && d.new_usage->entries > 0 ? 1 : 0;
      t.inside_delta = (d.new_usage->inside ? 1 : 0) - (ticket->usage.inside ? 1 : 0);
    }
    t.conflict = conflict;
  }

  rec.code = scan.code;
  rec.scanner = scan.scanner;
  rec.gate = scan.gate;
  rec.direction = std::string(to_string(scan.direction));
  rec.scanned_at = scan.scanned_at;
  rec.status = to_string(d.status);
  rec.reason = to_string(d.reason);
  auto result = make_result(scan.scan_id, scan.code, d, ticket ? &*ticket : nullptr, now);
  if (scan.offline) {
    result["conflict"] = conflict;
    rec.offline = gate_verdict_json(*scan.offline).dump();
    rec.conflict = conflict;
  }
  rec.result = result.dump();
  store.record_scan(rec);
  if (auto* n = note(scan.offline ? "offline scan recorded" : "scan decided")) {
    n->scanner = scan.scanner;
    n->code = scan.code;
    n->gate = scan.gate;
    n->status = rec.status;
    n->reason = rec.reason;
    if (ticket) n->uid = ticket->uid;
  }

  if (ticket && conflict) {
    auto event = make_conflict_event(scan, d.status, d.reason, *ticket, at);
    out.event = std::make_shared<const StoredEvent>(store.append_event(ticket->uid, at, event));
  } else if (ticket) {
    if (auto event = make_scan_event(scan, d, *ticket, at)) {
      out.event = std::make_shared<const StoredEvent>(store.append_event(ticket->uid, at, *event));
    }
  }
  answer(std::move(rec.result), &result);
  return out;
}

}  // namespace tb
