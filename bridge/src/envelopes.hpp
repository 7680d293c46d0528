// What crosses between the bridge's adapters (MQTT, HTTP) and its writer: a scan as it arrived,
// and an answer ready to publish. Plain structs, so that neither side includes the other.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace tb {

// A scan as it arrived from the broker, not yet parsed.
struct InboundScan {
  std::string payload;
  std::optional<std::string> response_topic;  // MQTT v5 Response Topic
  std::optional<std::string> correlation;     // MQTT v5 Correlation Data
  std::chrono::steady_clock::time_point received = std::chrono::steady_clock::now();
  // Set for a scan on tickets/scan/<scanner> (an embedded scanner): that topic level.
  std::optional<std::string> device_scanner = {};
};

// What a small device gets next to the JSON result (device_answers.hpp).
struct DeviceLines {
  std::string text_topic, text;    // tickets/result/<scanner>/text
  std::string light_topic, light;  // tickets/result/<scanner>/light
};

// An answer for a scanner, ready to publish.
struct Answer {
  std::string topic;
  std::optional<std::string> correlation;
  std::string payload;
  // Set when `topic` is the scan's Response Topic: where the answer goes instead when the broker
  // refuses that publish (tickets/result/<scanner>).
  std::optional<std::string> fallback_topic;
  // For a scan that came in on tickets/scan/<scanner>.
  std::optional<DeviceLines> device = {};
};

}  // namespace tb
