// The single writer (writer.hpp): batches, the transaction, and what happens after the commit.
#include "writer.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "scan_decision.hpp"
#include "thread_name.hpp"

namespace tb {

Writer::Writer(Store& store, Metrics& metrics, Health& health, AnswerSink answers, EventSink events,
               WriterOptions options)
    : store_(store),
      metrics_(metrics),
      health_(health),
      answers_(std::move(answers)),
      events_(std::move(events)),
      options_(options) {}

Writer::~Writer() {
  stop();
}

void Writer::start() {
  // Each once before anything is served: retention applies from the start.
  for (const auto& p : options_.periodic) {
    std::vector<Job> batch;
    batch.emplace_back(WriteTask{p.apply, nullptr, true});
    process(batch);
  }
  thread_ = std::thread([this] {
    name_this_thread("tb-writer");
    run();
  });
}

void Writer::stop() {
  queue_.close();  // the thread decides what is queued, then ends
  if (thread_.joinable()) thread_.join();
}

void Writer::submit(InboundScan scan) {
  enqueue(std::move(scan));
}
void Writer::submit(WriteTask task) {
  enqueue(std::move(task));
}

void Writer::enqueue(Job job) {
  if (queue_.push(std::move(job))) {
    metrics_.queue_depth.store(static_cast<std::int64_t>(queue_.size()), std::memory_order_relaxed);
    return;
  }
  // Shutting down and past the last batch. Paho has already acknowledged such a scan, so the
  // broker will not deliver it again: it is decided when its scanner sends it again after the
  // restart (the scanner agent re-sends every unanswered scan).
  if (auto* task = std::get_if<WriteTask>(&job)) {
    TaskOutcome outcome{false, "the bridge is shutting down", 0, {}, {}};
    if (task->done) task->done(outcome);
    return;
  }
  metrics_.scans_unanswered.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn(
      "a scan arrived after the last batch of the shutdown: not decided now; its "
      "scanner's re-send decides it after the restart");
}

void Writer::run() {
  std::vector<Job> batch;
  std::vector<std::chrono::steady_clock::time_point> due;
  for (const auto& p : options_.periodic) due.push_back(std::chrono::steady_clock::now() + p.every);
  for (;;) {
    batch.clear();
    // Wakes at least once a second: an idle writer checks the store.
    if (!queue_.pop(batch, options_.max_batch,
                    std::chrono::steady_clock::now() + std::chrono::seconds(1))) {
      return;  // closed, and everything queued was decided
    }
    if (!batch.empty()) gather(batch);
    metrics_.queue_depth.store(static_cast<std::int64_t>(queue_.size()), std::memory_order_relaxed);
    if (batch.empty()) {
      check_store();  // idle: keep /healthz honest about the database
    } else {
      process(batch);
    }
    for (std::size_t i = 0; i < options_.periodic.size(); ++i) {
      if (std::chrono::steady_clock::now() < due[i]) continue;
      due[i] = std::chrono::steady_clock::now() + options_.periodic[i].every;
      batch.clear();
      batch.emplace_back(WriteTask{options_.periodic[i].apply, nullptr, true});
      process(batch);
    }
  }
}

// Group commit (WriterOptions::group_commit). The writer sleeps rather than waits on the queue:
// producers then find nobody to wake, so the jobs that arrive meanwhile cost no hand-off at all.
void Writer::gather(std::vector<Job>& batch) {
  const auto window = options_.group_commit;
  const auto now = std::chrono::steady_clock::now();
  const bool busy = now - last_batch_ < 4 * window;
  last_batch_ = now;
  if (window.count() == 0 || !busy || batch.size() >= options_.max_batch) return;
  const auto* first = std::get_if<InboundScan>(&batch.front());
  const auto until = (first != nullptr ? first->received : now) + window;
  if (until <= now) return;
  std::this_thread::sleep_until(until);
  queue_.pop(batch, options_.max_batch - batch.size(), std::chrono::steady_clock::now());
}

// While writes succeed, a read tells that the store still answers. After a write failed (a full
// disk, a file-size limit), a read would succeed and say "up" although nothing can be stored:
// the store stays down until a write, a real one or this probe, succeeds.
void Writer::check_store() {
  try {
    if (writes_failing_) {
      store_.probe_write();
      writes_failing_ = false;
      spdlog::info("the store takes writes again");
    } else {
      store_.ping();
    }
    health_.set_store(true);
  } catch (const std::exception& e) {
    if (health_.set_store(false)) spdlog::error("the store does not answer: {}", e.what());
  }
}

void Writer::process(std::vector<InboundScan>& scans) {
  std::vector<Job> batch;
  batch.reserve(scans.size());
  for (auto& s : scans) batch.emplace_back(std::move(s));
  process(batch);
}

void Writer::process(std::vector<Job>& batch) {
  const bool housekeeping = std::all_of(batch.begin(), batch.end(), [](const Job& job) {
    const auto* task = std::get_if<WriteTask>(&job);
    return task != nullptr && task->housekeeping;
  });
  std::vector<Pending> done;
  done.reserve(batch.size());
  // A shared store: the scans parsed ahead, to lock their tickets (lock_ahead), by job index.
  std::vector<std::optional<ParsedScan>> parsed;
  int conflicts = 0;
  for (int attempt = 1;; ++attempt) {
    done.clear();
    try {
      const auto changes_before = store_.total_changes();
      Store::Transaction tx(store_);
      if (store_.lock_ahead()) lock_ahead(batch, parsed);
      const Millis now = now_ms();
      for (std::size_t i = 0; i < batch.size(); ++i) {
        auto& job = batch[i];
        if (auto* scan = std::get_if<InboundScan>(&job)) {
          const ParsedScan* ahead = i < parsed.size() && parsed[i] ? &*parsed[i] : nullptr;
          Decided d = decide_scan(store_, metrics_, *scan, now, options_.scans, ahead);
          Pending& p = done.emplace_back();
          p.answer = std::move(d.answer);
          p.event = std::move(d.event);
          p.note = std::move(d.note);
          p.verdict = std::move(d.verdict);
          p.feed = std::move(d.feed);
          p.tally = std::move(d.tally);
          p.received = scan->received;
        } else {
          done.push_back(apply_task(std::get<WriteTask>(job)));
        }
      }
      tx.commit();
      // Only a commit of the clients' writes proves that the store takes writes again.
      if (!housekeeping && store_.total_changes() != changes_before) writes_failing_ = false;
      if (!writes_failing_) health_.set_store(true);
      metrics_.batches.fetch_add(1, std::memory_order_relaxed);
      break;
    } catch (const std::exception& e) {
      // A race lost to another bridge on the same store: it stored this scan_id first, or
      // PostgreSQL undid this transaction to end a deadlock or a lock wait. Nothing is wrong with
      // the store: run the batch again soon (a few ms, at random, so that the two do not meet
      // again), and the scan finds the other bridge's result. It uses none of the attempts.
      const auto* db = dynamic_cast<const DbError*>(&e);
      if (db != nullptr && db->is_conflict() && conflicts < kMaxConflictRetries) {
        ++conflicts;
        --attempt;
        metrics_.store_conflicts.fetch_add(1, std::memory_order_relaxed);
        spdlog::debug("store: {}; running the batch again", e.what());
        std::this_thread::sleep_for(std::chrono::microseconds(jitter_(rng_) * conflicts));
        continue;
      }
      metrics_.store_errors.fetch_add(1, std::memory_order_relaxed);
      writes_failing_ = true;
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

  // Committed: now the scanners and owners may hear about it, in the batch's order.
  std::vector<SyncEntry> feed;
  for (auto& p : done) {
    if (p.task != nullptr) {
      for (const auto& e : p.outcome.events) {
        p.outcome.delivered += events_(e);
        metrics_.events_published.fetch_add(1, std::memory_order_relaxed);
      }
      for (auto& f : p.outcome.feed) feed.push_back(std::move(f));
      continue;
    }
    if (p.feed) feed.push_back(std::move(*p.feed));
    if (p.note) log_scan(*p.note);
    if (p.verdict) count_verdict(metrics_, *p.verdict);
    if (p.answer) answers_(std::move(*p.answer));
    if (p.event) {
      events_(p.event);
      metrics_.events_published.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (!feed.empty() && options_.on_feed) options_.on_feed(feed);
  if (options_.after_batch) options_.after_batch();
  const auto handed_over = std::chrono::steady_clock::now();
  for (auto& p : done) {
    if (p.task == nullptr) {
      const std::chrono::duration<double> took = handed_over - p.received;
      metrics_.decision_seconds.observe(took.count());
      if (p.tally && options_.board != nullptr) options_.board->record(*p.tally, took.count());
    } else if (p.task->done) {
      p.task->done(p.outcome);
    }
  }
}

// A shared store: the batch's tickets and their owners are locked before any is decided, each
// in order (Store::prepare_decisions), so that two bridges' batches wait for each other
// instead of deadlocking. The scans are parsed for it, once (`parsed`, by job index, kept for
// the batch's next attempt); decide_scan starts from that parse.
void Writer::lock_ahead(std::vector<Job>& batch, std::vector<std::optional<ParsedScan>>& parsed) {
  if (parsed.empty()) {
    parsed.resize(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (auto* scan = std::get_if<InboundScan>(&batch[i])) parsed[i] = parse_inbound(*scan);
    }
  }
  Store::DecisionKeys keys;
  for (std::size_t i = 0; i < parsed.size(); ++i) {
    const auto& p = parsed[i];
    if (!p) continue;
    if (p->scan_id) keys.scan_ids.push_back(*p->scan_id);
    if (!p->scan) continue;  // a malformed scan touches no ticket and reads no scanner
    keys.codes.push_back(p->scan->code);
    keys.scanners.push_back(p->scan->scanner);
    // decide_scan's repeat window: a device's scan without a scan_id.
    const bool device = std::get<InboundScan>(batch[i]).device_scanner.has_value();
    if (device && !p->scan->scan_id && options_.scans.repeat_window_ms > 0) {
      keys.repeat_codes.push_back(p->scan->code);
    }
  }
  store_.prepare_decisions(std::move(keys));
}

Writer::Pending Writer::apply_task(WriteTask& task) {
  Pending out;
  out.task = &task;
  store_.savepoint();
  try {
    task.apply(store_, out.outcome);
    store_.release_savepoint();
  } catch (const DbError& e) {
    if (!e.is_constraint()) throw;  // the store is in trouble: the whole batch retries
    store_.rollback_to_savepoint();
    out.outcome = TaskOutcome{false, e.what(), 0, {}, {}};
  } catch (const std::exception& e) {
    store_.rollback_to_savepoint();
    out.outcome = TaskOutcome{false, e.what(), 0, {}, {}};
  }
  return out;
}

}  // namespace tb
