// The outbox of owner events on MQTT: every committed event reaches `users/<uid>/events` at least
// once, even when the bridge dies between the commit and the broker's acknowledgement.
//
// The store keeps, per uid, the seq up to which the broker acknowledged (PUBACK) the uid's events
// (users.mqtt_acked_seq). A PUBACK moves the mark here, in memory, on Paho's thread; the writer
// writes the moved marks once a second (a lagging mark only means a duplicate later, which QoS 1
// allows). On start and after every reconnect the bridge publishes every stored event after its
// uid's mark, in seq order per uid: what was committed but never acknowledged, the publishes
// that were in flight when the process was killed, and the events committed while the broker
// was away (those are not handed to Paho then, so its buffer never overflows and drops them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "store.hpp"

namespace tb {

class Outbox {
 public:
  // Any thread (Paho's): the broker acknowledged event `seq` of `uid`.
  void acked(const std::string& uid, std::int64_t seq);
  // The writer's thread, inside a transaction: writes the marks moved since the last call.
  // Returns how many uids' marks were written.
  std::size_t flush(Store& store);
  // Marks moved and not written yet.
  std::size_t pending() const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::int64_t> moved_;  // uid -> highest acknowledged seq
};

// Every stored event not acknowledged yet, in pages of `page` events, each handed to `publish`
// in (uid, seq) order. Returns how many there were.
template <class Publish>
std::size_t republish_unacked(Store& store, Publish&& publish, int page = 1000) {
  std::string uid;
  std::int64_t seq = 0;
  std::size_t n = 0;
  for (;;) {
    auto events = store.unacked_events(uid, seq, page);
    for (auto& e : events) {
      uid = e.uid;
      seq = e.seq;
      publish(std::move(e));
      ++n;
    }
    if (events.size() < static_cast<std::size_t>(page)) return n;
  }
}

}  // namespace tb
