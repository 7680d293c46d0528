// Process-wide counters and histograms, rendered in the Prometheus text format. Updates are
// lock-free atomics so that hot paths can count without contention.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "admission.hpp"
#include "health.hpp"
#include "mqtt_counters.hpp"

namespace tb {

// A sample's value as the Prometheus text format writes it (%.6g), appended to `out`.
void append_prometheus_number(std::string& out, double v);

// A histogram with fixed bucket bounds (seconds), as Prometheus wants.
class Histogram {
 public:
  static constexpr std::array<double, 14> kBounds = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};
  void observe(double seconds);
  // The index of the bucket `seconds` falls in (kBounds.size(): above the last bound).
  static std::size_t bucket_of(double seconds);
  void render(std::string& out, const std::string& name, const std::string& help) const;

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_micros_{0};
};

struct Metrics {
  // Scans decided, by status and reason (malformed ones included).
  std::array<std::array<std::atomic<std::uint64_t>, kReasonCount>, kStatusCount> scans{};
  std::atomic<std::uint64_t> scans_duplicate{0};   // repeated scan_id, answered from the log
  std::atomic<std::uint64_t> scans_unanswered{0};  // dropped after the store failed
  // Embedded scanners: a repeat inside the window answered from the log, and scans whose gate
  // the scanner table overrode.
  std::atomic<std::uint64_t> scans_repeated{0};
  std::atomic<std::uint64_t> scan_gate_mismatches{0};
  // Signed codes of a known ticket that are not the one issued for it (decided `unknown`).
  std::atomic<std::uint64_t> scans_signed_mismatch{0};
  // Gates' offline verdicts recorded (SPEC.md v1.1), by the gate's status; and those that
  // conflict with the bridge's decision (docs/offline.md). Each scan counts once.
  std::array<std::atomic<std::uint64_t>, kStatusCount> offline_verdicts{};
  std::atomic<std::uint64_t> offline_conflicts{0};
  std::atomic<std::int64_t> scanners_online{0};  // by their scanners/<id>/status
  std::atomic<std::uint64_t> events_published{0};
  std::atomic<std::uint64_t> events_republished{0};  // by the outbox, after a connect
  // Events heard on the broker for a uid with WebSocket clients here (peer_events.hpp), and
  // publishes there without a seq.
  std::atomic<std::uint64_t> peer_hints{0};
  std::atomic<std::uint64_t> peer_hints_unreadable{0};
  std::atomic<std::int64_t> peer_events_connected{0};  // the connection that hears them is up
  std::atomic<std::uint64_t> store_errors{0};
  std::atomic<std::uint64_t> store_conflicts{0};  // batches run again: another bridge was first
  std::atomic<std::uint64_t> batches{0};          // committed transactions of scans
  // Untrusted MQTT input (SPEC.md v1.1).
  std::atomic<std::uint64_t> scans_retained_ignored{0};   // scans that carried the retain flag
  std::atomic<std::uint64_t> response_topics_refused{0};  // answered on tickets/result/<scanner>
  MqttCounters mqtt;  // reconnects, answers refused by the broker, publishes dropped
  std::atomic<std::int64_t> queue_depth{0};
  Histogram decision_seconds;  // from the scan's arrival to its answer being handed to MQTT

  // WebSocket gateway.
  std::atomic<std::int64_t> ws_connections{0};
  std::atomic<std::uint64_t> ws_events_delivered{0};
  std::atomic<std::uint64_t> ws_replays{0};
  std::atomic<std::uint64_t> ws_slow_closes{0};
  std::atomic<std::uint64_t> ws_token_expiries{0};
  std::atomic<std::uint64_t> ws_auth_failures{0};
  // Connections refused over a cap (connection_limits.hpp, --max-ws-per-uid), and failed accepts
  // (out of file descriptors).
  std::atomic<std::uint64_t> refused_total{0};
  std::atomic<std::uint64_t> refused_per_source{0};
  std::atomic<std::uint64_t> refused_per_uid{0};
  std::atomic<std::uint64_t> accept_errors{0};

  // HTTP requests by route (a fixed label such as "/api/v1/tickets/{code}") and status.
  void count_http(const std::string& route, int status);

  void count_scan(Status s, Reason r) {
    scans[static_cast<std::size_t>(s)][static_cast<std::size_t>(r)].fetch_add(
        1, std::memory_order_relaxed);
  }
  std::string render(const Health& health) const;

 private:
  mutable std::mutex http_mu_;
  std::map<std::pair<std::string, int>, std::uint64_t> http_requests_;
};

}  // namespace tb
