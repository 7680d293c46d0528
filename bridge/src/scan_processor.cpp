// Batching writer for scans.
#include "scan_processor.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "admission.hpp"
#include "messages.hpp"
#include "scan.hpp"

namespace tb {

ScanProcessor::ScanProcessor(Store& store, Metrics& metrics, AnswerSink answers, EventSink events,
                             ScanProcessorOptions options)
    : store_(store),
      metrics_(metrics),
      answers_(std::move(answers)),
      events_(std::move(events)),
      options_(options) {}

ScanProcessor::~ScanProcessor() {
  stop();
}

void ScanProcessor::start() {
  thread_ = std::thread([this] { run(); });
}

void ScanProcessor::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ScanProcessor::submit(InboundScan scan) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(scan));
    metrics_.queue_depth.store(static_cast<std::int64_t>(queue_.size()), std::memory_order_relaxed);
  }
  cv_.notify_one();
}

void ScanProcessor::run() {
  std::vector<InboundScan> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued was decided
      const std::size_t n = std::min(queue_.size(), options_.max_batch);
      batch.clear();
      for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      metrics_.queue_depth.store(static_cast<std::int64_t>(queue_.size()),
                                 std::memory_order_relaxed);
    }
    process(batch);
  }
}

void ScanProcessor::process(std::vector<InboundScan>& batch) {
  std::vector<Pending> done;
  done.reserve(batch.size());
  for (int attempt = 1;; ++attempt) {
    done.clear();
    try {
      Store::Transaction tx(store_);
      const Millis now = now_ms();
      for (auto& in : batch) done.push_back(decide_one(in, now));
      tx.commit();
      metrics_.store_ok.store(1);
      metrics_.batches.fetch_add(1, std::memory_order_relaxed);
      break;
    } catch (const std::exception& e) {
      metrics_.store_errors.fetch_add(1, std::memory_order_relaxed);
      metrics_.store_ok.store(0);
      if (attempt >= options_.store_attempts) {
        // Nothing of the batch was committed and nobody was told anything: the scanners see no
        // answer and publish the same scan_id again, which is decided once the store is back.
        spdlog::error("store failed {} times, {} scans left unanswered: {}", attempt, batch.size(),
                      e.what());
        metrics_.scans_unanswered.fetch_add(batch.size(), std::memory_order_relaxed);
        return;
      }
      spdlog::warn("store transaction failed (attempt {}): {}; retrying", attempt, e.what());
      std::this_thread::sleep_for(std::chrono::milliseconds(50 * attempt * attempt));
    }
  }

  // Committed: now the scanners and owners may hear about it.
  for (auto& p : done) {
    if (p.answer) answers_(std::move(*p.answer));
    if (p.event) {
      events_(p.event);
      metrics_.events_published.fetch_add(1, std::memory_order_relaxed);
    }
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - p.received;
    metrics_.decision_seconds.observe(took.count());
  }
}

std::string ScanProcessor::answer_topic(const InboundScan& in,
                                        const std::optional<std::string>& scanner) {
  if (in.response_topic && !in.response_topic->empty()) return *in.response_topic;
  if (scanner) return "tickets/result/" + *scanner;
  return {};
}

ScanProcessor::Pending ScanProcessor::decide_one(InboundScan& in, Millis now) {
  Pending out;
  out.received = in.received;
  ParsedScan parsed = parse_scan(in.payload);
  const std::string topic = answer_topic(in, parsed.scanner);
  const auto answer = [&](std::string payload) {
    if (!topic.empty()) out.answer = Answer{topic, in.correlation, std::move(payload)};
  };

  // Exactly once: a scan_id seen before gets its first answer again and changes nothing.
  if (parsed.scan_id) {
    if (auto stored = store_.find_result(*parsed.scan_id)) {
      metrics_.scans_duplicate.fetch_add(1, std::memory_order_relaxed);
      answer(std::move(*stored));
      return out;
    }
  }

  ScanRecord rec;
  rec.scan_id = parsed.scan_id;
  rec.decided_at = now;

  if (!parsed.scan) {
    const Decision d{Status::Rejected, Reason::Malformed, std::nullopt};
    metrics_.count_scan(d.status, d.reason);
    spdlog::warn("malformed scan from {}: {}", parsed.scanner.value_or("an unknown scanner"),
                 parsed.error);
    if (!parsed.scanner && topic.empty()) return out;  // nobody to answer, nothing to audit by
    rec.code = parsed.code;
    rec.scanner = parsed.scanner;
    rec.status = to_string(d.status);
    rec.reason = to_string(d.reason);
    rec.result = make_result(parsed.scan_id, parsed.code, d, nullptr, now).dump();
    store_.record_scan(rec);
    answer(rec.result);
    return out;
  }

  const Scan& scan = *parsed.scan;
  const Millis at = effective_scan_time(scan, now);
  const std::optional<Ticket> ticket = store_.find_ticket(scan.code);
  const Decision d = decide(ticket ? &*ticket : nullptr, scan, at);
  if (d.new_usage) store_.save_usage(scan.code, *d.new_usage);
  metrics_.count_scan(d.status, d.reason);

  rec.code = scan.code;
  rec.scanner = scan.scanner;
  rec.gate = scan.gate;
  rec.direction = std::string(to_string(scan.direction));
  rec.scanned_at = scan.scanned_at;
  rec.status = to_string(d.status);
  rec.reason = to_string(d.reason);
  rec.result = make_result(scan.scan_id, scan.code, d, ticket ? &*ticket : nullptr, now).dump();
  store_.record_scan(rec);

  if (ticket) {
    if (auto event = make_scan_event(scan, d, *ticket, at)) {
      out.event = std::make_shared<const StoredEvent>(store_.append_event(ticket->uid, at, *event));
    }
  }
  answer(std::move(rec.result));
  return out;
}

}  // namespace tb
