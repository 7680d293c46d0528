// The acknowledged-up-to marks of the MQTT outbox (outbox.hpp).
#include "outbox.hpp"

#include <algorithm>
#include <iterator>
#include <vector>

namespace tb {

void Outbox::acked(const std::string& uid, std::int64_t seq) {
  std::lock_guard lock(mu_);
  auto& m = marks_[uid];
  m.acked = std::max(m.acked, seq);
  m.unsent.erase(seq);
  m.moved = true;
}

void Outbox::not_sent(const std::string& uid, std::int64_t seq) {
  std::lock_guard lock(mu_);
  marks_[uid].unsent[seq] = generation_;
}

std::uint64_t Outbox::begin_republish() {
  std::lock_guard lock(mu_);
  return ++generation_;
}

void Outbox::end_republish(std::uint64_t generation) {
  std::lock_guard lock(mu_);
  for (auto& [uid, m] : marks_) {
    std::erase_if(m.unsent, [&](const auto& held) { return held.second < generation; });
    m.moved = true;  // the mark may move on now
  }
}

std::size_t Outbox::flush(Store& store) {
  std::vector<std::pair<std::string, std::int64_t>> writes;
  {
    std::lock_guard lock(mu_);
    for (auto it = marks_.begin(); it != marks_.end();) {
      auto& m = it->second;
      const std::int64_t mark =
          m.unsent.empty() ? m.acked : std::min(m.acked, m.unsent.begin()->first - 1);
      if (m.moved && mark > 0) writes.emplace_back(it->first, mark);
      m.moved = false;
      // A uid with nothing held back is written and forgotten; one with an unsent event stays,
      // so that the mark moves on once that event is acknowledged.
      it = m.unsent.empty() ? marks_.erase(it) : std::next(it);
    }
  }
  // In uid order (byte order, as the store sorts): a shared store's rows are locked in the order
  // a scan batch locks them, so the two never wait for each other in a cycle.
  std::sort(writes.begin(), writes.end());
  // A write that fails (the transaction rolls back) only leaves the mark behind: the events after
  // it are published again at the next connect, duplicates that QoS 1 allows.
  for (const auto& [uid, seq] : writes) store.set_acked(uid, seq);
  return writes.size();
}

std::size_t Outbox::pending() const {
  std::lock_guard lock(mu_);
  return marks_.size();
}

}  // namespace tb
