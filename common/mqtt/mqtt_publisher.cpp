// The session's publisher (mqtt_session_impl.hpp): one thread hands messages to Paho in order,
// the last gate refuses invalid topic names, and refused publishes go to their fallback.
#include "mqtt_session_impl.hpp"
#include "topics.hpp"

namespace tb {

namespace {

mqtt::message_ptr to_paho(const MqttOutbound& m) {
  auto msg = mqtt::make_message(m.topic, m.payload, 1, m.retain);
  mqtt::properties props;
  if (m.response_topic) props.add({mqtt::property::RESPONSE_TOPIC, *m.response_topic});
  if (m.correlation) props.add({mqtt::property::CORRELATION_DATA, *m.correlation});
  if (!props.empty()) msg->set_properties(props);
  return msg;
}

}  // namespace

void MqttSession::Impl::CompletionListener::on_success(const mqtt::token& tok) {
  std::unique_ptr<Pending> pending(static_cast<Pending*>(tok.get_user_context()));
  if (pending && pending->on_done) pending->on_done(Delivery::Acked);
}

void MqttSession::Impl::CompletionListener::on_failure(const mqtt::token& tok) {
  std::unique_ptr<Pending> pending(static_cast<Pending*>(tok.get_user_context()));
  if (!pending) return;
  const auto rc = static_cast<int>(tok.get_reason_code());
  if (pending->on_done) pending->on_done(rc >= 0x80 ? Delivery::Refused : Delivery::NotSent);
  if (!pending->fallback) return;
  auto& fallback = *pending->fallback;
  if (rc >= 0x80) {
    s_.counters->refused_by_broker.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("the broker refused a publish (reason code {}); sending it to {}", rc,
                 fallback.topic);
  } else {  // not sent at all (the connection went away)
    spdlog::warn("a publish failed (Paho code {}); sending it to {}", tok.get_return_code(),
                 fallback.topic);
  }
  const std::string topic = fallback.topic;
  if (!s_.outbox.push(Job{std::move(fallback), nullptr})) {
    spdlog::warn("stopped: a message to {} was not sent", topic);
  }
}

// The last gate before the broker: a PUBLISH to anything but a valid topic name makes Mosquitto
// disconnect us, and Paho would send it again at every reconnect. Nothing invalid gets past here.
mqtt::delivery_token_ptr MqttSession::Impl::send(MqttOutbound m) {
  if (!topics::is_valid_topic_name(m.topic)) {
    counters->dropped.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("a message for an invalid topic name was dropped, not sent");
    if (!m.fallback_topic) {
      if (m.on_done) m.on_done(Delivery::Refused);  // it would never be accepted
      return nullptr;
    }
    m.topic = *m.fallback_topic;
    m.fallback_topic.reset();
    return send(std::move(m));
  }
  if (m.drop_if_disconnected && !is_connected.load()) {
    if (m.on_done) m.on_done(Delivery::NotSent);
    return nullptr;
  }
  const auto msg = to_paho(m);
  if (!m.fallback_topic && !m.on_done) return client->publish(msg);
  auto pending = std::make_unique<Pending>();
  pending->on_done = std::move(m.on_done);
  m.on_done = nullptr;  // the fallback below must not carry it too
  if (m.fallback_topic) {
    pending->fallback = std::move(m);
    pending->fallback->topic = *pending->fallback->fallback_topic;
    pending->fallback->fallback_topic.reset();
  }
  mqtt::delivery_token_ptr tok;
  try {
    tok = client->publish(msg, pending.get(), completion_listener);
  } catch (...) {
    if (pending->on_done) pending->on_done(Delivery::NotSent);
    throw;
  }
  pending.release();  // owned by the publish now: its listener deletes it
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

}  // namespace tb
