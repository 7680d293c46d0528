// Whether the bridge can do its job, for /healthz and the metrics: the broker connection (set by
// the MQTT link, on Paho's thread) and the store (set by the writer). Each flag has one writer.
#pragma once

#include <atomic>

namespace tb {

class Health {
 public:
  void set_mqtt(bool up) { mqtt_.store(up, std::memory_order_relaxed); }
  // Returns what it was before, so that a change is logged once.
  bool set_store(bool up) { return store_.exchange(up, std::memory_order_relaxed); }

  bool mqtt() const { return mqtt_.load(std::memory_order_relaxed); }
  bool store() const { return store_.load(std::memory_order_relaxed); }
  bool ok() const { return mqtt() && store(); }

 private:
  std::atomic<bool> mqtt_{false};
  std::atomic<bool> store_{true};
};

}  // namespace tb
