// The outbox of owner events on MQTT: every committed event reaches `users/<uid>/events` at least
// once, even when the bridge that stored it dies, or loses its broker link, before the broker's
// acknowledgement.
//
// The store keeps every event as unsettled, in the outbox table, from the commit that stored it
// until a bridge settles it: the broker acknowledged it (PUBACK), or refused it for good (it
// would be refused again). A settlement is noted here, in memory, on Paho's thread; the writer
// deletes the settled rows once a second (a row left behind only means a duplicate later, which
// QoS 1 allows). Rows are per event, not a mark per uid, so that bridges sharing a store never
// settle each other's events: an event one bridge could not send stays unsettled whatever the
// others had acknowledged.
//
// Who publishes an unsettled event: on start and after every reconnect, a bridge publishes every
// unsettled event in the store, in seq order per uid (those committed while its broker was away
// are not handed to Paho then, so its buffer never overflows and drops them). And every minute a
// connected bridge publishes those unsettled for over a minute: the events of a bridge that died
// and is not coming back, or that lost its link, go out through the others.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <string>
#include <vector>

#include "store.hpp"

namespace tb {

class Outbox {
 public:
  // Any thread (Paho's): the broker acknowledged event `seq` of `uid`, or refused it for good.
  void settled(const std::string& uid, std::int64_t seq);
  // The writer's thread, inside a transaction: deletes the rows settled since the last call.
  // Returns how many.
  std::size_t flush(Store& store);
  // Settled events not deleted yet.
  std::size_t pending() const;

 private:
  mutable std::mutex mu_;
  std::vector<EventKey> settled_;
};

// Where a republish of unsettled events goes on: after this (uid, seq), among those stored
// before `before` (a sweep's age; every one at a connect).
struct OutboxCursor {
  std::string uid;
  std::int64_t seq = 0;
  Millis before = std::numeric_limits<Millis>::max();
  std::size_t sent = 0;  // events handed to `publish` so far
  bool done = false;
};

// One page of the unsettled events after `cursor`, each handed to `publish` in (uid, seq) order.
// One page per call, so that a long backlog does not hold the reader.
template <class Publish>
void republish_page(Store& store, OutboxCursor& cursor, Publish&& publish, int page = 1000) {
  auto events = store.unsettled_events(cursor.uid, cursor.seq, cursor.before, page);
  for (auto& e : events) {
    cursor.uid = e.uid;
    cursor.seq = e.seq;
    ++cursor.sent;
    publish(std::move(e));
  }
  cursor.done = events.size() < static_cast<std::size_t>(page);
}

}  // namespace tb
