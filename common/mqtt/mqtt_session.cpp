// The MQTT session over Paho C++ (mqtt_session.hpp): connect, reconnect with backoff, the
// handlers Paho calls, and the stop. The publisher is in mqtt_publisher.cpp.
#include "backoff.hpp"
#include "mqtt_session_impl.hpp"
#include "paho_timing.hpp"
#include "paho_tls.hpp"
#include "thread_name.hpp"
#include "tls_check.hpp"

namespace tb {

// Logs subscriptions the broker refused (an ACL, say), which Paho reports as a success with a
// failure reason code; a refused or failed one counts as done too.
void MqttSession::Impl::SubscribedListener::on_failure(const mqtt::token& tok) {
  spdlog::error("subscribe failed: reason code {}", static_cast<int>(tok.get_reason_code()));
  one_done(tok);
}

void MqttSession::Impl::SubscribedListener::on_success(const mqtt::token& tok) {
  const auto response = tok.get_subscribe_response();  // get_reason_codes() refers into it
  for (const auto rc : response.get_reason_codes()) {
    if (rc >= mqtt::ReasonCode::UNSPECIFIED_ERROR) {
      spdlog::error("the broker refused a subscription: reason code {}", static_cast<int>(rc));
    }
  }
  one_done(tok);
}

void MqttSession::Impl::SubscribedListener::one_done(const mqtt::token& tok) {
  // A SUBACK of an earlier connection (its failure when that connection was lost) is not ours.
  if (reinterpret_cast<std::uintptr_t>(tok.get_user_context()) != s_.connect_number) return;
  if (s_.subacks_left.fetch_sub(1) == 1 && s_.handlers.subscribed) {
    guarded("subscribed handler", s_.handlers.subscribed);
  }
}

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
    if (!options.status_topic.empty()) {
      connect_options.set_will(
          mqtt::will_options(options.status_topic, status_payload("offline"), 1, true));
    }
    auto tok = client->connect(connect_options);
    if (tok->wait_for(kPahoConnectWait)) return std::nullopt;
    if (tok->wait_for(kPahoConnectWait)) return std::nullopt;  // late, but connected
    spdlog::warn("the connect attempt to {} did not end in time", options.uri);
    return "no answer from the broker";
  } catch (const mqtt::exception& e) {
    return e.what();
  }
}

void MqttSession::Impl::on_connected() {
  if (has_connected.exchange(true)) counters->reconnects.fetch_add(1, std::memory_order_relaxed);
  is_connected = true;
  spdlog::info("connected to broker {} as {}", options.uri, options.client_id);
  guarded("after connecting", [&] {
    // Subscribing again is harmless when the session kept the subscriptions, and needed when it
    // did not (a shared subscription after a broker restart, a session that expired).
    const auto number = connect_number.fetch_add(1) + 1;
    subacks_left = static_cast<int>(options.subscriptions.size());
    for (const auto& s : options.subscriptions) {
      const auto sub_opts =
          s.no_retained
              ? mqtt::subscribe_options(false, true, mqtt::subscribe_options::DONT_SEND_RETAINED)
              : mqtt::subscribe_options();
      client->subscribe(s.filter, s.qos, reinterpret_cast<void*>(number), subscribed_listener,
                        sub_opts);
    }
    if (!options.status_topic.empty()) {
      client->publish(options.status_topic, status_payload("online"), 1, true);
    }
  });
  if (handlers.connected) guarded("connected handler", handlers.connected);
}

void MqttSession::Impl::on_lost(const std::string& cause) {
  is_connected = false;
  spdlog::warn("{} lost the broker connection: {}", options.client_id,
               cause.empty() ? "no reason given" : cause);
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
  return connect_failure(impl_->options.uri, impl_->options.tls, *why);
}

void MqttSession::keep_connected() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->reconnector.joinable() || impl_->stopping) return;
    // Not after a successful connect_once(): Paho may not have called on_connected yet, and a
    // connect on a connected client never completes. A loss meanwhile is recorded by on_lost.
    if (!impl_->ever_connected) impl_->lost = true;
  }
  impl_->publisher = std::thread([impl = impl_.get()] {
    name_this_thread("tb-mqtt-publish");
    impl->publisher_loop();
  });
  impl_->reconnector = std::thread([impl = impl_.get()] {
    name_this_thread("tb-mqtt-connect");
    impl->reconnect_loop();
  });
}

void MqttSession::publish(MqttOutbound message) {
  if (!impl_->outbox.push(Impl::Job{std::move(message), nullptr})) {
    spdlog::warn("stopped: a message was published after the stop and not sent");
  }
}

void MqttSession::publish(std::vector<MqttOutbound>& messages) {
  std::vector<Impl::Job> jobs;
  jobs.reserve(messages.size());
  for (auto& m : messages) jobs.push_back(Impl::Job{std::move(m), nullptr});
  messages.clear();
  if (!impl_->outbox.push_all(jobs)) {
    spdlog::warn("stopped: {} messages were published after the stop and not sent", jobs.size());
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
  if (s.publisher.joinable() && s.options.status_topic.empty()) {  // nothing of ours to send
    s.outbox.close();
    s.publisher.join();
  } else if (s.publisher.joinable()) {
    // The offline status goes behind everything queued; its acknowledgement is the barrier.
    // Publishes the broker refused come back before it as fallbacks, queued behind it.
    std::promise<mqtt::delivery_token_ptr> barrier;
    auto token = barrier.get_future();
    MqttOutbound offline{
        s.options.status_topic, status_payload("offline"), true, {}, {}, {}, {}, false};
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
