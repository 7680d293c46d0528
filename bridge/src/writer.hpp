// The single writer of the store. Everything that writes goes through its one thread as a job:
// scans handed over by the MQTT link (decided by scan_decision.hpp), and tasks (the HTTP API's
// pushes, tickets and revokes, and retention). Jobs are run in batches inside one SQLite
// transaction each, and only after the commit are answers and owner events handed on: every
// answer is durable without one fsync per scan, and each uid's seq is assigned and delivered in
// one order.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "envelopes.hpp"
#include "health.hpp"
#include "metrics.hpp"
#include "scan_decision.hpp"
#include "store.hpp"
#include "work_queue.hpp"

namespace tb {

using AnswerSink = std::function<void(Answer)>;
// Delivers a committed event (MQTT, WebSocket); returns how many live connections got it.
using EventSink = std::function<std::size_t(std::shared_ptr<const StoredEvent>)>;

// What a task did, for its `done`.
struct TaskOutcome {
  bool ok = true;
  std::string error;          // when not ok
  std::size_t delivered = 0;  // live connections that got the task's events
  std::vector<std::shared_ptr<const StoredEvent>> events;  // appended by `apply`
  std::vector<SyncEntry> feed;  // news for the gates' feed, appended by `apply`
};

struct WriteTask {
  // Runs inside the batch's transaction, in a savepoint of its own: if it throws, only its own
  // writes are undone and `done` gets ok = false.
  std::function<void(Store&, TaskOutcome&)> apply;
  // Runs after the commit and after the events were delivered (or after a failure).
  std::function<void(TaskOutcome&)> done;
  // The bridge's own bookkeeping (retention, the outbox's marks): a batch of only such tasks
  // does not prove, after a failed write, that the store takes writes again (its writes are a
  // few rows; the clients' may be larger).
  bool housekeeping = false;
};

struct WriterOptions {
  std::size_t max_batch = 512;  // scans per transaction at most
  // Group commit: while the writer is busy (its last batch began less than 4 windows ago), a
  // batch waits until its first job is this old, so that one fsync commits what came meanwhile.
  // An idle gate's scan never waits. Zero: never wait.
  std::chrono::microseconds group_commit{0};
  int store_attempts = 3;  // tries of a failing transaction before giving up on a batch
  // Housekeeping run as a task every `every` (event retention, the outbox's marks).
  struct Periodic {
    std::function<void(Store&, TaskOutcome&)> apply;
    std::chrono::milliseconds every{60000};
  };
  std::vector<Periodic> periodic;
  ScanRules scans;  // the repeat window and text line of embedded scanners' scans
  // Runs once per committed batch, after its answers and events went to the sinks and before the
  // tasks' `done`: sinks that collect a batch hand it on here at once (one wake of the thread
  // that sends them, not one per message).
  std::function<void()> after_batch;
  // Runs once per committed batch that changed signed tickets (ScanRules::gate_feed, and tasks'
  // TaskOutcome::feed), with all of the batch's news, before `after_batch`.
  std::function<void(std::vector<SyncEntry>&)> on_feed;
  // Counts each committed decision with its decision time (the operator page); may be null.
  VenueBoard* board = nullptr;
};

class Writer {
 public:
  Writer(Store& store, Metrics& metrics, Health& health, AnswerSink answers, EventSink events,
         WriterOptions options = {});
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  ~Writer();

  void start();
  // Decides what is queued, then stops the thread.
  void stop();
  // Thread-safe; cheap enough for Paho's callback thread.
  void submit(InboundScan scan);
  void submit(WriteTask task);

  // A scan is a job of its own kind (no std::function per scan on the hot path).
  using Job = std::variant<InboundScan, WriteTask>;
  // Runs a batch synchronously on the calling thread (used by the thread and by tests).
  void process(std::vector<Job>& batch);
  void process(std::vector<InboundScan>& scans);

 private:
  struct Pending {
    std::optional<Answer> answer;
    std::shared_ptr<const StoredEvent> event;
    std::optional<ScanNote> note;
    std::optional<VerdictNote> verdict;
    std::optional<SyncEntry> feed;
    std::optional<Tally> tally;
    std::chrono::steady_clock::time_point received;
    WriteTask* task = nullptr;  // set for tasks
    TaskOutcome outcome;
  };

  void run();
  void check_store();
  Pending apply_task(WriteTask& task);
  void lock_ahead(std::vector<Job>& batch, std::vector<std::optional<ParsedScan>>& parsed);
  void enqueue(Job job);
  void gather(std::vector<Job>& batch);

  Store& store_;
  Metrics& metrics_;
  Health& health_;
  AnswerSink answers_;
  EventSink events_;
  WriterOptions options_;
  bool writes_failing_ = false;                         // the last write failed: see check_store()
  std::chrono::steady_clock::time_point last_batch_{};  // when the last batch was taken
  // A batch that lost a race to another bridge runs again up to this often, after 1-5 ms times
  // the number of tries (at random).
  static constexpr int kMaxConflictRetries = 20;
  std::minstd_rand rng_{std::random_device{}()};
  std::uniform_int_distribution<int> jitter_{1000, 5000};  // microseconds

  WorkQueue<Job> queue_;  // refuses jobs once the thread decided its last batch
  std::thread thread_;
};

}  // namespace tb
