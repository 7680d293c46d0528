// The hand-over between threads used throughout: producers push from any thread, one consumer
// takes what is there in batches. Closing lets the consumer drain what was queued; only after it
// saw the queue closed and empty are pushes refused, so nothing pushed is ever silently lost.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <limits>
#include <mutex>
#include <vector>

namespace tb {

template <class T>
class WorkQueue {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kAll = std::numeric_limits<std::size_t>::max();

  // False when the consumer has finished (closed and drained): the item was not taken and is left
  // to the caller as it was.
  bool push(T&& item) {
    {
      std::lock_guard lock(mu_);
      if (finished_) return false;
      items_.push_back(std::move(item));
    }
    cv_.notify_one();
    return true;
  }

  // Pushes all of `items` in order, with one wake of the consumer; false (nothing taken) when
  // the consumer has finished.
  bool push_all(std::vector<T>& items) {
    if (items.empty()) return true;
    {
      std::lock_guard lock(mu_);
      if (finished_) return false;
      for (auto& item : items) items_.push_back(std::move(item));
    }
    items.clear();
    cv_.notify_one();
    return true;
  }

  // Waits until there are items, the queue is closed, or `until`; then moves up to `max` items
  // into `out` (appended). False once the queue is closed and empty: the consumer is done, and
  // from then on pushes are refused.
  bool pop(std::vector<T>& out, std::size_t max = kAll,
           Clock::time_point until = Clock::time_point::max()) {
    std::unique_lock lock(mu_);
    const auto ready = [this] { return closed_ || !items_.empty(); };
    if (until == Clock::time_point::max()) {
      cv_.wait(lock, ready);
    } else {
      cv_.wait_until(lock, until, ready);
    }
    if (items_.empty() && closed_) {
      finished_ = true;
      return false;
    }
    for (std::size_t n = 0; n < max && !items_.empty(); ++n) {
      out.push_back(std::move(items_.front()));
      items_.pop_front();
    }
    return true;
  }

  // The consumer takes what is queued and then stops (pop returns false).
  void close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }

  std::size_t size() const {
    std::lock_guard lock(mu_);
    return items_.size();
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> items_;
  bool closed_ = false;
  bool finished_ = false;
};

}  // namespace tb
