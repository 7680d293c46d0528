// What a scanner (or a stolen scanner password) can put on `tickets/scan`: retained scans are
// never decided, a scan naming another scanner is refused by the broker, and a flood of garbage
// leaves the gate working.
#include <gtest/gtest.h>

#include <random>

#include "attacked_gate.hpp"

namespace {

using nlohmann::json;
using tbtest::AttackedGate;

// The production broker refuses a retained scan (it would be delivered again at every subscribe).
TEST_F(AttackedGate, ARetainedScanIsRefusedAndNeverDecided) {
  EXPECT_EQ(gate_->publish("tickets/scan", R"({"code":"FRESH","scanner":"gate-1"})", 1, {}, {},
                           /*retain=*/true),
            0x87);
  // Restarted, the bridge subscribes again: nothing retained may reach it.
  ASSERT_EQ(bridge_->stop(), 0);
  ASSERT_TRUE(bridge_->start()) << bridge_->log();
  const auto shown = bridge_->cli({"tickets", "show", "FRESH"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_EQ(json::parse(shown.out)["entries"], 0) << shown.out;
  gate_still_works("retained:after");
}

TEST_F(AttackedGate, AScanNamingAnotherScannerIsRefusedByTheBroker) {
  auto other_gate = scanner("gate-2");
  ASSERT_EQ(other_gate->subscribe("tickets/result/gate-2"), 1);
  EXPECT_EQ(gate_->publish("tickets/scan", scan_payload("forged:1", "T99", "gate-2")), 0x87);
  // Malformed, but naming another scanner: its malformed answer would go to gate-2.
  EXPECT_EQ(gate_->publish("tickets/scan", R"({"scanner":"gate-2","code":17})"), 0x87);
  // What the plugin cannot parse passes, so that the bridge can answer it as malformed.
  EXPECT_EQ(gate_->publish("tickets/scan", "not json at all"), 0);
  EXPECT_EQ(gate_->publish("tickets/scan", R"({"scanner":"gate-1","code":17,"scan_id":"m:1"})"), 0);
  EXPECT_EQ(answer(*gate_, "m:1")["reason"], "malformed");
  gate_still_works("forged:after");
  EXPECT_TRUE(other_gate->drain().empty()) << "gate-2 got an answer to a scan it never made";
  const auto shown = bridge_->cli({"tickets", "show", "T99"});
  EXPECT_EQ(shown.out.find("forged:1"), std::string::npos) << "the forged scan was audited";
  EXPECT_NE(broker_.log().find("names scanner"), std::string::npos) << "the refusal was not logged";
}

TEST_F(AttackedGate, AFloodOfGarbageLeavesTheGateWorking) {
  std::mt19937 rng(7);
  const std::vector<std::string> shapes = {
      "",
      "{",
      "[]",
      "null",
      "\"x\"",
      R"({"scanner":"gate-1"})",
      R"({"code":"T99"})",
      R"({"scanner":"gate-1","code":"a/b"})",
      R"({"scanner":"gate-1","code":"T99","gate":5})",
      R"({"scanner":"gate-1","code":"T99","scanned_at":"yesterday"})",
      "\xff\xfe\xfd",
      R"({"scanner":"gate-1","code":"T99","scan_id":")" + std::string(300, 'z') + "\"}",
      std::string(20000, '{')};
  for (int i = 0; i < 3000; ++i) {
    std::string payload = shapes[static_cast<std::size_t>(i) % shapes.size()];
    if (i % 7 == 0) {
      payload.clear();
      for (int k = 0; k < 64; ++k) payload.push_back(static_cast<char>(rng() & 0xff));
    }
    const std::optional<std::string> rt =
        i % 5 == 0 ? std::optional<std::string>("#/" + std::to_string(i)) : std::nullopt;
    gate_->publish("tickets/scan", payload, /*qos=*/i % 2, rt);
  }
  gate_still_works("flood:after");
}

}  // namespace

namespace {

// The development broker (no plugin, anonymous) with a bridge, a ticket and a scanner client.
class DevelopmentBroker : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(bridge_.cli({"tickets", "add", "--uid", "42", "--code", "RET1"}).exit_code, 0);
    ASSERT_TRUE(bridge_.start()) << bridge_.log();
    gate_ = std::make_unique<tbtest::TestClient>(broker_.url(), "scanner-gate-1");
    gate_->subscribe("tickets/result/#");
  }
  tbtest::TempDir dir_;
  tbtest::Mosquitto broker_{dir_};
  tbtest::Bridge bridge_{dir_, broker_.url()};
  std::unique_ptr<tbtest::TestClient> gate_;
};

// Without the plugin anyone may publish a retained scan: the bridge itself ignores a scan that
// carries the retain flag, live or delivered again at a subscribe.
TEST_F(DevelopmentBroker, TheBridgeIgnoresRetainedScans) {
  gate_->publish("tickets/scan", R"({"code":"RET1","scanner":"gate-1"})", 1, {}, {}, true);
  ASSERT_TRUE(tbtest::wait_until(
      [&] {
        return tbtest::SecureBroker::metric(bridge_,
                                            "ticket_bridge_scans_retained_ignored_total") == 1;
      },
      std::chrono::seconds(5)))
      << bridge_.log();
  // Restarted, the bridge subscribes again: the broker still holds the retained scan.
  ASSERT_EQ(bridge_.stop(), 0);
  ASSERT_TRUE(bridge_.start());
  const auto shown = bridge_.cli({"tickets", "show", "RET1"});
  EXPECT_EQ(json::parse(shown.out)["entries"], 0) << shown.out;
  EXPECT_TRUE(gate_->drain("tickets/result/gate-1").empty()) << "a retained scan was answered";
  // A real scan of the same ticket is the first entry.
  gate_->publish("tickets/scan", tbtest::SecureBroker::scan_payload("ret:real", "RET1"));
  EXPECT_EQ(tbtest::SecureBroker::answer(*gate_, "ret:real")["status"], "admitted");
}

// A scanner id (or a uid) with a C1 control character would become a topic Mosquitto refuses
// with a disconnect: the parser and the id rules refuse it first, and the bridge stays on.
TEST_F(DevelopmentBroker, ControlCharactersNeverReachATopic) {
  EXPECT_EQ(bridge_.cli({"tickets", "add", "--uid", "u\xc2\x80", "--code", "C2"}).exit_code, 2);
  gate_->publish("tickets/scan", R"({"scan_id":"c1:1","code":"RET1","scanner":"g\u0080"})");
  gate_->publish("tickets/scan", R"({"scan_id":"c1:2","code":"RET1","scanner":"g\ufdd0"})");
  gate_->publish("tickets/scan", tbtest::SecureBroker::scan_payload("c1:real", "RET1"));
  EXPECT_EQ(tbtest::SecureBroker::answer(*gate_, "c1:real")["status"], "admitted") << bridge_.log();
  EXPECT_EQ(tbtest::SecureBroker::metric(bridge_, "ticket_bridge_mqtt_reconnects_total"), 0);
  EXPECT_EQ(tbtest::SecureBroker::metric(bridge_, "ticket_bridge_mqtt_publishes_dropped_total"), 0);
}

}  // namespace
