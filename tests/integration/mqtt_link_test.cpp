// The bridge's MQTT link in process, against a real mosquitto.
#include "mqtt_link.hpp"

#include <gtest/gtest.h>

#include <set>

#include "brokers.hpp"

namespace {

using tbtest::Mosquitto;
using tbtest::TempDir;
using tbtest::TestClient;

// Answers queued for the publisher thread right before stop() still reach the broker: stop()
// hands everything queued to Paho before it disconnects (a graceful shutdown answers every scan
// the bridge decided).
TEST(MqttLink, StopDeliversEverythingQueued) {
  TempDir dir;
  Mosquitto broker(dir);
  TestClient watcher(broker.url(), "watcher");
  watcher.subscribe("tickets/result/#");

  tb::Metrics metrics;
  tb::Health health;
  tb::MqttOptions options;
  options.uri = broker.url();
  auto link = std::make_unique<tb::MqttLink>(options, metrics, health);
  const auto error = link->start([](tb::InboundScan) {});
  ASSERT_FALSE(error) << *error;
  // Below the broker's in-flight window (max_inflight_messages), so none waits for an ack.
  constexpr int kAnswers = 900;
  for (int i = 0; i < kAnswers; ++i) {
    link->publish_answer(tb::Answer{"tickets/result/gate-1", "id-" + std::to_string(i),
                                    R"({"n":)" + std::to_string(i) + "}", std::nullopt});
  }
  link->stop();
  link.reset();

  std::set<std::string> got;
  while (got.size() < kAnswers) {
    const auto m = watcher.next("tickets/result/gate-1", std::chrono::seconds(3));
    if (!m) break;
    const std::string id = m->correlation.value_or("");
    EXPECT_TRUE(got.insert(id).second) << "duplicate " << id;
  }
  EXPECT_EQ(got.size(), static_cast<std::size_t>(kAnswers));
}

}  // namespace
