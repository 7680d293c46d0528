// The acknowledged-up-to marks of the MQTT outbox (outbox.hpp).
#include "outbox.hpp"

#include <algorithm>

namespace tb {

void Outbox::acked(const std::string& uid, std::int64_t seq) {
  std::lock_guard lock(mu_);
  auto [it, fresh] = moved_.try_emplace(uid, seq);
  if (!fresh) it->second = std::max(it->second, seq);
}

std::size_t Outbox::flush(Store& store) {
  std::unordered_map<std::string, std::int64_t> moved;
  {
    std::lock_guard lock(mu_);
    moved.swap(moved_);
  }
  try {
    for (const auto& [uid, seq] : moved) store.set_acked(uid, seq);
  } catch (...) {
    // Not written: keep them for the next flush (a mark only moves forward, so merging is safe).
    for (const auto& [uid, seq] : moved) acked(uid, seq);
    throw;
  }
  return moved.size();
}

std::size_t Outbox::pending() const {
  std::lock_guard lock(mu_);
  return moved_.size();
}

}  // namespace tb
