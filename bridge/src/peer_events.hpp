// Other bridges' events, for this bridge's WebSocket clients (several bridges on one store).
//
// Every bridge publishes each committed event on users/<uid>/events (the outbox). This bridge
// listens there too, over a second MQTT connection of its own (client id
// ticket-bridge-<instance>-events) and hands each event's uid and seq to the hub as a hint: a
// WebSocket client of that uid that has not read that seq reads it from the store, in order,
// with whatever else it missed. What comes over the broker is never sent on as it is: the store
// is the truth, so a forged publish costs a page read and shows nobody anything.
//
// Why the broker and not PostgreSQL's LISTEN/NOTIFY: the same works for several bridges on one
// SQLite file, the events are on the broker anyway, and no store connection is held per bridge
// for it. Why a second connection: it starts clean each time (session expiry 0), so the broker
// queues no events for a bridge that is away, where they could crowd out its scans; after each
// (re)connect every client reads the store once, for what it may have missed meanwhile.
#pragma once

#include <string>

#include "event_hub.hpp"
#include "metrics.hpp"
#include "mqtt_link.hpp"
#include "mqtt_session.hpp"

namespace tb {

class PeerEvents {
 public:
  PeerEvents(const MqttOptions& options, EventHub& hub, Metrics& metrics);
  // Connects in the background and stays connected; a broker that is away only delays hints.
  void start() { session_.keep_connected(); }
  void stop() { session_.stop(); }

  // The client id of the events connection of `instance`.
  static std::string client_id(const std::string& instance);

 private:
  void on_message(const MqttInbound& m);

  EventHub& hub_;
  Metrics& metrics_;
  MqttSession session_;
};

}  // namespace tb
