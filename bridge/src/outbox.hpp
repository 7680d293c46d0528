// The outbox of owner events on MQTT: every committed event reaches `users/<uid>/events` at least
// once, even when the bridge dies between the commit and the broker's acknowledgement.
//
// The store keeps, per uid, the seq up to which the broker acknowledged (PUBACK) the uid's events
// (users.mqtt_acked_seq). A PUBACK moves the mark here, in memory, on Paho's thread; the writer
// writes the moved marks once a second (a lagging mark only means a duplicate later, which QoS 1
// allows). An event that was not sent (the broker was away) holds its uid's mark below it until
// it is acknowledged in turn: a later event's PUBACK must not carry the mark past it. An event
// the broker refused for good counts as settled, or it would hold the mark forever. On start and
// after every reconnect the bridge publishes every stored event after its uid's mark, in seq order
// per uid: what was committed but never acknowledged, the publishes that were in flight when the
// process was killed, and the events committed while the broker was away (those are not handed to
// Paho then, so its buffer never overflows and drops them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "store.hpp"

namespace tb {

class Outbox {
 public:
  // Any thread (Paho's): the broker acknowledged event `seq` of `uid` (or refused it for good).
  void acked(const std::string& uid, std::int64_t seq);
  // Any thread: event `seq` of `uid` did not reach the broker; it goes out at the next connect.
  void not_sent(const std::string& uid, std::int64_t seq);
  // The writer's thread, inside a transaction: writes the marks moved since the last call.
  // Returns how many uids' marks were written.
  std::size_t flush(Store& store);
  // Uids whose mark moved (or is held) and is not written yet.
  std::size_t pending() const;

  // Around a republish: what was held back before it and is still held after it was not in the
  // store any more (retention dropped it), and must not hold its uid's mark forever.
  std::uint64_t begin_republish();
  void end_republish(std::uint64_t generation);

 private:
  struct Mark {
    std::int64_t acked = 0;  // the highest seq acknowledged
    // Seqs not sent yet, with the republish generation they were seen in: the mark stays below
    // the lowest.
    std::map<std::int64_t, std::uint64_t> unsent;
    bool moved = false;  // acknowledged since the last flush
  };
  mutable std::mutex mu_;
  std::unordered_map<std::string, Mark> marks_;
  std::uint64_t generation_ = 0;
};

// Where the republish of unacknowledged events goes on: after this (uid, seq).
struct OutboxCursor {
  std::string uid;
  std::int64_t seq = 0;
  std::size_t sent = 0;  // events handed to `publish` so far
  bool done = false;
};

// One page of the stored events not acknowledged yet, after `cursor`, each handed to `publish`
// in (uid, seq) order. One page per call, so that a long backlog does not hold the reader.
template <class Publish>
void republish_page(Store& store, OutboxCursor& cursor, Publish&& publish, int page = 1000) {
  auto events = store.unacked_events(cursor.uid, cursor.seq, page);
  for (auto& e : events) {
    cursor.uid = e.uid;
    cursor.seq = e.seq;
    ++cursor.sent;
    publish(std::move(e));
  }
  cursor.done = events.size() < static_cast<std::size_t>(page);
}

}  // namespace tb
