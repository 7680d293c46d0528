// Routes committed owner events to the live connections of their uid. Subscribers are the
// WebSocket sessions; the hub knows nothing of sockets. An event is serialized once (in the
// store) and the same shared string goes to every connection of the uid. Another bridge's events
// come as hints (peer_events.hpp): the seq only, and the subscriber reads the event from the
// store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
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
  // Any thread, the same: another bridge committed event `seq` of the uid (nothing: events may
  // have been missed). Never the event itself: what the broker says is not believed, the store is.
  virtual void hint(std::optional<std::int64_t> seq) = 0;
};

class EventHub {
 public:
  // Adds `s` unless the uid has `max_per_uid` live subscribers already (then false).
  bool subscribe(const std::string& uid, const std::shared_ptr<EventSubscriber>& s,
                 std::size_t max_per_uid = SIZE_MAX);
  void unsubscribe(const std::string& uid, const EventSubscriber* s);
  // Hands the event to every live subscriber of its uid; returns how many there were.
  std::size_t publish(const std::shared_ptr<const StoredEvent>& event);
  // Hands the hint of another bridge's event `seq` of `uid` to its live subscribers; how many.
  std::size_t hint(const std::string& uid, std::int64_t seq);
  bool has_subscribers(const std::string& uid) const;
  // Every subscriber may have missed events (the hints' connection was down).
  void hint_all();
  std::size_t connections() const;

 private:
  std::vector<std::shared_ptr<EventSubscriber>> subscribers_of(const std::string& uid) const;

  mutable std::mutex mu_;
  std::unordered_map<std::string, std::vector<std::weak_ptr<EventSubscriber>>> by_uid_;
  std::size_t count_ = 0;
};

}  // namespace tb
