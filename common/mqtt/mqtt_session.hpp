// One MQTT v5 session over Paho C++, used by the bridge and by the scanner agent alike: connect
// options (persistent session, keepalive, TLS, user and password), a retained status with a Last
// Will saying "offline", subscriptions renewed at every connect, reconnection with one backoff
// policy (backoff.hpp), an ordered publisher thread, and a stop that hands everything queued to the
// broker before it says "offline" and leaves.
//
// Paho calls the handlers on its own thread: they must only hand over (queue, post, set a flag).
// Paho's headers stay out of this one: it is included by code that never names Paho.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mqtt_counters.hpp"
#include "tls_settings.hpp"

namespace tb {

struct MqttSubscription {
  std::string filter;
  int qos = 1;
  // Retained messages are not wanted: none is sent at subscribe, and a live publish keeps its
  // retain flag (retain as published) so that the handler can tell and ignore it.
  bool no_retained = false;
};

struct MqttSessionOptions {
  std::string uri = "mqtt://127.0.0.1:1883";
  std::string client_id;
  std::optional<std::string> username;
  std::optional<std::string> password;
  TlsSettings tls;  // for ssl:// and mqtts:// URLs
  std::chrono::seconds keepalive{20};
  std::int32_t session_expiry_s = 3600;  // how long the broker keeps the session while we are away
  // Retained {"state":"online"|"offline","at":...} at every connect and stop; the Will says
  // "offline" when the connection dies. Empty: no status, no Will, and stop() does not wait for
  // publishes (a session that only listens).
  std::string status_topic;
  std::vector<MqttSubscription> subscriptions;
  std::chrono::milliseconds backoff_min{250};
  std::chrono::milliseconds backoff_max{10000};
  // Publishes Paho holds that are not sent yet: while connected, a burst beyond the broker's
  // receive window waits here (Paho's default of 100 refused the rest of a burst).
  int max_buffered = 100000;
  // Whether publishes made while disconnected are kept and sent at the reconnect; when not, such
  // a publish fails (the caller sends it again later).
  bool buffer_while_disconnected = false;
};

struct MqttInbound {
  std::string topic;
  std::string payload;
  bool retained = false;
  std::optional<std::string> response_topic;  // MQTT v5 Response Topic
  std::optional<std::string> correlation;     // MQTT v5 Correlation Data
};

// How a publish ended, for its on_done.
enum class Delivery {
  Acked,    // the broker acknowledged it (PUBACK < 0x80)
  Refused,  // the broker refused it (PUBACK >= 0x80), or its topic is invalid: final
  NotSent,  // it never reached the broker (disconnected, dropped, an error): may be sent again
};

struct MqttOutbound {
  std::string topic;
  std::string payload;
  bool retain = false;
  std::optional<std::string> response_topic;
  std::optional<std::string> correlation;
  // Where the same message goes instead when the broker refuses this publish (a PUBACK reason code
  // >= 0x80) or it cannot be sent at all: an answer to a Response Topic falls back to
  // tickets/result/<scanner>.
  std::optional<std::string> fallback_topic;
  // Called once the publish is over (Paho's or the publisher's thread, must only hand over).
  std::function<void(Delivery)> on_done;
  // Not handed to Paho while disconnected (on_done(NotSent) at once): for messages the caller
  // sends again itself after the reconnect (the bridge's outbox), so that Paho's buffer neither
  // fills up nor sends them twice.
  bool drop_if_disconnected = false;
};

class MqttSession {
 public:
  struct Handlers {
    std::function<void(MqttInbound)> message;  // Paho's thread
    std::function<void()> connected;           // Paho's thread, after subscribing
    std::function<void()> lost;                // Paho's thread
    // Paho's thread, once the broker acknowledged every subscription of a connect: from then on
    // a subscription is sure to be in effect (none: not called).
    std::function<void()> subscribed = {};
  };

  MqttSession(MqttSessionOptions options, Handlers handlers, MqttCounters* counters = nullptr);
  MqttSession(const MqttSession&) = delete;
  MqttSession& operator=(const MqttSession&) = delete;
  ~MqttSession();

  // One connect attempt, waited for (at most kPahoConnectWait); why it failed, TLS diagnosed.
  std::optional<std::string> connect_once();
  // From now on keeps the session up: connects (at once when not connected yet) and reconnects
  // after every loss, with backoff; starts the publisher.
  void keep_connected();
  // Queues a QoS 1 publish for the publisher thread, in order (any thread; never waits on Paho).
  // Before keep_connected() nothing takes the queue: what is published then is dropped at stop.
  // A message for an invalid topic name is dropped there (Mosquitto would disconnect us).
  void publish(MqttOutbound message);
  // The same for several messages, in order, with one hand-over to the publisher thread; empties
  // `messages`.
  void publish(std::vector<MqttOutbound>& messages);
  bool connected() const;
  // Waits for a connect attempt in flight to end, hands everything queued to Paho, publishes the
  // offline status (acknowledged after everything before it), sends the fallbacks that came back
  // meanwhile, and disconnects.
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tb
