// The bridge's MQTT side, over one MqttSession (mqtt_session.hpp): the persistent session
// subscribed to the scan topics (tickets/scan, and tickets/scan/+ of embedded scanners) and to the
// scanners' presence, the retained bridge/<instance>/status, and the publishing of answers and
// owner events. Received scans are handed to a callback (the writer's queue) and nothing more is
// done on Paho's thread; retained scans are never decided (SPEC.md v1.1).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "envelopes.hpp"
#include "health.hpp"
#include "metrics.hpp"
#include "mqtt_session.hpp"
#include "outbox.hpp"
#include "store.hpp"

namespace tb {

struct MqttOptions {
  std::string uri = "mqtt://127.0.0.1:1883";
  std::string instance = "main";  // names the client id and bridge/<instance>/status
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::optional<std::string> shared_group;  // subscribe via $share/<group>/tickets/scan[/+]
  // TLS (ssl:// and mqtts:// URLs): the CA that signs the broker's certificate (else the system's
  // CAs), an optional client certificate and key, and the host name check (on unless turned off).
  TlsSettings tls;
  std::chrono::seconds keepalive{20};
  std::int32_t session_expiry_s = 7 * 24 * 3600;  // how long the broker keeps our session
  int max_buffered = 100000;                      // answers and events kept while disconnected
};

class MqttLink {
 public:
  using ScanHandler = std::function<void(InboundScan)>;

  MqttLink(const MqttOptions& options, Metrics& metrics, Health& health);

  // Connects once and from then on hands every scan to `on_scan` (on Paho's thread: it must only
  // queue); returns an error text when the broker cannot be reached (the attempt ends within
  // kPahoConnectWait, about 10 s). Then keeps the connection up.
  // `on_connected` runs after every connect, the first included (on Paho's thread: it must only
  // hand over): the outbox republishes from there.
  std::optional<std::string> start(ScanHandler on_scan, std::function<void()> on_connected = {});
  // Hands what is queued to the broker, publishes the offline status and disconnects.
  void stop() {
    session_.stop();
    health_.set_mqtt(false);
  }

  // Queue a QoS 1 message for the publisher thread (any thread; never blocks on Paho); with its
  // device lines (text, light) when it has them. With `batch`, the messages are added to it
  // instead, for publish_all().
  void publish_answer(const Answer& a, std::vector<MqttOutbound>* batch = nullptr);
  // An owner event. How it ended goes to `outbox` (when given): acknowledged, or not sent. While
  // disconnected it is not queued: the outbox sends it after the reconnect.
  void publish_event(const StoredEvent& e, Outbox* outbox = nullptr,
                     std::vector<MqttOutbound>* batch = nullptr);
  // Any other message of the bridge's (the gates' feed), like the above.
  void publish(MqttOutbound m, std::vector<MqttOutbound>* batch = nullptr) {
    emit(std::move(m), batch);
  }
  // Queues what was added to `batch` with one hand-over (one wake of the publisher thread for a
  // writer's whole batch), and empties it.
  void publish_all(std::vector<MqttOutbound>& batch) { session_.publish(batch); }
  bool connected() const { return session_.connected(); }
  // Before start(): told of every scanner status received, a repeat included (on Paho's thread).
  void set_presence_hook(std::function<void(std::string_view scanner, bool online)> hook) {
    presence_hook_ = std::move(hook);
  }

  // The scan subscriptions: tickets/scan and tickets/scan/+, under $share/<group>/ when set.
  static std::vector<std::string> scan_filters(const MqttOptions& o);

 private:
  void on_message(MqttInbound msg);
  void on_presence(std::string_view scanner, std::string_view payload);
  void emit(MqttOutbound m, std::vector<MqttOutbound>* batch) {
    if (batch != nullptr) {
      batch->push_back(std::move(m));
    } else {
      session_.publish(std::move(m));
    }
  }

  Metrics& metrics_;
  Health& health_;
  ScanHandler on_scan_;
  std::function<void()> on_connected_;
  std::function<void(std::string_view, bool)> presence_hook_;
  std::mutex presence_mu_;
  std::set<std::string, std::less<>> online_;  // bounded by kMaxTrackedScanners
  MqttSession session_;                        // last: stopped and destroyed first
};

}  // namespace tb
