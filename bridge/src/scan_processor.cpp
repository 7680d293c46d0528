// Batching writer for scans.
#include "scan_processor.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "admission.hpp"
#include "messages.hpp"
#include "scan.hpp"
#include "topics.hpp"

namespace tb {

ScanProcessor::ScanProcessor(Store& store, Metrics& metrics, Health& health, AnswerSink answers,
                             EventSink events, ScanProcessorOptions options)
    : store_(store),
      metrics_(metrics),
      health_(health),
      answers_(std::move(answers)),
      events_(std::move(events)),
      options_(options) {}

ScanProcessor::~ScanProcessor() {
  stop();
}

void ScanProcessor::start() {
  if (options_.maintenance) {  // once before anything is served: retention applies from the start
    std::vector<Job> batch;
    batch.emplace_back(WriteTask{options_.maintenance, nullptr});
    process(batch);
  }
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
  enqueue(std::move(scan));
}
void ScanProcessor::submit(WriteTask task) {
  enqueue(std::move(task));
}

void ScanProcessor::enqueue(Job job) {
  {
    std::lock_guard lock(mu_);
    if (!finished_) {
      queue_.push_back(std::move(job));
      metrics_.queue_depth.store(static_cast<std::int64_t>(queue_.size()),
                                 std::memory_order_relaxed);
      cv_.notify_one();
      return;
    }
  }
  // Shutting down and past the last batch. Paho has already acknowledged such a scan, so the
  // broker will not deliver it again: it is decided when its scanner sends it again after the
  // restart (the scanner agent re-sends every unanswered scan).
  if (auto* task = std::get_if<WriteTask>(&job)) {
    TaskOutcome outcome{false, "the bridge is shutting down", 0, {}};
    if (task->done) task->done(outcome);
    return;
  }
  metrics_.scans_unanswered.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn(
      "a scan arrived after the last batch of the shutdown: not decided now; its "
      "scanner's re-send decides it after the restart");
}

void ScanProcessor::run() {
  std::vector<Job> batch;
  auto next_maintenance = std::chrono::steady_clock::now() + options_.maintenance_interval;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      const bool woke = cv_.wait_for(lock, std::chrono::seconds(1),
                                     [this] { return stopping_ || !queue_.empty(); });
      if (stopping_ && queue_.empty()) {
        finished_ = true;  // everything queued was decided
        return;
      }
      batch.clear();
      const std::size_t n = woke ? std::min(queue_.size(), options_.max_batch) : 0;
      for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      metrics_.queue_depth.store(static_cast<std::int64_t>(queue_.size()),
                                 std::memory_order_relaxed);
    }
    if (batch.empty()) {
      check_store();  // idle: keep /healthz honest about the database
    } else {
      process(batch);
    }
    if (options_.maintenance && std::chrono::steady_clock::now() >= next_maintenance) {
      next_maintenance = std::chrono::steady_clock::now() + options_.maintenance_interval;
      batch.clear();
      batch.emplace_back(WriteTask{options_.maintenance, nullptr});
      process(batch);
    }
  }
}

void ScanProcessor::check_store() {
  try {
    store_.ping();
    health_.set_store(true);
  } catch (const std::exception& e) {
    if (health_.set_store(false)) spdlog::error("the store does not answer: {}", e.what());
  }
}

void ScanProcessor::process(std::vector<InboundScan>& scans) {
  std::vector<Job> batch;
  batch.reserve(scans.size());
  for (auto& s : scans) batch.emplace_back(std::move(s));
  process(batch);
}

void ScanProcessor::process(std::vector<Job>& batch) {
  std::vector<Pending> done;
  done.reserve(batch.size());
  for (int attempt = 1;; ++attempt) {
    done.clear();
    try {
      Store::Transaction tx(store_);
      const Millis now = now_ms();
      for (auto& job : batch) {
        if (auto* scan = std::get_if<InboundScan>(&job)) {
          done.push_back(decide_one(*scan, now));
        } else {
          done.push_back(apply_task(std::get<WriteTask>(job)));
        }
      }
      tx.commit();
      health_.set_store(true);
      metrics_.batches.fetch_add(1, std::memory_order_relaxed);
      break;
    } catch (const std::exception& e) {
      metrics_.store_errors.fetch_add(1, std::memory_order_relaxed);
      health_.set_store(false);
      if (attempt >= options_.store_attempts) {
        // Nothing of the batch was committed and nobody was told anything: the scanners see no
        // answer and publish the same scan_id again, which is decided once the store is back.
        spdlog::error("store failed {} times, {} scans left unanswered: {}", attempt, batch.size(),
                      e.what());
        for (auto& job : batch) {
          if (auto* task = std::get_if<WriteTask>(&job)) {
            TaskOutcome failed;
            failed.ok = false;
            failed.error = "the store is unavailable";
            if (task->done) task->done(failed);
          } else {
            metrics_.scans_unanswered.fetch_add(1, std::memory_order_relaxed);
          }
        }
        return;
      }
      spdlog::warn("store transaction failed (attempt {}): {}; retrying", attempt, e.what());
      std::this_thread::sleep_for(std::chrono::milliseconds(50 * attempt * attempt));
    }
  }

  // Committed: now the scanners and owners may hear about it.
  for (auto& p : done) {
    if (p.task != nullptr) {
      for (const auto& e : p.outcome.events) {
        p.outcome.delivered += events_(e);
        metrics_.events_published.fetch_add(1, std::memory_order_relaxed);
      }
      if (p.task->done) p.task->done(p.outcome);
      continue;
    }
    if (p.answer) answers_(std::move(*p.answer));
    if (p.event) {
      events_(p.event);
      metrics_.events_published.fetch_add(1, std::memory_order_relaxed);
    }
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - p.received;
    metrics_.decision_seconds.observe(took.count());
  }
}

ScanProcessor::Route ScanProcessor::answer_route(const InboundScan& in,
                                                 const std::optional<std::string>& scanner) {
  std::optional<std::string> own;
  if (scanner) own = topics::result(*scanner);
  if (in.response_topic && !in.response_topic->empty()) {
    // The Response Topic is the scanner's to choose: untrusted. It is never logged as is.
    const auto refusal = topics::response_topic_refusal(*in.response_topic, scanner);
    if (!refusal) return Route{*in.response_topic, own};
    metrics_.response_topics_refused.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("scan from {}: Response Topic not used ({}); answering on {}",
                 scanner.value_or("an unknown scanner"), *refusal, own.value_or("no topic"));
  }
  return Route{own.value_or(std::string()), std::nullopt};
}

ScanProcessor::Pending ScanProcessor::apply_task(WriteTask& task) {
  Pending out;
  out.task = &task;
  store_.savepoint();
  try {
    task.apply(store_, out.outcome);
    store_.release_savepoint();
  } catch (const sql::Error& e) {
    if (!e.is_constraint()) throw;  // the store is in trouble: the whole batch retries
    store_.rollback_to_savepoint();
    out.outcome = TaskOutcome{false, e.what(), 0, {}};
  } catch (const std::exception& e) {
    store_.rollback_to_savepoint();
    out.outcome = TaskOutcome{false, e.what(), 0, {}};
  }
  return out;
}

ScanProcessor::Pending ScanProcessor::decide_one(InboundScan& in, Millis now) {
  Pending out;
  out.received = in.received;
  ParsedScan parsed = parse_scan(in.payload);
  const Route route = answer_route(in, parsed.scanner);
  const auto answer = [&](std::string payload) {
    if (!route.topic.empty()) {
      out.answer = Answer{route.topic, in.correlation, std::move(payload), route.fallback};
    }
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
    if (!parsed.scanner && route.topic.empty())
      return out;  // nobody to answer, nothing to audit by
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
