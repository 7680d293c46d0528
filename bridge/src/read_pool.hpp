// A thread with its own read connection to the store, for reads that must not block the network
// threads (WebSocket replay, GET /api/v1/tickets/<code>). Jobs run in order.
#pragma once

#include <functional>
#include <memory>
#include <thread>

#include "store.hpp"
#include "work_queue.hpp"

namespace tb {

class ReadPool {
 public:
  explicit ReadPool(std::unique_ptr<Store> store);
  ReadPool(const ReadPool&) = delete;
  ReadPool& operator=(const ReadPool&) = delete;
  ~ReadPool();

  // Runs `job` on the reader thread. A job that throws is logged and dropped; jobs report their
  // own errors through what they capture. After stop(), jobs are dropped unrun.
  void submit(std::function<void(Store&)> job);
  void stop();

 private:
  void run();

  std::unique_ptr<Store> store_;
  WorkQueue<std::function<void(Store&)>> jobs_;
  std::thread thread_;
};

}  // namespace tb
