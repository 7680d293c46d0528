// The reader thread.
#include "read_pool.hpp"

#include <spdlog/spdlog.h>

namespace tb {

ReadPool::ReadPool(std::unique_ptr<Store> store) : store_(std::move(store)) {
  thread_ = std::thread([this] { run(); });
}

ReadPool::~ReadPool() {
  stop();
}

void ReadPool::submit(std::function<void(Store&)> job) {
  {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void ReadPool::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ReadPool::run() {
  for (;;) {
    std::function<void(Store&)> job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    try {
      job(*store_);
    } catch (const std::exception& e) {
      spdlog::error("read job failed: {}", e.what());
    }
  }
}

}  // namespace tb
