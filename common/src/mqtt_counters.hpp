// What an MQTT session did, counted for the bridge's metrics (mqtt_session.hpp writes them from
// Paho's and its own threads). Free of Paho, so that the metrics can hold one.
#pragma once

#include <atomic>
#include <cstdint>

namespace tb {

struct MqttCounters {
  std::atomic<std::uint64_t> reconnects{0};
  std::atomic<std::uint64_t> refused_by_broker{0};  // publishes refused, sent to their fallback
  std::atomic<std::uint64_t> dropped{0};            // invalid topic name: never sent
};

}  // namespace tb
