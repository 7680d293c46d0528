// The single writer: takes scans handed over by the MQTT link, decides them in batches inside
// one SQLite transaction each, and only after the commit hands answers and owner events on.
// Grouping the commits keeps every answer durable without paying one fsync per scan.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "envelopes.hpp"
#include "health.hpp"
#include "metrics.hpp"
#include "store.hpp"

namespace tb {

using AnswerSink = std::function<void(Answer)>;
// Delivers a committed event (MQTT, WebSocket); returns how many live connections got it.
using EventSink = std::function<std::size_t(std::shared_ptr<const StoredEvent>)>;

// Other writes (the HTTP API's pushes and tickets, retention) go through the same thread, so that
// each uid's seq is assigned and delivered in one order and writes share the batched commits.
struct TaskOutcome {
  bool ok = true;
  std::string error;          // when not ok
  std::size_t delivered = 0;  // live connections that got the task's events
  std::vector<std::shared_ptr<const StoredEvent>> events;  // appended by `apply`
};

struct WriteTask {
  // Runs inside the batch's transaction, in a savepoint of its own: if it throws, only its own
  // writes are undone and `done` gets ok = false.
  std::function<void(Store&, TaskOutcome&)> apply;
  // Runs after the commit and after the events were delivered (or after a failure).
  std::function<void(TaskOutcome&)> done;
};

struct ScanProcessorOptions {
  std::size_t max_batch = 512;  // scans per transaction at most
  int store_attempts = 3;       // tries of a failing transaction before giving up on a batch
  // Housekeeping (event retention) run as a task every `maintenance_interval`.
  std::function<void(Store&, TaskOutcome&)> maintenance;
  std::chrono::milliseconds maintenance_interval{60000};
};

class ScanProcessor {
 public:
  ScanProcessor(Store& store, Metrics& metrics, Health& health, AnswerSink answers,
                EventSink events, ScanProcessorOptions options = {});
  ScanProcessor(const ScanProcessor&) = delete;
  ScanProcessor& operator=(const ScanProcessor&) = delete;
  ~ScanProcessor();

  void start();
  // Decides what is queued, then stops the thread.
  void stop();
  // Thread-safe; cheap enough for Paho's callback thread.
  void submit(InboundScan scan);
  void submit(WriteTask task);

  using Job = std::variant<InboundScan, WriteTask>;
  // Runs a batch synchronously on the calling thread (used by the thread and by tests).
  void process(std::vector<Job>& batch);
  void process(std::vector<InboundScan>& scans);

 private:
  struct Pending {
    std::optional<Answer> answer;
    std::shared_ptr<const StoredEvent> event;
    std::chrono::steady_clock::time_point received;
    WriteTask* task = nullptr;  // set for tasks
    TaskOutcome outcome;
  };

  void run();
  void check_store();
  Pending decide_one(InboundScan& in, Millis now);
  Pending apply_task(WriteTask& task);
  void enqueue(Job job);
  // Where the answer goes: the Response Topic when SPEC.md v1.1 allows it, else the scanner's
  // own topic; empty when nobody can be answered.
  struct Route {
    std::string topic;
    std::optional<std::string> fallback;
  };
  Route answer_route(const InboundScan& in, const std::optional<std::string>& scanner);

  Store& store_;
  Metrics& metrics_;
  Health& health_;
  AnswerSink answers_;
  EventSink events_;
  ScanProcessorOptions options_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  bool finished_ = false;  // the thread decided its last batch: nothing more is taken
  std::thread thread_;
};

}  // namespace tb
