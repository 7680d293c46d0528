// A log-linear latency histogram in the spirit of HdrHistogram: microsecond resolution, about
// 1.6 % relative precision from 1 us to over an hour, constant memory, mergeable.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace lg {

class Histogram {
 public:
  static constexpr int kSubBits = 7;  // 64 buckets per power of two: 1.6 % precision
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kMagnitudes = 36;  // up to 2^42 us

  void record(std::int64_t micros) {
    if (micros < 0) micros = 0;
    ++counts_[index(static_cast<std::uint64_t>(micros))];
    ++total_;
    if (micros > max_) max_ = micros;
  }
  void merge(const Histogram& o) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    if (o.max_ > max_) max_ = o.max_;
  }
  std::uint64_t count() const { return total_; }
  std::int64_t max() const { return max_; }
  // The value at quantile q (0..1), in microseconds (upper bound of its bucket).
  std::int64_t quantile(double q) const {
    if (total_ == 0) return 0;
    const auto target = static_cast<std::uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= target) {
        const auto v = upper(i);
        return v < max_ ? v : max_;
      }
    }
    return max_;
  }

 private:
  // Values below kSub are exact. Above, v >> shift lands in [kSub/2, kSub): index = shift * kSub +
  // (v >> shift), so each power of two is cut into kSub/2 buckets.
  static std::size_t index(std::uint64_t v) {
    if (v < kSub) return static_cast<std::size_t>(v);
    const int msb = 63 - __builtin_clzll(v);
    const int shift = msb - (kSubBits - 1);
    return static_cast<std::size_t>(shift) * kSub + static_cast<std::size_t>(v >> shift);
  }
  static std::int64_t upper(std::size_t i) {
    const std::size_t shift = i / kSub;
    const std::size_t sub = i % kSub;
    return static_cast<std::int64_t>(((sub + 1) << shift) - 1);
  }

  std::array<std::uint64_t, kMagnitudes * kSub> counts_{};
  std::uint64_t total_ = 0;
  std::int64_t max_ = 0;
};

}  // namespace lg
