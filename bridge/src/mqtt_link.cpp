// The bridge's MQTT adapter: scans in, answers and events out, over an MqttSession.
#include "mqtt_link.hpp"

#include <spdlog/spdlog.h>

#include "topics.hpp"

namespace tb {

namespace {

MqttSessionOptions session_options(const MqttOptions& o) {
  MqttSessionOptions s;
  s.uri = o.uri;
  s.client_id = "ticket-bridge-" + o.instance;
  s.username = o.username;
  s.password = o.password;
  s.tls = o.tls;
  s.keepalive = o.keepalive;
  s.session_expiry_s = o.session_expiry_s;
  s.status_topic = topics::bridge_status(o.instance);
  // Retained scans are never decided: the broker sends none at subscribe, and flags a live
  // retained publish as retained so that on_message can ignore it.
  s.subscriptions = {MqttSubscription{MqttLink::scan_topic(o), 1, true}};
  s.max_buffered = o.max_buffered;
  s.buffer_while_disconnected = true;  // answers decided while away go out at the reconnect
  return s;
}

}  // namespace

std::string MqttLink::scan_topic(const MqttOptions& o) {
  const std::string scan(topics::kScan);
  return o.shared_group ? "$share/" + *o.shared_group + "/" + scan : scan;
}

MqttLink::MqttLink(const MqttOptions& options, Metrics& metrics, Health& health)
    : metrics_(metrics),
      health_(health),
      session_(session_options(options),
               MqttSession::Handlers{[this](MqttInbound m) { on_message(std::move(m)); },
                                     [this] {
                                       health_.set_mqtt(true);
                                       if (on_connected_) on_connected_();
                                     },
                                     [this] { health_.set_mqtt(false); }},
               &metrics.mqtt) {}

std::optional<std::string> MqttLink::start(ScanHandler on_scan,
                                           std::function<void()> on_connected) {
  on_scan_ = std::move(on_scan);  // before the connect: a kept session delivers at once
  on_connected_ = std::move(on_connected);
  if (auto err = session_.connect_once()) return err;
  session_.keep_connected();
  return std::nullopt;
}

// Paho's thread: hand the scan over, nothing more.
void MqttLink::on_message(MqttInbound msg) {
  if (!on_scan_) return;  // not started: nothing is subscribed yet
  if (msg.retained) {
    // A retained scan would be delivered, and decided, again at every subscribe.
    metrics_.scans_retained_ignored.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn(
        "a scan with the retain flag set was ignored (SPEC.md: retained scans are never decided)");
    return;
  }
  on_scan_(InboundScan{std::move(msg.payload), std::move(msg.response_topic),
                       std::move(msg.correlation), std::chrono::steady_clock::now()});
}

void MqttLink::publish_answer(const Answer& a) {
  session_.publish(MqttOutbound{
      a.topic, a.payload, false, std::nullopt, a.correlation, a.fallback_topic, {}, false});
}

void MqttLink::publish_event(const StoredEvent& e, Outbox* outbox) {
  MqttOutbound m{topics::user_events(e.uid), e.body, false, {}, {}, {}, {}, false};
  if (outbox != nullptr) {
    m.on_done = [outbox, uid = e.uid, seq = e.seq](Delivery d) {
      // A refusal is final: counted as settled, or it would hold the uid's mark forever.
      if (d == Delivery::NotSent) {
        outbox->not_sent(uid, seq);
      } else {
        outbox->acked(uid, seq);
      }
    };
  }
  m.drop_if_disconnected = true;
  session_.publish(std::move(m));
}

}  // namespace tb
