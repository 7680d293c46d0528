// The inside of MqttSession (mqtt_session.hpp), shared by its two files: mqtt_session.cpp (the
// connection: connect, reconnect, the handlers Paho calls, the stop) and mqtt_publisher.cpp (the
// ordered publisher thread and the fallback of refused publishes). Private to them.
#pragma once

#include <spdlog/spdlog.h>

#include <mqtt/async_client.h>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "mqtt_session.hpp"
#include "timeutil.hpp"
#include "work_queue.hpp"

namespace tb {

// {"state":"online"|"offline","at":...}, the retained status.
inline std::string status_payload(const char* state) {
  return nlohmann::json{{"state", state}, {"at", format_rfc3339(now_ms())}}.dump();
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

struct MqttSession::Impl {
  // What the publisher thread takes: a message, or (from stop) the offline status whose token is
  // the barrier behind everything queued before it.
  struct Job {
    MqttOutbound message;
    std::promise<mqtt::delivery_token_ptr>* barrier = nullptr;
  };

  // What a publish with a fallback or an on_done carries as its user context.
  struct Pending {
    std::optional<MqttOutbound> fallback;  // sent when the broker refuses the publish
    std::function<void(Delivery)> on_done;
  };

  // Completes the publishes that have a Pending: runs on Paho's thread, it only queues and calls
  // on_done.
  class CompletionListener : public mqtt::iaction_listener {
   public:
    explicit CompletionListener(Impl& s) : s_(s) {}
    void on_success(const mqtt::token& tok) override;
    void on_failure(const mqtt::token& tok) override;

   private:
    Impl& s_;
  };

  // Counts the SUBACKs of one connect (its user context: the connect's number) and runs the
  // subscribed handler after the last: only then is a subscription sure to be in effect.
  class SubscribedListener : public mqtt::iaction_listener {
   public:
    explicit SubscribedListener(Impl& s) : s_(s) {}
    void on_success(const mqtt::token& tok) override;
    void on_failure(const mqtt::token& tok) override;

   private:
    void one_done(const mqtt::token& tok);
    Impl& s_;
  };

  Impl(MqttSessionOptions o, Handlers h, MqttCounters* c)
      : options(std::move(o)),
        handlers(std::move(h)),
        counters(c != nullptr ? c : &own_counters),
        completion_listener(*this),
        subscribed_listener(*this) {}

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
  CompletionListener completion_listener;
  SubscribedListener subscribed_listener;
  std::atomic<std::uintptr_t> connect_number{0};  // this connection's, for its SUBACKs
  std::atomic<int> subacks_left{0};
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

}  // namespace tb
