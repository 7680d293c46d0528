// Other bridges' events as hints to the hub (peer_events.hpp).
#include "peer_events.hpp"

#include <nlohmann/json.hpp>

#include "topics.hpp"

namespace tb {

namespace {

MqttSessionOptions session_options(const MqttOptions& o) {
  MqttSessionOptions s;
  s.uri = o.uri;
  s.client_id = PeerEvents::client_id(o.instance);
  s.username = o.username;
  s.password = o.password;
  s.tls = o.tls;
  s.keepalive = o.keepalive;
  s.session_expiry_s = 0;  // nothing queued while away: see peer_events.hpp
  s.subscriptions.push_back(MqttSubscription{"users/+/events", 1, true});
  return s;
}

}  // namespace

std::string PeerEvents::client_id(const std::string& instance) {
  std::string id = "ticket-bridge-";
  id += instance;
  id += "-events";
  return id;
}

PeerEvents::PeerEvents(const MqttOptions& options, EventHub& hub, Metrics& metrics)
    : hub_(hub),
      metrics_(metrics),
      session_(session_options(options),
               MqttSession::Handlers{[this](MqttInbound m) { on_message(m); }, nullptr,
                                     [this] { metrics_.peer_events_connected.store(0); },
                                     // Once users/+/events is in effect: events may have been
                                     // missed until then.
                                     [this] {
                                       metrics_.peer_events_connected.store(1);
                                       hub_.hint_all();
                                     }},
               nullptr) {}

// Paho's thread. Our own events come back here too: the clients have them, and drop the hint.
void PeerEvents::on_message(const MqttInbound& m) {
  const auto uid = topics::events_uid(m.topic);
  if (!uid || m.retained) return;
  const std::string key(*uid);
  if (!hub_.has_subscribers(key)) return;  // most events: nobody here to tell
  const auto body = nlohmann::json::parse(m.payload, nullptr, false);
  const auto seq = body.is_object() ? body.find("seq") : body.end();
  if (seq == body.end() || !seq->is_number_integer()) {
    metrics_.peer_hints_unreadable.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  metrics_.peer_hints.fetch_add(1, std::memory_order_relaxed);
  hub_.hint(key, seq->get<std::int64_t>());
}

}  // namespace tb
