// Deciding one scan inside the writer's transaction (scan_decision.hpp).
#include "scan_decision.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "admission.hpp"
#include "messages.hpp"
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

Decided decide_scan(Store& store, Metrics& metrics, InboundScan& in, Millis now) {
  Decided out;
  ParsedScan parsed = parse_scan(in.payload);
  const AnswerRoute route = answer_route(in, parsed.scanner, metrics);
  const auto answer = [&](std::string payload) {
    if (!route.topic.empty()) {
      out.answer = Answer{route.topic, in.correlation, std::move(payload), route.fallback};
    }
  };

  // Exactly once: a scan_id seen before gets its first answer again and changes nothing.
  if (parsed.scan_id) {
    if (auto stored = store.find_result(*parsed.scan_id)) {
      metrics.scans_duplicate.fetch_add(1, std::memory_order_relaxed);
      answer(std::move(*stored));
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
    if (!parsed.scanner && route.topic.empty())
      return out;  // nobody to answer, nothing to audit by
    rec.code = parsed.code;
    rec.scanner = parsed.scanner;
    rec.status = to_string(d.status);
    rec.reason = to_string(d.reason);
    rec.result = make_result(parsed.scan_id, parsed.code, d, nullptr, now).dump();
    store.record_scan(rec);
    answer(rec.result);
    return out;
  }

  const Scan& scan = *parsed.scan;
  const Millis at = effective_scan_time(scan, now);
  const std::optional<Ticket> ticket = store.find_ticket(scan.code);
  const Decision d = decide(ticket ? &*ticket : nullptr, scan, at);
  if (d.new_usage) store.save_usage(scan.code, *d.new_usage);
  metrics.count_scan(d.status, d.reason);

  rec.code = scan.code;
  rec.scanner = scan.scanner;
  rec.gate = scan.gate;
  rec.direction = std::string(to_string(scan.direction));
  rec.scanned_at = scan.scanned_at;
  rec.status = to_string(d.status);
  rec.reason = to_string(d.reason);
  rec.result = make_result(scan.scan_id, scan.code, d, ticket ? &*ticket : nullptr, now).dump();
  store.record_scan(rec);

  if (ticket) {
    if (auto event = make_scan_event(scan, d, *ticket, at)) {
      out.event = std::make_shared<const StoredEvent>(store.append_event(ticket->uid, at, *event));
    }
  }
  answer(std::move(rec.result));
  return out;
}

}  // namespace tb
