// CPU cost per scan of the checks on untrusted MQTT input: the broker plugin's scan check (the
// bridge's parser, run on mosquitto's one thread for every publish on tickets/scan) and the
// bridge's Response Topic rule. `tools/bench.sh checks` runs it; docs/benchmarks.md has results.
#include <chrono>
#include <cstdio>
#include <string>

#include "policy.hpp"
#include "topics.hpp"

namespace {

template <typename F>
double micros_per_call(int n, F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) f();
  const std::chrono::duration<double, std::micro> took = std::chrono::steady_clock::now() - t0;
  return took.count() / n;
}

}  // namespace

int main() {
  constexpr int kCalls = 1'000'000;
  const tbauth::Identity scanner{tbauth::Role::Scanner, "gate-n-1", 0};
  const std::string scan =
      R"({"scan_id":"gate-n-1:000123","code":"TB7QK2M9XW4R","scanner":"gate-n-1",)"
      R"("gate":"north","direction":"in","scanned_at":"2026-11-25T19:02:11.123Z"})";
  const std::optional<std::string> id = "gate-n-1";
  int refused = 0;
  const double plugin = micros_per_call(kCalls, [&] {
    refused += tbauth::scan_refusal(scanner, "tickets/scan", scan, false).has_value();
  });
  const double topic = micros_per_call(kCalls, [&] {
    refused += tb::topics::response_topic_refusal("tickets/result/gate-n-1", id).has_value();
  });
  std::printf(
      "{\"plugin_scan_check_us\": %.3f, \"response_topic_check_us\": %.3f, \"refused\": %d}\n",
      plugin, topic, refused);
  return refused == 0 ? 0 : 1;
}
