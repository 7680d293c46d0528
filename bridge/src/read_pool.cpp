// The reader thread.
#include "read_pool.hpp"

#include <spdlog/spdlog.h>

#include "thread_name.hpp"

namespace tb {

ReadPool::ReadPool(std::unique_ptr<Store> store) : store_(std::move(store)) {
  thread_ = std::thread([this] {
    name_this_thread("tb-reader");
    run();
  });
}

ReadPool::~ReadPool() {
  stop();
}

void ReadPool::submit(std::function<void(Store&)> job) {
  if (!jobs_.push(std::move(job))) spdlog::debug("a read after the stop was dropped");
}

void ReadPool::stop() {
  jobs_.close();  // what is queued still runs
  if (thread_.joinable()) thread_.join();
}

void ReadPool::run() {
  std::vector<std::function<void(Store&)>> batch;
  while (jobs_.pop(batch)) {
    for (auto& job : batch) {
      try {
        job(*store_);
      } catch (const std::exception& e) {
        spdlog::error("read job failed: {}", e.what());
      }
    }
    batch.clear();
  }
}

}  // namespace tb
