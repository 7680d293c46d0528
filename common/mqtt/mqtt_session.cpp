// The MQTT session over Paho C++ (mqtt_session.hpp): the reconnect thread, the publisher thread
// and the handlers Paho calls.
#include "mqtt_session.hpp"

#include <spdlog/spdlog.h>

#include <mqtt/async_client.h>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "backoff.hpp"
#include "paho_timing.hpp"
#include "paho_tls.hpp"
#include "timeutil.hpp"
#include "tls_check.hpp"
#include "topics.hpp"
#include "work_queue.hpp"

namespace tb {

namespace {

std::string status_payload(const char* state) {
  return nlohmann::json{{"state", state}, {"at", format_rfc3339(now_ms())}}.dump();
}

// Logs subscriptions the broker refused (an ACL, say), which Paho reports as a success with a
// failure reason code.
class SubscribeListener : public mqtt::iaction_listener {
 public:
  void on_failure(const mqtt::token& tok) override {
    spdlog::error("subscribe failed: reason code {}", static_cast<int>(tok.get_reason_code()));
  }
  void on_success(const mqtt::token& tok) override {
    const auto response = tok.get_subscribe_response();  // get_reason_codes() refers into it
    for (const auto rc : response.get_reason_codes()) {
      if (rc >= mqtt::ReasonCode::UNSPECIFIED_ERROR) {
        spdlog::error("the broker refused a subscription: reason code {}", static_cast<int>(rc));
      }
    }
  }
};

SubscribeListener g_subscribe_listener;

mqtt::message_ptr to_paho(const MqttOutbound& m) {
  auto msg = mqtt::make_message(m.topic, m.payload, 1, m.retain);
  mqtt::properties props;
  if (m.response_topic) props.add({mqtt::property::RESPONSE_TOPIC, *m.response_topic});
  if (m.correlation) props.add({mqtt::property::CORRELATION_DATA, *m.correlation});
  if (!props.empty()) msg->set_properties(props);
  return msg;
}

// Runs a handler on Paho's thread: nothing may escape it (that would end the process).
template <class F>
void guarded(const char* what, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    spdlog::error("{}: {}", what, e.what());
  }
}

}  // namespace

struct MqttSession::Impl {
  // What the publisher thread takes: a message, or (from stop) the offline status whose token is
  // the barrier behind everything queued before it.
  struct Job {
    MqttOutbound message;
    std::promise<mqtt::delivery_token_ptr>* barrier = nullptr;
  };

  // Completes the publishes that have a fallback: the user context is the fallback message, sent
  // when the broker refuses the publish. Runs on Paho's thread: it only queues.
  class FallbackListener : public mqtt::iaction_listener {
   public:
    explicit FallbackListener(Impl& s) : s_(s) {}
    void on_success(const mqtt::token& tok) override {
      delete static_cast<MqttOutbound*>(tok.get_user_context());
    }
    void on_failure(const mqtt::token& tok) override {
      std::unique_ptr<MqttOutbound> fallback(static_cast<MqttOutbound*>(tok.get_user_context()));
      if (!fallback) return;
      const auto rc = static_cast<int>(tok.get_reason_code());
      if (rc >= 0x80) {
        s_.counters->refused_by_broker.fetch_add(1, std::memory_order_relaxed);
        spdlog::warn("the broker refused a publish (reason code {}); sending it to {}", rc,
                     fallback->topic);
      } else {  // not sent at all (the connection went away)
        spdlog::warn("a publish failed (Paho code {}); sending it to {}", tok.get_return_code(),
                     fallback->topic);
      }
      if (!s_.outbox.push(Job{std::move(*fallback), nullptr})) {
        spdlog::warn("stopped: a message to {} was not sent", fallback->topic);
      }
    }

   private:
    Impl& s_;
  };

  Impl(MqttSessionOptions o, Handlers h, MqttCounters* c)
      : options(std::move(o)),
        handlers(std::move(h)),
        counters(c != nullptr ? c : &own_counters),
        fallback_listener(*this) {}

  void setup();
  std::optional<std::string> attempt();
  void reconnect_loop();
  void publisher_loop();
  mqtt::delivery_token_ptr send(MqttOutbound m);
  void on_connected();
  void on_lost(const std::string& cause);

  MqttSessionOptions options;
  Handlers handlers;
  MqttCounters own_counters;
  MqttCounters* counters;
  FallbackListener fallback_listener;
  std::atomic<bool> is_connected{false};
  std::atomic<bool> has_connected{false};  // a connect after the first counts as a reconnect

  std::mutex mu;
  std::condition_variable cv;
  bool lost = false;
  bool stopping = false;
  bool ever_connected = false;
  std::thread reconnector;

  WorkQueue<Job> outbox;
  std::thread publisher;
  // Built in place and never copied or moved: Paho 1.2's connect_options keeps raw pointers into
  // itself (properties, will).
  mqtt::connect_options connect_options;
  // Last: destroyed first, while everything its callbacks use still exists.
  std::unique_ptr<mqtt::async_client> client;
};

void MqttSession::Impl::setup() {
  const auto create = mqtt::create_options_builder()
                          .mqtt_version(MQTTVERSION_5)
                          .send_while_disconnected(options.buffer_while_disconnected, true)
                          .max_buffered_messages(options.max_buffered)
                          .delete_oldest_messages(false)
                          .finalize();
  client = std::make_unique<mqtt::async_client>(options.uri, options.client_id, create);

  // The properties are set after construction, not through the builder (see connect_options).
  auto& opts = connect_options;
  opts.set_mqtt_version(MQTTVERSION_5);
  opts.set_clean_session(false);  // MQTT 3 field; must be off for v5
  opts.set_clean_start(false);    // what was published to us while we were away waits for us
  opts.set_keep_alive_interval(options.keepalive);
  opts.set_connect_timeout(kPahoConnectTimeout);
  opts.set_properties(
      mqtt::properties{{mqtt::property::SESSION_EXPIRY_INTERVAL, options.session_expiry_s}});
  if (options.username) opts.set_user_name(*options.username);
  if (options.password) opts.set_password(*options.password);
  if (is_tls_url(options.uri)) opts.set_ssl(make_ssl_options(options.tls));

  client->set_connected_handler([this](const std::string&) { on_connected(); });
  client->set_connection_lost_handler([this](const std::string& cause) { on_lost(cause); });
  client->set_disconnected_handler([this](const mqtt::properties&, mqtt::ReasonCode rc) {
    on_lost("the broker disconnected us, reason code " + std::to_string(static_cast<int>(rc)));
  });
  client->set_message_callback([this](mqtt::const_message_ptr msg) {
    MqttInbound in;
    in.topic = msg->get_topic();
    in.payload = msg->get_payload_str();
    in.retained = msg->is_retained();
    const auto& props = msg->get_properties();
    if (props.contains(mqtt::property::RESPONSE_TOPIC)) {
      in.response_topic = mqtt::get<std::string>(props, mqtt::property::RESPONSE_TOPIC);
    }
    if (props.contains(mqtt::property::CORRELATION_DATA)) {
      in.correlation = mqtt::get<mqtt::binary>(props, mqtt::property::CORRELATION_DATA);
    }
    guarded("message handler", [&] { handlers.message(std::move(in)); });
  });
}

// One connect, waited for. Connecting again, or destroying the client, while an attempt is still
// in flight crashes inside Paho: an attempt that outlasts kPahoConnectWait is waited out once more.
std::optional<std::string> MqttSession::Impl::attempt() {
  try {
    // The Will's time is that of this connect.
    connect_options.set_will(
        mqtt::will_options(options.status_topic, status_payload("offline"), 1, true));
    auto tok = client->connect(connect_options);
    if (tok->wait_for(kPahoConnectWait)) return std::nullopt;
    if (!tok->wait_for(kPahoConnectWait)) {
      spdlog::warn("the connect attempt to {} did not end in time", options.uri);
    }
    return "no answer from the broker";
  } catch (const mqtt::exception& e) {
    return e.what();
  }
}

void MqttSession::Impl::on_connected() {
  if (has_connected.exchange(true)) counters->reconnects.fetch_add(1, std::memory_order_relaxed);
  is_connected = true;
  spdlog::info("connected to broker {}", options.uri);
  guarded("after connecting", [&] {
    // Subscribing again is harmless when the session kept the subscriptions, and needed when it
    // did not (a shared subscription after a broker restart, a session that expired).
    for (const auto& s : options.subscriptions) {
      const auto sub_opts =
          s.no_retained
              ? mqtt::subscribe_options(false, true, mqtt::subscribe_options::DONT_SEND_RETAINED)
              : mqtt::subscribe_options();
      client->subscribe(s.filter, s.qos, nullptr, g_subscribe_listener, sub_opts);
    }
    client->publish(options.status_topic, status_payload("online"), 1, true);
  });
  if (handlers.connected) guarded("connected handler", handlers.connected);
}

void MqttSession::Impl::on_lost(const std::string& cause) {
  is_connected = false;
  spdlog::warn("lost the broker connection: {}", cause.empty() ? "no reason given" : cause);
  {
    std::lock_guard lock(mu);
    lost = true;
  }
  cv.notify_all();
  if (handlers.lost) guarded("connection-lost handler", handlers.lost);
}

void MqttSession::Impl::reconnect_loop() {
  Backoff backoff(options.backoff_min, options.backoff_max);
  int failures = 0;
  std::unique_lock lock(mu);
  bool at_once = !ever_connected;  // the first connect of keep_connected() does not wait
  for (;;) {
    cv.wait(lock, [this] { return stopping || lost; });
    if (stopping) return;
    if (!at_once && cv.wait_for(lock, backoff.next(), [this] { return stopping; })) return;
    at_once = false;
    lost = false;  // a loss reported while we connect sets it again
    lock.unlock();
    const auto why = attempt();
    lock.lock();
    if (!why) {
      ever_connected = true;
      failures = 0;
      backoff.reset();
      continue;
    }
    lost = true;
    if (++failures == 1) {
      const std::string hint = is_tls_url(options.uri) ? tls_failure_hint(options.tls) : "";
      spdlog::warn("broker {} unreachable ({}{}); retrying", options.uri, *why, hint);
    } else {
      spdlog::debug("connect to {} failed again ({})", options.uri, *why);
    }
  }
}

// The last gate before the broker: a PUBLISH to anything but a valid topic name makes Mosquitto
// disconnect us, and Paho would send it again at every reconnect. Nothing invalid gets past here.
mqtt::delivery_token_ptr MqttSession::Impl::send(MqttOutbound m) {
  if (!topics::is_valid_topic_name(m.topic)) {
    counters->dropped.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("a message for an invalid topic name was dropped, not sent");
    if (!m.fallback_topic) return nullptr;
    m.topic = *m.fallback_topic;
    m.fallback_topic.reset();
    return send(std::move(m));
  }
  const auto msg = to_paho(m);
  if (!m.fallback_topic) return client->publish(msg);
  auto fallback = std::make_unique<MqttOutbound>(std::move(m));
  fallback->topic = *fallback->fallback_topic;
  fallback->fallback_topic.reset();
  auto tok = client->publish(msg, fallback.get(), fallback_listener);
  fallback.release();  // owned by the publish now: its listener deletes it
  return tok;
}

// Paho serializes every publish of the process on one lock shared with its own threads; waiting
// for it here instead of on the caller's thread (the bridge's writer) lets the caller go on.
void MqttSession::Impl::publisher_loop() {
  std::vector<Job> batch;
  while (outbox.pop(batch)) {
    for (auto& job : batch) {
      const std::string topic = job.message.topic;
      mqtt::delivery_token_ptr tok;
      try {
        if (!job.barrier || client->is_connected()) tok = send(std::move(job.message));
      } catch (const mqtt::exception& e) {
        spdlog::warn("message to {} not sent: {}", topic, e.what());
      }
      if (job.barrier) job.barrier->set_value(tok);
    }
    batch.clear();
  }
}

MqttSession::MqttSession(MqttSessionOptions options, Handlers handlers, MqttCounters* counters)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handlers), counters)) {
  impl_->setup();
}

MqttSession::~MqttSession() {
  stop();
}

std::optional<std::string> MqttSession::connect_once() {
  auto why = impl_->attempt();
  if (!why) {
    std::lock_guard lock(impl_->mu);
    impl_->ever_connected = true;
    return std::nullopt;
  }
  std::string error = "cannot connect to the broker at " + impl_->options.uri + ": " + *why;
  if (is_tls_url(impl_->options.uri)) {
    const auto tls = diagnose_tls(impl_->options.uri, impl_->options.tls);
    error += tls.empty() ? "; TLS itself works: check the credentials" : "; " + tls;
  }
  return error;
}

void MqttSession::keep_connected() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->reconnector.joinable() || impl_->stopping) return;
    if (!impl_->is_connected) impl_->lost = true;
  }
  impl_->publisher = std::thread([impl = impl_.get()] { impl->publisher_loop(); });
  impl_->reconnector = std::thread([impl = impl_.get()] { impl->reconnect_loop(); });
}

void MqttSession::publish(MqttOutbound message) {
  if (!impl_->outbox.push(Impl::Job{std::move(message), nullptr})) {
    spdlog::warn("stopped: a message was published after the stop and not sent");
  }
}

bool MqttSession::connected() const {
  return impl_->is_connected;
}

void MqttSession::stop() {
  auto& s = *impl_;
  {
    std::lock_guard lock(s.mu);
    if (s.stopping) return;
    s.stopping = true;
  }
  s.cv.notify_all();
  if (s.reconnector.joinable()) s.reconnector.join();  // after the attempt in flight, if any
  if (s.publisher.joinable()) {
    // The offline status goes behind everything queued; its acknowledgement is the barrier.
    // Publishes the broker refused come back before it as fallbacks, queued behind it.
    std::promise<mqtt::delivery_token_ptr> barrier;
    auto token = barrier.get_future();
    MqttOutbound offline{s.options.status_topic, status_payload("offline"), true, {}, {}, {}};
    s.outbox.push(Impl::Job{std::move(offline), &barrier});
    try {
      if (const auto tok = token.get(); tok && !tok->wait_for(std::chrono::seconds(5))) {
        spdlog::warn("leaving with {} messages not yet acknowledged by the broker",
                     s.client->get_pending_delivery_tokens().size());
      }
    } catch (const mqtt::exception& e) {
      spdlog::warn("the offline status was not acknowledged: {}", e.what());
    }
    s.outbox.close();
    s.publisher.join();  // it sends the fallbacks first
  }
  try {
    if (s.client->is_connected()) {
      s.client->disconnect(std::chrono::milliseconds(500))->wait_for(std::chrono::seconds(2));
    }
  } catch (const mqtt::exception& e) {
    spdlog::warn("disconnect from the broker: {}", e.what());
  }
  s.is_connected = false;
}

}  // namespace tb
