// The MQTT session both programs use, against a real mosquitto: it says online and offline, keeps
// itself connected across a broker restart (subscriptions renewed), hands everything queued to the
// broker at the stop, and never sends a PUBLISH that would get it disconnected.
#include "mqtt_session.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>

#include "brokers.hpp"

namespace {

using namespace std::chrono_literals;
using tbtest::Mosquitto;
using tbtest::TempDir;
using tbtest::TestClient;

// What the handlers saw; they run on Paho's thread.
struct Seen {
  std::mutex mu;
  std::condition_variable cv;
  int connects = 0;
  int losses = 0;
  std::vector<tb::MqttInbound> messages;

  tb::MqttSession::Handlers handlers() {
    return {[this](tb::MqttInbound m) { note([&] { messages.push_back(std::move(m)); }); },
            [this] { note([&] { ++connects; }); }, [this] { note([&] { ++losses; }); }};
  }
  template <class F>
  void note(F f) {
    {
      std::lock_guard lock(mu);
      f();
    }
    cv.notify_all();
  }
  template <class P>
  bool wait(P pred, std::chrono::milliseconds timeout = 15s) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, timeout, pred);
  }
};

tb::MqttSessionOptions options_for(const Mosquitto& broker, const std::string& id) {
  tb::MqttSessionOptions o;
  o.uri = broker.url();
  o.client_id = id;
  o.status_topic = "test/" + id + "/status";
  o.backoff_min = 50ms;
  o.backoff_max = 500ms;
  return o;
}

TEST(MqttSession, StopHandsEverythingQueuedToTheBrokerThenSaysOffline) {
  TempDir dir;
  Mosquitto broker(dir);
  TestClient watcher(broker.url(), "watcher");
  watcher.subscribe("out/#");
  watcher.subscribe("test/s1/status");
  tb::MqttCounters counters;
  Seen seen;
  auto session =
      std::make_unique<tb::MqttSession>(options_for(broker, "s1"), seen.handlers(), &counters);
  const auto error = session->connect_once();
  ASSERT_FALSE(error) << *error;
  session->keep_connected();
  const auto online = watcher.next("test/s1/status");
  ASSERT_TRUE(online);
  EXPECT_NE(online->payload.find("\"online\""), std::string::npos);
  // Below the broker's in-flight window (max_inflight_messages), so none waits for an ack.
  constexpr int kMessages = 900;
  for (int i = 0; i < kMessages; ++i) {
    session->publish(tb::MqttOutbound{"out/x", "m", false, {}, std::to_string(i), {}, {}, false});
  }
  session->stop();
  session.reset();

  std::set<std::string> got;
  while (got.size() < kMessages) {
    const auto m = watcher.next("out/x", 3s);
    if (!m) break;
    EXPECT_TRUE(got.insert(m->correlation.value_or("")).second) << "duplicate";
  }
  EXPECT_EQ(got.size(), static_cast<std::size_t>(kMessages));
  const auto offline = watcher.next("test/s1/status");
  ASSERT_TRUE(offline);
  EXPECT_NE(offline->payload.find("\"offline\""), std::string::npos);
  TestClient late(broker.url(), "late");  // the status stays: it is retained
  late.subscribe("test/s1/status");
  const auto kept = late.next("test/s1/status");
  ASSERT_TRUE(kept);
  EXPECT_TRUE(kept->retained);
  EXPECT_NE(kept->payload.find("\"offline\""), std::string::npos);
  EXPECT_EQ(counters.reconnects.load(), 0U);
}

TEST(MqttSession, ComesBackAfterABrokerRestartAndSubscribesAgain) {
  TempDir dir;
  Mosquitto broker(dir);
  Seen seen;
  tb::MqttCounters counters;
  auto o = options_for(broker, "s2");
  o.subscriptions = {tb::MqttSubscription{"in/#", 1, false}};
  tb::MqttSession session(o, seen.handlers(), &counters);
  ASSERT_FALSE(session.connect_once());
  session.keep_connected();
  ASSERT_TRUE(seen.wait([&] { return seen.connects == 1; }));

  broker.stop();  // the dev broker keeps no sessions: only a new subscribe brings messages back
  ASSERT_TRUE(seen.wait([&] { return seen.losses == 1; }));
  EXPECT_FALSE(session.connected());
  broker.start();
  ASSERT_TRUE(seen.wait([&] { return seen.connects == 2; })) << broker.log();
  EXPECT_TRUE(session.connected());
  EXPECT_EQ(counters.reconnects.load(), 1U);

  TestClient sender(broker.url(), "sender");
  ASSERT_EQ(sender.publish("in/a", "hello", 1, std::string("reply/here"), std::string("c-1")), 0);
  ASSERT_TRUE(seen.wait([&] { return !seen.messages.empty(); }));
  std::lock_guard lock(seen.mu);
  EXPECT_EQ(seen.messages[0].topic, "in/a");
  EXPECT_EQ(seen.messages[0].payload, "hello");
  EXPECT_EQ(seen.messages[0].response_topic, "reply/here");
  EXPECT_EQ(seen.messages[0].correlation, "c-1");
  EXPECT_FALSE(seen.messages[0].retained);
}

TEST(MqttSession, KeepConnectedWaitsForABrokerThatIsNotUpYet) {
  TempDir dir;
  Mosquitto broker(dir);
  broker.stop();
  Seen seen;
  tb::MqttSession session(options_for(broker, "s3"), seen.handlers());
  session.keep_connected();
  std::this_thread::sleep_for(300ms);  // a few attempts fail meanwhile
  EXPECT_FALSE(session.connected());
  broker.start();
  EXPECT_TRUE(seen.wait([&] { return seen.connects == 1; })) << broker.log();
  session.stop();
}

// A topic name Mosquitto refuses with a disconnect is never sent; the fallback is.
TEST(MqttSession, AnInvalidTopicNameIsDroppedAndItsFallbackSent) {
  TempDir dir;
  Mosquitto broker(dir);
  TestClient watcher(broker.url(), "watcher");
  watcher.subscribe("#");
  Seen seen;
  tb::MqttCounters counters;
  tb::MqttSession session(options_for(broker, "s4"), seen.handlers(), &counters);
  ASSERT_FALSE(session.connect_once());
  session.keep_connected();
  session.publish(
      tb::MqttOutbound{"bad/+/topic", "x", false, {}, {}, std::string("good/one"), {}, false});
  session.publish(tb::MqttOutbound{"bad/#", "y", false, {}, {}, {}, {}, false});
  session.publish(tb::MqttOutbound{"after", "z", false, {}, {}, {}, {}, false});
  const auto fallback = watcher.next("good/one");
  ASSERT_TRUE(fallback);
  EXPECT_EQ(fallback->payload, "x");
  ASSERT_TRUE(watcher.next("after"));
  EXPECT_EQ(counters.dropped.load(), 2U);
  EXPECT_EQ(seen.losses, 0);  // never disconnected for it
  EXPECT_TRUE(session.connected());
}

}  // namespace
