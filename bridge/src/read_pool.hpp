// A thread with its own read connection to the store, for reads that must not block the network
// threads (WebSocket replay, GET /api/v1/tickets/<code>). Jobs run in order.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "store.hpp"

namespace tb {

class ReadPool {
 public:
  explicit ReadPool(std::unique_ptr<Store> store);
  ReadPool(const ReadPool&) = delete;
  ReadPool& operator=(const ReadPool&) = delete;
  ~ReadPool();

  // Runs `job` on the reader thread. A job that throws is logged and dropped; jobs report their
  // own errors through what they capture.
  void submit(std::function<void(Store&)> job);
  void stop();

 private:
  void run();

  std::unique_ptr<Store> store_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void(Store&)>> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tb
