// Prometheus text rendering of the bridge's metrics.
#include "metrics.hpp"

#include <cstdio>

namespace tb {

void append_prometheus_number(std::string& out, double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  out += buf;
}

namespace {

void header(std::string& out, const std::string& name, const char* type, const std::string& help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void scalar(std::string& out, const std::string& name, const char* type, const std::string& help,
            double v) {
  header(out, name, type, help);
  out += name + " ";
  append_prometheus_number(out, v);
  out += "\n";
}
}  // namespace

std::size_t Histogram::bucket_of(double seconds) {
  std::size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  return i;
}

void Histogram::observe(double seconds) {
  const std::size_t i = bucket_of(seconds);
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<std::uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

void Histogram::render(std::string& out, const std::string& name, const std::string& help) const {
  header(out, name, "histogram", help);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    out += name + "_bucket{le=\"";
    if (i < kBounds.size()) {
      append_prometheus_number(out, kBounds[i]);
    } else {
      out += "+Inf";
    }
    out += "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_sum ";
  append_prometheus_number(out,
                           static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6);
  out += "\n" + name + "_count " + std::to_string(count_.load(std::memory_order_relaxed)) + "\n";
}

void Metrics::count_http(const std::string& route, int status) {
  std::lock_guard lock(http_mu_);
  ++http_requests_[{route, status}];
}

std::string Metrics::render(const Health& health) const {
  std::string out;
  out.reserve(4096);
  header(out, "ticket_bridge_scans_total", "counter", "Scans decided, by status and reason.");
  for (std::size_t s = 0; s < kStatusCount; ++s) {
    for (std::size_t r = 0; r < kReasonCount; ++r) {
      const auto n = scans[s][r].load(std::memory_order_relaxed);
      if (n == 0) continue;
      out += "ticket_bridge_scans_total{status=\"";
      out += to_string(static_cast<Status>(s));
      out += "\",reason=\"";
      out += to_string(static_cast<Reason>(r));
      out += "\"} " + std::to_string(n) + "\n";
    }
  }
  scalar(out, "ticket_bridge_scans_duplicate_total", "counter",
         "Redelivered scans answered with their stored result.",
         static_cast<double>(scans_duplicate.load()));
  scalar(out, "ticket_bridge_scans_repeated_total", "counter",
         "Scans without a scan_id on tickets/scan/<scanner> repeating the same code within the "
         "repeat window, answered with the first result.",
         static_cast<double>(scans_repeated.load()));
  scalar(out, "ticket_bridge_scan_gate_mismatches_total", "counter",
         "Scans that named another gate than their scanner's in the scanner table; decided at the "
         "table's gate.",
         static_cast<double>(scan_gate_mismatches.load()));
  scalar(out, "ticket_bridge_scans_signed_mismatch_total", "counter",
         "Scans of a signed code that names a known ticket but is not the code issued for it "
         "(another key, changed fields, a forged signature); decided unknown.",
         static_cast<double>(scans_signed_mismatch.load()));
  header(out, "ticket_bridge_offline_verdicts_total", "counter",
         "Scans a gate decided offline, recorded once each, by the gate's status.");
  for (std::size_t s = 0; s < kStatusCount; ++s) {
    out += "ticket_bridge_offline_verdicts_total{status=\"";
    out += to_string(static_cast<Status>(s));
    out += "\"} " + std::to_string(offline_verdicts[s].load(std::memory_order_relaxed)) + "\n";
  }
  scalar(out, "ticket_bridge_offline_conflicts_total", "counter",
         "Offline verdicts of gates that differ from the bridge's decision (another gate let the "
         "ticket in first, an answer lost on the way back); audited as conflicts.",
         static_cast<double>(offline_conflicts.load()));
  scalar(out, "ticket_bridge_scanners_online", "gauge",
         "Scanners whose scanners/<id>/status says online.",
         static_cast<double>(scanners_online.load()));
  scalar(out, "ticket_bridge_scans_unanswered_total", "counter",
         "Scans left unanswered (the store failed, or they arrived after the last batch of a "
         "shutdown); the scanner retries them.",
         static_cast<double>(scans_unanswered.load()));
  scalar(out, "ticket_bridge_events_published_total", "counter", "Owner events handed to MQTT.",
         static_cast<double>(events_published.load()));
  scalar(out, "ticket_bridge_events_republished_total", "counter",
         "Stored owner events published again after a connect: the broker had not acknowledged "
         "them.",
         static_cast<double>(events_republished.load()));
  scalar(out, "ticket_bridge_peer_hints_total", "counter",
         "Events heard on users/<uid>/events for a uid with WebSocket clients on this bridge "
         "(any bridge's, this one's included).",
         static_cast<double>(peer_hints.load()));
  scalar(out, "ticket_bridge_peer_hints_unreadable_total", "counter",
         "Publishes on users/<uid>/events without a seq, ignored.",
         static_cast<double>(peer_hints_unreadable.load()));
  scalar(out, "ticket_bridge_peer_events_connected", "gauge",
         "1 while the MQTT connection that hears other bridges' events is up.",
         static_cast<double>(peer_events_connected.load()));
  scalar(out, "ticket_bridge_store_errors_total", "counter", "Failed store transactions.",
         static_cast<double>(store_errors.load()));
  scalar(out, "ticket_bridge_store_conflicts_total", "counter",
         "Batches run again because another bridge on the same store was first (a shared "
         "scan_id, a deadlock).",
         static_cast<double>(store_conflicts.load()));
  scalar(out, "ticket_bridge_batches_total", "counter",
         "Transactions that committed scans; scans per batch = scans / batches.",
         static_cast<double>(batches.load()));
  scalar(out, "ticket_bridge_mqtt_reconnects_total", "counter", "Reconnections to the broker.",
         static_cast<double>(mqtt.reconnects.load()));
  scalar(out, "ticket_bridge_scans_retained_ignored_total", "counter",
         "Scans that arrived with the MQTT retain flag and were ignored.",
         static_cast<double>(scans_retained_ignored.load()));
  scalar(out, "ticket_bridge_response_topics_refused_total", "counter",
         "Response Topics not used (wildcards, the bridge's namespaces, another scanner's "
         "topic); the answer went to tickets/result/<scanner>.",
         static_cast<double>(response_topics_refused.load()));
  scalar(out, "ticket_bridge_answers_refused_by_broker_total", "counter",
         "Answers to a Response Topic that the broker refused (PUBACK >= 0x80); sent again to "
         "tickets/result/<scanner>.",
         static_cast<double>(mqtt.refused_by_broker.load()));
  scalar(out, "ticket_bridge_mqtt_publishes_dropped_total", "counter",
         "Messages never handed to the broker because their topic is not a valid topic name.",
         static_cast<double>(mqtt.dropped.load()));
  scalar(out, "ticket_bridge_mqtt_connected", "gauge", "1 while connected to the broker.",
         health.mqtt() ? 1.0 : 0.0);
  scalar(out, "ticket_bridge_store_up", "gauge", "1 while the store answers.",
         health.store() ? 1.0 : 0.0);
  scalar(out, "ticket_bridge_scan_queue_depth", "gauge", "Scans waiting to be decided.",
         static_cast<double>(queue_depth.load()));
  decision_seconds.render(out, "ticket_bridge_decision_seconds",
                          "Time from a scan's arrival to its answer being sent.");
  scalar(out, "ticket_bridge_ws_connections", "gauge", "Open WebSocket connections.",
         static_cast<double>(ws_connections.load()));
  scalar(out, "ticket_bridge_ws_events_delivered_total", "counter",
         "Events written to WebSocket clients.", static_cast<double>(ws_events_delivered.load()));
  scalar(out, "ticket_bridge_ws_replays_total", "counter",
         "WebSocket hellos with `since` that were answered with a replay.",
         static_cast<double>(ws_replays.load()));
  scalar(out, "ticket_bridge_ws_slow_consumer_closes_total", "counter",
         "WebSocket clients closed (1013) for reading too slowly.",
         static_cast<double>(ws_slow_closes.load()));
  scalar(out, "ticket_bridge_ws_token_expiries_total", "counter",
         "WebSocket connections closed (1008) at their token's exp.",
         static_cast<double>(ws_token_expiries.load()));
  scalar(out, "ticket_bridge_ws_auth_failures_total", "counter",
         "WebSocket hellos refused as unauthorized.", static_cast<double>(ws_auth_failures.load()));
  header(out, "ticket_bridge_connections_refused_total", "counter",
         "Connections refused over a cap (503, or WebSocket close 1013).");
  out += "ticket_bridge_connections_refused_total{cap=\"total\"} " +
         std::to_string(refused_total.load()) + "\n";
  out += "ticket_bridge_connections_refused_total{cap=\"per_source\"} " +
         std::to_string(refused_per_source.load()) + "\n";
  out += "ticket_bridge_connections_refused_total{cap=\"per_uid\"} " +
         std::to_string(refused_per_uid.load()) + "\n";
  scalar(out, "ticket_bridge_accept_errors_total", "counter",
         "Failed accepts of HTTP connections (out of file descriptors, ...).",
         static_cast<double>(accept_errors.load()));
  header(out, "ticket_bridge_http_requests_total", "counter", "HTTP requests by route and status.");
  {
    std::lock_guard lock(http_mu_);
    for (const auto& [key, n] : http_requests_) {
      out += "ticket_bridge_http_requests_total{route=\"" + key.first + "\",status=\"" +
             std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
    }
  }
  return out;
}

}  // namespace tb
