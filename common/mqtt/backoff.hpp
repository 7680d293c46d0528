// The one reconnect policy of the project: the delay starts at `min`, doubles after every failed
// attempt up to `max`, and each delay is scaled by a random factor in [0.5, 1.5) so that many
// clients that lost the same broker do not all come back in the same millisecond.
#pragma once

#include <algorithm>
#include <chrono>
#include <random>

namespace tb {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds min, std::chrono::milliseconds max)
      : min_(min), max_(std::max(min, max)), next_(min), rng_(std::random_device{}()) {}

  // The delay before the next attempt; the one after it is twice as long (up to `max`).
  std::chrono::milliseconds next() {
    const auto base = next_;
    next_ = std::min(next_ * 2, max_);
    std::uniform_real_distribution<double> jitter(0.5, 1.5);
    return std::chrono::duration_cast<std::chrono::milliseconds>(base * jitter(rng_));
  }
  // After a success: the next failure waits `min` again.
  void reset() { next_ = min_; }

 private:
  std::chrono::milliseconds min_, max_, next_;
  std::mt19937 rng_;
};

}  // namespace tb
