// Routes committed owner events to the live connections of their uid. Subscribers are the
// WebSocket sessions; the hub knows nothing of sockets. An event is serialized once (in the
// store) and the same shared string goes to every connection of the uid.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "store.hpp"

namespace tb {

class EventSubscriber {
 public:
  virtual ~EventSubscriber() = default;
  // Called from the writer thread: must only hand the event to the subscriber's own executor.
  virtual void deliver(const std::shared_ptr<const StoredEvent>& event) = 0;
};

class EventHub {
 public:
  // Adds `s` unless the uid has `max_per_uid` live subscribers already (then false).
  bool subscribe(const std::string& uid, const std::shared_ptr<EventSubscriber>& s,
                 std::size_t max_per_uid = SIZE_MAX);
  void unsubscribe(const std::string& uid, const EventSubscriber* s);
  // Hands the event to every live subscriber of its uid; returns how many there were.
  std::size_t publish(const std::shared_ptr<const StoredEvent>& event);
  std::size_t connections() const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::vector<std::weak_ptr<EventSubscriber>>> by_uid_;
  std::size_t count_ = 0;
};

}  // namespace tb
