// The bridge's MQTT v5 connection (Paho C++): a persistent session subscribed to the scan topic,
// reconnection with backoff and jitter, a retained status with a Last Will, and publishing of
// answers and owner events. Received scans are handed to a callback and nothing more is done on
// Paho's thread. Answers and events are handed to Paho by a publisher thread of our own, in
// order: the store's writer thread never waits on Paho's global lock.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "metrics.hpp"
#include "scan_processor.hpp"
#include "tls_settings.hpp"

namespace mqtt {
class async_client;
class connect_options;
class message;
}  // namespace mqtt

namespace tb {

struct MqttOptions {
  std::string uri = "mqtt://127.0.0.1:1883";
  std::string instance = "main";  // names the client id and bridge/<instance>/status
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::optional<std::string> shared_group;  // subscribe via $share/<group>/tickets/scan
  // TLS (ssl:// and mqtts:// URLs): the CA that signs the broker's certificate (else the system's
  // CAs), an optional client certificate and key, and the host name check (on unless turned off).
  TlsSettings tls;
  std::chrono::seconds keepalive{20};
  std::int32_t session_expiry_s = 7 * 24 * 3600;  // how long the broker keeps our session
  std::chrono::milliseconds backoff_min{250};
  std::chrono::milliseconds backoff_max{10000};
  int max_buffered = 100000;  // answers and events kept while disconnected
};

class MqttLink {
 public:
  using ScanHandler = std::function<void(InboundScan)>;

  MqttLink(MqttOptions options, Metrics& metrics, ScanHandler on_scan);
  MqttLink(const MqttLink&) = delete;
  MqttLink& operator=(const MqttLink&) = delete;
  ~MqttLink();

  // Connects once; returns an error text when the broker cannot be reached (the attempt ends
  // within kPahoConnectWait, about 10 s).
  std::optional<std::string> start();
  // Hands what is queued to Paho, publishes the offline status and disconnects.
  void stop();

  // Queue a QoS 1 message for the publisher thread (any thread; never blocks on Paho).
  void publish_answer(const Answer& a);
  void publish_event(const StoredEvent& e);
  bool connected() const { return metrics_.mqtt_connected.load() != 0; }

  static std::string scan_topic(const MqttOptions& o);

 private:
  void on_connected();
  void on_lost(const std::string& cause);
  void reconnect_loop();
  void publish_status(const char* state);
  void refresh_will();
  // A message for the broker and, for an answer to a Response Topic, where it goes instead if
  // the broker refuses it.
  struct Outgoing {
    std::shared_ptr<const mqtt::message> msg;
    std::shared_ptr<const mqtt::message> fallback;  // may be null
  };
  void enqueue(Outgoing out);
  void publisher_loop();
  void send(const Outgoing& out);
  class FallbackListener;
  friend class FallbackListener;

  MqttOptions options_;
  Metrics& metrics_;
  ScanHandler on_scan_;
  std::unique_ptr<mqtt::connect_options> connect_options_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool lost_ = false;
  bool stopping_ = false;
  std::thread reconnector_;

  std::mutex out_mu_;
  std::condition_variable out_cv_;
  std::vector<Outgoing> outbox_;
  std::unique_ptr<FallbackListener> fallback_listener_;
  bool out_stop_ = false;
  std::thread publisher_;
  // Last: destroyed first, while everything its callbacks use still exists.
  std::unique_ptr<mqtt::async_client> client_;
};

}  // namespace tb
