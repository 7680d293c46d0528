// Paho MQTT C++ adapter of the bridge.
#include "mqtt_link.hpp"

#include <spdlog/spdlog.h>

#include <mqtt/async_client.h>
#include <nlohmann/json.hpp>
#include <random>

#include "paho_timing.hpp"
#include "paho_tls.hpp"
#include "tls_check.hpp"
#include "topics.hpp"

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
    const auto response = tok.get_subscribe_response();
    for (const auto rc : response.get_reason_codes()) {
      if (rc >= mqtt::ReasonCode::UNSPECIFIED_ERROR) {
        spdlog::error("broker refused the subscription to the scan topic: reason code {}",
                      static_cast<int>(rc));
      }
    }
  }
};

SubscribeListener g_subscribe_listener;

}  // namespace

// Completes the publishes of answers to a scan's Response Topic. Each such publish carries, as
// its user context, the same answer addressed to tickets/result/<scanner>; when the broker
// refuses the publish (a PUBACK reason code >= 0x80, as the production ACL does outside
// tickets/result/), that one is sent instead. Runs on Paho's thread: it only queues.
class MqttLink::FallbackListener : public mqtt::iaction_listener {
 public:
  explicit FallbackListener(MqttLink& link) : link_(link) {}
  void on_success(const mqtt::token& tok) override {
    delete static_cast<mqtt::const_message_ptr*>(tok.get_user_context());
  }
  void on_failure(const mqtt::token& tok) override {
    std::unique_ptr<mqtt::const_message_ptr> fallback(
        static_cast<mqtt::const_message_ptr*>(tok.get_user_context()));
    if (!fallback) return;
    const auto rc = static_cast<int>(tok.get_reason_code());
    if (rc >= 0x80) {
      link_.metrics_.answers_refused_by_broker.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn(
          "the broker refused an answer on the scan's Response Topic (reason code {}); "
          "answering on {}",
          rc, (*fallback)->get_topic());
    } else {  // not sent at all (the client went away): the scanner's own topic is as good
      spdlog::warn("an answer on the scan's Response Topic failed (Paho code {}); answering on {}",
                   tok.get_return_code(), (*fallback)->get_topic());
    }
    link_.enqueue(Outgoing{std::move(*fallback), nullptr});
  }

 private:
  MqttLink& link_;
};

std::string MqttLink::scan_topic(const MqttOptions& o) {
  const std::string scan(topics::kScan);
  return o.shared_group ? "$share/" + *o.shared_group + "/" + scan : scan;
}

MqttLink::MqttLink(MqttOptions options, Metrics& metrics, ScanHandler on_scan)
    : options_(std::move(options)),
      metrics_(metrics),
      on_scan_(std::move(on_scan)),
      fallback_listener_(std::make_unique<FallbackListener>(*this)) {
  auto create = mqtt::create_options_builder()
                    .mqtt_version(MQTTVERSION_5)
                    .send_while_disconnected(true, true)
                    .max_buffered_messages(options_.max_buffered)
                    .delete_oldest_messages(false)
                    .finalize();
  client_ = std::make_unique<mqtt::async_client>(options_.uri, "ticket-bridge-" + options_.instance,
                                                 create);

  // Built in place and never copied or moved: Paho 1.2's connect_options keeps raw pointers into
  // itself (properties, will), which a copy or move leaves dangling. For the same reason the
  // properties are set after construction, not through the builder.
  connect_options_ = std::make_unique<mqtt::connect_options>();
  auto& opts = *connect_options_;
  opts.set_mqtt_version(MQTTVERSION_5);
  opts.set_clean_session(false);  // MQTT 3 field; must be off for v5
  opts.set_clean_start(false);
  opts.set_keep_alive_interval(options_.keepalive);
  opts.set_connect_timeout(kPahoConnectTimeout);
  opts.set_properties(mqtt::properties{
      {mqtt::property::SESSION_EXPIRY_INTERVAL, static_cast<int32_t>(options_.session_expiry_s)}});
  if (options_.username) opts.set_user_name(*options_.username);
  if (options_.password) opts.set_password(*options_.password);
  if (is_tls_url(options_.uri)) {
    opts.set_ssl(make_ssl_options(options_.tls));
  }
  refresh_will();

  client_->set_connected_handler([this](const std::string&) { on_connected(); });
  client_->set_connection_lost_handler([this](const std::string& cause) { on_lost(cause); });
  client_->set_disconnected_handler([this](const mqtt::properties&, mqtt::ReasonCode rc) {
    on_lost("broker disconnected us, reason code " + std::to_string(static_cast<int>(rc)));
  });
  client_->set_message_callback([this](mqtt::const_message_ptr msg) {
    if (msg->is_retained()) {
      // A retained scan would be delivered, and decided, again at every subscribe.
      metrics_.scans_retained_ignored.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn(
          "a scan with the retain flag set was ignored (SPEC.md: retained scans are "
          "never decided)");
      return;
    }
    InboundScan in;
    in.payload = msg->get_payload_str();
    const auto& props = msg->get_properties();
    if (props.contains(mqtt::property::RESPONSE_TOPIC)) {
      in.response_topic = mqtt::get<std::string>(props, mqtt::property::RESPONSE_TOPIC);
    }
    if (props.contains(mqtt::property::CORRELATION_DATA)) {
      in.correlation = mqtt::get<mqtt::binary>(props, mqtt::property::CORRELATION_DATA);
    }
    on_scan_(std::move(in));
  });
}

MqttLink::~MqttLink() {
  stop();
}

void MqttLink::refresh_will() {
  connect_options_->set_will(mqtt::will_options(topics::bridge_status(options_.instance),
                                                status_payload("offline"), 1, true));
}

std::optional<std::string> MqttLink::start() {
  try {
    auto tok = client_->connect(*connect_options_);
    if (!tok->wait_for(kPahoConnectWait)) return "no answer from the broker at " + options_.uri;
  } catch (const mqtt::exception& e) {
    std::string error = "cannot connect to the broker at " + options_.uri + ": " + e.what();
    if (is_tls_url(options_.uri)) {
      const auto why = diagnose_tls(options_.uri, options_.tls);
      error += why.empty() ? "; TLS itself works: check the credentials" : "; " + why;
    }
    return error;
  }
  reconnector_ = std::thread([this] { reconnect_loop(); });
  publisher_ = std::thread([this] { publisher_loop(); });
  return std::nullopt;
}

void MqttLink::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (reconnector_.joinable()) reconnector_.join();
  {
    std::lock_guard lock(out_mu_);
    out_stop_ = true;
  }
  out_cv_.notify_all();
  if (publisher_.joinable()) publisher_.join();  // it hands everything queued to Paho first
  try {
    if (client_->is_connected()) {
      // Acknowledged after everything published before it on this connection: a barrier for the
      // answers and events just handed over.
      if (!client_
               ->publish(topics::bridge_status(options_.instance), status_payload("offline"), 1,
                         true)
               ->wait_for(std::chrono::seconds(5))) {
        spdlog::warn("leaving with {} messages not yet acknowledged by the broker",
                     client_->get_pending_delivery_tokens().size());
      }
      // Answers the broker refused on a Response Topic came back (before the barrier's ack) as
      // fallbacks to tickets/result/<scanner>: they go out too.
      std::vector<Outgoing> late;
      {
        std::lock_guard lock(out_mu_);
        late.swap(outbox_);
      }
      for (const auto& out : late) send(out);
      client_->disconnect(std::chrono::milliseconds(500))->wait_for(std::chrono::seconds(2));
    }
  } catch (const mqtt::exception& e) {
    spdlog::warn("disconnect from broker: {}", e.what());
  }
  metrics_.mqtt_connected.store(0);
}

void MqttLink::on_connected() {
  // Runs on Paho's thread: start the subscription and status, wait for nothing.
  metrics_.mqtt_connected.store(1);
  spdlog::info("connected to broker {}", options_.uri);
  try {
    // Subscribing again is harmless when the session kept the subscription, and needed when it
    // did not (a shared subscription after a broker restart, a session that expired).
    // Retained scans are never decided: the broker sends none at subscribe, and flags a live
    // retained publish as retained (retain as published) so that the handler can ignore it.
    client_->subscribe(
        scan_topic(options_), 1, nullptr, g_subscribe_listener,
        mqtt::subscribe_options(false, true, mqtt::subscribe_options::DONT_SEND_RETAINED));
    publish_status("online");
  } catch (const mqtt::exception& e) {
    spdlog::error("subscribe after connect: {}", e.what());
  }
}

void MqttLink::on_lost(const std::string& cause) {
  metrics_.mqtt_connected.store(0);
  spdlog::warn("lost the broker connection: {}", cause.empty() ? "no reason given" : cause);
  {
    std::lock_guard lock(mu_);
    lost_ = true;
  }
  cv_.notify_all();
}

void MqttLink::reconnect_loop() {
  std::mt19937 rng(std::random_device{}());
  std::uniform_real_distribution<double> jitter(0.5, 1.5);
  auto backoff = options_.backoff_min;
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || lost_; });
    if (stopping_) return;
    const auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(backoff * jitter(rng));
    if (cv_.wait_for(lock, delay, [this] { return stopping_; })) return;
    lost_ = false;  // a loss reported while we connect sets it again
    lock.unlock();
    bool ok = false;
    try {
      refresh_will();
      ok = client_->connect(*connect_options_)->wait_for(kPahoConnectWait);
    } catch (const mqtt::exception& e) {
      spdlog::warn("reconnect to {} failed: {}", options_.uri, e.what());
    }
    lock.lock();
    if (ok) {
      metrics_.mqtt_reconnects.fetch_add(1, std::memory_order_relaxed);
      backoff = options_.backoff_min;
    } else {
      lost_ = true;
      backoff = std::min(backoff * 2, options_.backoff_max);
    }
  }
}

void MqttLink::publish_status(const char* state) {
  client_->publish(topics::bridge_status(options_.instance), status_payload(state), 1, true);
}

void MqttLink::publish_answer(const Answer& a) {
  const auto make = [&a](const std::string& topic) {
    auto msg = mqtt::make_message(topic, a.payload, 1, false);
    if (a.correlation) {
      msg->set_properties(mqtt::properties{{mqtt::property::CORRELATION_DATA, *a.correlation}});
    }
    return msg;
  };
  enqueue(Outgoing{make(a.topic), a.fallback_topic ? make(*a.fallback_topic) : nullptr});
}

void MqttLink::publish_event(const StoredEvent& e) {
  enqueue(Outgoing{mqtt::make_message(topics::user_events(e.uid), e.body, 1, false), nullptr});
}

void MqttLink::enqueue(Outgoing out) {
  bool was_empty = false;
  {
    std::lock_guard lock(out_mu_);
    was_empty = outbox_.empty();
    outbox_.push_back(std::move(out));
  }
  if (was_empty) out_cv_.notify_one();
}

// The last gate before the broker: a PUBLISH to anything but a valid topic name makes Mosquitto
// disconnect us, and Paho would send it again at every reconnect. Nothing invalid gets past here.
void MqttLink::send(const Outgoing& out) {
  if (!topics::is_valid_topic_name(out.msg->get_topic())) {
    metrics_.publishes_dropped.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("a message for an invalid topic name was dropped, not sent");
    if (out.fallback) send(Outgoing{out.fallback, nullptr});
    return;
  }
  if (!out.fallback) {
    client_->publish(out.msg);
    return;
  }
  auto context = std::make_unique<mqtt::const_message_ptr>(out.fallback);
  client_->publish(out.msg, context.get(), *fallback_listener_);
  context.release();  // owned by the publish now: its listener deletes it
}

// Paho serializes every publish of the process on one lock shared with its own threads; waiting
// for it here instead of on the writer thread lets the next batch be decided meanwhile.
void MqttLink::publisher_loop() {
  std::vector<Outgoing> batch;
  std::unique_lock lock(out_mu_);
  for (;;) {
    out_cv_.wait(lock, [this] { return out_stop_ || !outbox_.empty(); });
    if (outbox_.empty()) return;  // stopping, and everything was handed over
    batch.swap(outbox_);
    lock.unlock();
    for (const auto& out : batch) {
      try {
        send(out);
      } catch (const mqtt::exception& e) {
        spdlog::error("message to {} not sent: {}", out.msg->get_topic(), e.what());
      }
    }
    batch.clear();
    lock.lock();
  }
}

}  // namespace tb
