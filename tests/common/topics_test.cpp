// Topic names and the Response Topic rule of SPEC.md v1.1.
#include "topics.hpp"

#include <gtest/gtest.h>

namespace tb::topics {
namespace {

TEST(Topics, Names) {
  EXPECT_EQ(result("gate-1"), "tickets/result/gate-1");
  EXPECT_EQ(user_events("42"), "users/42/events");
  EXPECT_EQ(bridge_status("main"), "bridge/main/status");
  EXPECT_EQ(scanner_status("gate-1"), "scanners/gate-1/status");
  EXPECT_EQ(device_scan("gate-1"), "tickets/scan/gate-1");
  EXPECT_EQ(result_text("gate-1"), "tickets/result/gate-1/text");
  EXPECT_EQ(result_light("gate-1"), "tickets/result/gate-1/light");
}

TEST(Topics, TheScannerLevelOfDeviceScansAndStatuses) {
  EXPECT_EQ(device_scan_scanner("tickets/scan/gate-1"), "gate-1");
  EXPECT_EQ(device_scan_scanner("tickets/scan"), std::nullopt);
  EXPECT_EQ(device_scan_scanner("tickets/scan/"), std::nullopt);
  EXPECT_EQ(device_scan_scanner("tickets/scan/a/b"), std::nullopt);
  EXPECT_EQ(device_scan_scanner("tickets/scanx/a"), std::nullopt);
  EXPECT_EQ(status_scanner("scanners/gate-1/status"), "gate-1");
  EXPECT_EQ(status_scanner("scanners//status"), std::nullopt);
  EXPECT_EQ(status_scanner("scanners/a/b/status"), std::nullopt);
  EXPECT_EQ(status_scanner("bridge/main/status"), std::nullopt);
}

TEST(Topics, ValidTopicNames) {
  EXPECT_TRUE(is_valid_topic_name("a"));
  EXPECT_TRUE(is_valid_topic_name("replies/gate-1/ünïcode"));
  EXPECT_TRUE(is_valid_topic_name("a//b"));
  EXPECT_TRUE(is_valid_topic_name(std::string(1024, 'x')));
  EXPECT_FALSE(is_valid_topic_name(std::string(1025, 'x')));
  EXPECT_FALSE(is_valid_topic_name(""));
  for (const std::string t : {"#", "a/#", "+", "a/+/b", "a+b", "$SYS/x", "$share/g/t"}) {
    EXPECT_FALSE(is_valid_topic_name(t)) << t;
  }
  EXPECT_FALSE(is_valid_topic_name(std::string("a\0b", 3)));
  EXPECT_FALSE(is_valid_topic_name("a/\xff"));      // not UTF-8
  EXPECT_FALSE(is_valid_topic_name("a/\xc0\xaf"));  // an overlong '/'
  // What Mosquitto refuses with a disconnect: controls (C0, DEL, C1), noncharacters, deep trees.
  for (const std::string t : {"a/\x01", "a/\x7f", "a/\xc2\x85", "a/\xef\xb7\x90", "a/\xef\xbf\xbf",
                              "a/\xf0\x9f\xbf\xbe"}) {
    EXPECT_FALSE(is_valid_topic_name(t)) << t;
  }
  EXPECT_TRUE(is_valid_topic_name(std::string(200, '/')));
  EXPECT_FALSE(is_valid_topic_name(std::string(201, '/')));
}

TEST(Topics, AResponseTopicStaysOutOfTheBridgesNamespaces) {
  const std::optional<std::string> gate1 = "gate-1";
  for (const std::string t :
       {"replies/gate-1", "my/replies", "tickets/results/x", "usersx/1", "tickets/scanx",
        "tickets/syncx", "tickets/result/gate-1", "tickets/result/gate-1/replies"}) {
    EXPECT_FALSE(response_topic_refusal(t, gate1)) << t;
  }
  for (const std::string t :
       {"users", "users/42/events", "bridge/main/status", "scanners/gate-1/status", "tickets/scan",
        "tickets/scan/gate-1", "tickets/result", "tickets/result/gate-2", "tickets/result/gate-10",
        "tickets/result/gate-1x", "#", "tickets/result/#", "$SYS/x", "tickets/sync/updates",
        "tickets/sync/snapshot/0", "tickets/sync"}) {
    EXPECT_TRUE(response_topic_refusal(t, gate1)) << t;
  }
  // Without a known scanner, nothing under tickets/result is anyone's own.
  EXPECT_TRUE(response_topic_refusal("tickets/result/gate-1", std::nullopt));
  EXPECT_FALSE(response_topic_refusal("my/replies", std::nullopt));
}

TEST(Topics, SnapshotChunks) {
  EXPECT_EQ(sync_snapshot(0), "tickets/sync/snapshot/0");
  EXPECT_EQ(sync_snapshot_chunk("tickets/sync/snapshot/0"), 0U);
  EXPECT_EQ(sync_snapshot_chunk("tickets/sync/snapshot/63"), 63U);
  for (const std::string t :
       {"tickets/sync/snapshot/", "tickets/sync/snapshot/01", "tickets/sync/snapshot/+",
        "tickets/sync/snapshot/1/x", "tickets/sync/snapshot/-1", "tickets/sync/snapshot/99999",
        "tickets/sync/snapshot/1e2", "tickets/sync/updates"}) {
    EXPECT_EQ(sync_snapshot_chunk(t), std::nullopt) << t;
  }
}

TEST(Topics, ScannersOwn) {
  EXPECT_TRUE(is_scanners_own("tickets/result/gate-1", "gate-1"));
  EXPECT_TRUE(is_scanners_own("tickets/result/gate-1/#", "gate-1"));
  EXPECT_FALSE(is_scanners_own("tickets/result/gate-10", "gate-1"));
  EXPECT_FALSE(is_scanners_own("tickets/result/", ""));
  EXPECT_FALSE(is_scanners_own("tickets/results/gate-1", "gate-1"));
}

}  // namespace
}  // namespace tb::topics
