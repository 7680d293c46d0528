// The settlements of the MQTT outbox (outbox.hpp).
#include "outbox.hpp"

#include <algorithm>

namespace tb {

void Outbox::settled(const std::string& uid, std::int64_t seq) {
  std::lock_guard lock(mu_);
  settled_.emplace_back(uid, seq);
}

std::size_t Outbox::flush(Store& store) {
  std::vector<EventKey> rows;
  {
    std::lock_guard lock(mu_);
    rows.swap(settled_);
  }
  // In key order: bridges sharing a store lock outbox rows in one order, never in a cycle.
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  // A delete that fails (the transaction rolls back) only leaves the rows unsettled: those events
  // are published again at the next connect or sweep, duplicates that QoS 1 allows.
  store.settle_events(rows);
  return rows.size();
}

std::size_t Outbox::pending() const {
  std::lock_guard lock(mu_);
  return settled_.size();
}

}  // namespace tb
