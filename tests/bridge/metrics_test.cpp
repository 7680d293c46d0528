// The Prometheus text: cumulative histogram buckets, counters by reason, health as gauges.
#include "metrics.hpp"

#include <gtest/gtest.h>

namespace tb {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  Histogram h;
  h.observe(0.00005);  // first bucket
  h.observe(0.003);    // le 0.005
  h.observe(10.0);     // past every bound: +Inf only
  std::string out = "\n";
  h.render(out, "t_seconds", "test");
  EXPECT_TRUE(has_line(out, "t_seconds_bucket{le=\"0.0001\"} 1")) << out;
  EXPECT_TRUE(has_line(out, "t_seconds_bucket{le=\"0.0025\"} 1")) << out;
  EXPECT_TRUE(has_line(out, "t_seconds_bucket{le=\"0.005\"} 2")) << out;
  EXPECT_TRUE(has_line(out, "t_seconds_bucket{le=\"2.5\"} 2")) << out;
  EXPECT_TRUE(has_line(out, "t_seconds_bucket{le=\"+Inf\"} 3")) << out;
  EXPECT_TRUE(has_line(out, "t_seconds_count 3")) << out;
}

TEST(Metrics, ScansByReasonHttpByRouteAndHealth) {
  Metrics m;
  Health health;
  m.count_scan(Status::Rejected, Reason::AlreadyUsed);
  m.count_scan(Status::Rejected, Reason::AlreadyUsed);
  m.count_http("/api/v1/push", 202);
  m.mqtt.reconnects = 4;
  health.set_mqtt(true);
  health.set_store(false);
  const std::string out = "\n" + m.render(health);
  EXPECT_NE(out.find("status=\"rejected\",reason=\"already_used\"} 2"), std::string::npos) << out;
  EXPECT_TRUE(
      has_line(out, "ticket_bridge_http_requests_total{route=\"/api/v1/push\",status=\"202\"} 1"))
      << out;
  EXPECT_TRUE(has_line(out, "ticket_bridge_mqtt_reconnects_total 4")) << out;
  EXPECT_TRUE(has_line(out, "ticket_bridge_mqtt_connected 1")) << out;
  EXPECT_TRUE(has_line(out, "ticket_bridge_store_up 0")) << out;
}

}  // namespace
}  // namespace tb
