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
#include <vector>

#include "metrics.hpp"
#include "store.hpp"

namespace tb {

// A scan as it arrived from the broker, not yet parsed.
struct InboundScan {
  std::string payload;
  std::optional<std::string> response_topic;  // MQTT v5 Response Topic
  std::optional<std::string> correlation;     // MQTT v5 Correlation Data
  std::chrono::steady_clock::time_point received = std::chrono::steady_clock::now();
};

// An answer for a scanner, ready to publish.
struct Answer {
  std::string topic;
  std::optional<std::string> correlation;
  std::string payload;
};

using AnswerSink = std::function<void(Answer)>;
using EventSink = std::function<void(std::shared_ptr<const StoredEvent>)>;

struct ScanProcessorOptions {
  std::size_t max_batch = 512;  // scans per transaction at most
  int store_attempts = 3;       // tries of a failing transaction before giving up on a batch
};

class ScanProcessor {
 public:
  ScanProcessor(Store& store, Metrics& metrics, AnswerSink answers, EventSink events,
                ScanProcessorOptions options = {});
  ScanProcessor(const ScanProcessor&) = delete;
  ScanProcessor& operator=(const ScanProcessor&) = delete;
  ~ScanProcessor();

  void start();
  // Decides what is queued, then stops the thread.
  void stop();
  // Thread-safe; cheap enough for Paho's callback thread.
  void submit(InboundScan scan);

  // Decides a batch synchronously on the calling thread (used by the thread and by tests).
  void process(std::vector<InboundScan>& batch);

 private:
  struct Pending {
    std::optional<Answer> answer;
    std::shared_ptr<const StoredEvent> event;
    std::chrono::steady_clock::time_point received;
    std::optional<std::string> scan_id;
  };

  void run();
  Pending decide_one(InboundScan& in, Millis now);
  static std::string answer_topic(const InboundScan& in, const std::optional<std::string>& scanner);

  Store& store_;
  Metrics& metrics_;
  AnswerSink answers_;
  EventSink events_;
  ScanProcessorOptions options_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<InboundScan> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tb
