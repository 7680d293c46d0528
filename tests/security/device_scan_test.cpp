// Embedded scanners on the production broker (SPEC.md v1.1 "Embedded scanners"): a device that
// can only publish the code as text on tickets/scan/<its id> gets the JSON result, a short text
// line and a light; it cannot publish under another scanner's id; a double scan is decided once;
// hostile payloads are answered as malformed and the gate keeps working.
#include <gtest/gtest.h>

#include <thread>

#include "attacked_gate.hpp"

namespace {

using nlohmann::json;
using tbtest::AttackedGate;
using tbtest::Received;

class DeviceGate : public AttackedGate {
 protected:
  void SetUp() override {
    AttackedGate::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_EQ(gate_->subscribe("tickets/result/gate-1/+"), 1);
    const auto set = bridge_->cli({"scanners", "set", "gate-1", "--gate", "north"});
    ASSERT_EQ(set.exit_code, 0) << set.err;
    const auto add = bridge_->cli({"tickets", "add", "--uid", "7", "--code", "ONCE", "--holder",
                                   "A. Example", "--gates", "north"});
    ASSERT_EQ(add.exit_code, 0) << add.err;
  }

  // The three answers to one raw scan, in any order: the JSON result, the text, the light.
  struct Answers {
    json result;
    std::string text, light;
  };
  Answers answers(const std::string& scanner = "gate-1") {
    Answers a;
    const std::string base = "tickets/result/" + scanner;
    if (auto m = gate_->next(base)) a.result = json::parse(m->payload, nullptr, false);
    if (auto m = gate_->next(base + "/text")) a.text = m->payload;
    if (auto m = gate_->next(base + "/light")) a.light = m->payload;
    return a;
  }

  json show(const std::string& code) {
    const auto r = bridge_->cli({"tickets", "show", code});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out, nullptr, false);
  }
};

TEST_F(DeviceGate, TheCodeAsTextUnderItsOwnIdGetsTheResultATextAndALight) {
  ASSERT_EQ(gate_->publish("tickets/scan/gate-1", " ONCE\r\n"), 0);
  const auto a = answers();
  ASSERT_TRUE(a.result.is_object()) << bridge_->log();
  EXPECT_EQ(a.result["status"], "admitted") << a.result;
  EXPECT_EQ(a.result["code"], "ONCE");
  EXPECT_TRUE(a.result["scan_id"].is_null());
  EXPECT_EQ(a.text, "ADMIT A. Example");
  EXPECT_EQ(a.light, "green");
  // Decided at the gate of the scanner table, and audited as such.
  const auto t = show("ONCE");
  EXPECT_EQ(t["entries"], 1);
  ASSERT_EQ(t["last_scans"].size(), 1u) << t;
  EXPECT_EQ(t["last_scans"][0]["gate"], "north");
  EXPECT_EQ(t["last_scans"][0]["scanner"], "gate-1");
  // None of them is retained: a display that reconnects must not show an old answer.
  gate_->disconnect();  // one connection per client id: the display comes back as itself
  auto late = scanner("gate-1");
  ASSERT_EQ(late->subscribe("tickets/result/gate-1/#"), 1);
  EXPECT_FALSE(late->next({}, std::chrono::milliseconds(500)).has_value());
}

TEST_F(DeviceGate, AScannerCannotPublishUnderAnotherScannersIdNorReadItsAnswers) {
  auto other = scanner("gate-2");
  ASSERT_EQ(other->subscribe("tickets/result/gate-2/#"), 1);
  EXPECT_EQ(gate_->publish("tickets/scan/gate-2", "ONCE"), 0x87);
  EXPECT_EQ(gate_->publish("tickets/scan/gate-2", R"({"code":"ONCE","scanner":"gate-1"})"), 0x87);
  EXPECT_EQ(gate_->publish("tickets/scan/gate-1/deeper", "ONCE"), 0x87);
  EXPECT_EQ(gate_->publish("tickets/scan/gate-1", "ONCE", 1, {}, {}, /*retain=*/true), 0x87);
  EXPECT_GE(gate_->subscribe("tickets/result/gate-2/text"), 0x80);
  EXPECT_GE(gate_->subscribe("tickets/result/+/light"), 0x80);
  // A customer with a valid token can neither scan nor watch a gate.
  auto app = client("7", token("7"), "app-7-0");
  EXPECT_EQ(app->publish("tickets/scan/gate-1", "ONCE"), 0x87);
  EXPECT_GE(app->subscribe("tickets/result/gate-1/light"), 0x80);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(show("ONCE")["entries"], 0) << "a refused publish was decided";
  EXPECT_TRUE(other->drain().empty());
  gate_still_works("after-forgery");
}

// The same code from the same scanner within the window (a double scan, or a QoS 1 re-send) is
// one entry, and the repeat gets the first answer again.
TEST_F(DeviceGate, ADoubleScanInsideTheWindowIsDecidedOnce) {
  ASSERT_EQ(gate_->publish("tickets/scan/gate-1", "ONCE"), 0);
  ASSERT_EQ(gate_->publish("tickets/scan/gate-1", "ONCE\n", 0), 0);
  const auto first = answers();
  const auto second = answers();
  ASSERT_TRUE(first.result.is_object() && second.result.is_object()) << bridge_->log();
  EXPECT_EQ(first.result["status"], "admitted") << first.result;
  EXPECT_EQ(second.result, first.result);
  EXPECT_EQ(second.text, "ADMIT A. Example");
  EXPECT_EQ(second.light, "green");
  const auto t = show("ONCE");
  EXPECT_EQ(t["entries"], 1);
  EXPECT_EQ(t["last_scans"].size(), 1u) << t;
  EXPECT_EQ(metric(*bridge_, "ticket_bridge_scans_repeated_total"), 1);
}

TEST_F(DeviceGate, HostileTextGetsAMalformedAnswerOnTheScannersTopics) {
  const std::vector<std::string> payloads = {
      "",           " \r\n",       std::string(1'000'000, 'A'),
      "TB\xff\xfe", "TB\x01\x02X", "ON/CE",
      "ONCE ONCE",  "{not json",   R"({"code":17})",
  };
  for (const auto& p : payloads) {
    ASSERT_EQ(gate_->publish("tickets/scan/gate-1", p), 0) << p.substr(0, 40);
    const auto a = answers();
    ASSERT_TRUE(a.result.is_object()) << "no answer to " << p.substr(0, 40) << bridge_->log();
    EXPECT_EQ(a.result["reason"], "malformed") << a.result;
    EXPECT_EQ(a.result["status"], "rejected");
    EXPECT_TRUE(a.result["code"].is_null()) << a.result;
    EXPECT_EQ(a.text, "REJECT malformed");
    EXPECT_EQ(a.light, "red");
  }
  EXPECT_EQ(show("ONCE")["entries"], 0);
  gate_still_works("after-hostile-text");
}

// A QoS 0 scan published while the bridge is away is kept for the bridge's session
// (queue_qos0_messages in the production config) and decided when it is back.
TEST_F(DeviceGate, AQos0ScanSentWhileTheBridgeIsAwayIsDecidedWhenItIsBack) {
  ASSERT_EQ(bridge_->stop(), 0);
  ASSERT_EQ(gate_->publish("tickets/scan/gate-1", "ONCE", 0), 0);
  ASSERT_TRUE(bridge_->start()) << bridge_->log();
  const auto a = answers();
  ASSERT_TRUE(a.result.is_object()) << "the QoS 0 scan was lost" << bridge_->log();
  EXPECT_EQ(a.result["status"], "admitted") << a.result;
  EXPECT_EQ(a.light, "green");
}

// A device's presence may be plain text: `online`, and `offline` as its Last Will.
TEST_F(DeviceGate, PlainOnlineAndOfflinePresenceIsRead) {
  const double before = metric(*bridge_, "ticket_bridge_scanners_online");
  ASSERT_EQ(gate_->publish("scanners/gate-1/status", "online", 1, {}, {}, true), 0);
  ASSERT_TRUE(tbtest::wait_until(
      [&] { return metric(*bridge_, "ticket_bridge_scanners_online") == before + 1; },
      std::chrono::seconds(5)))
      << metric(*bridge_, "ticket_bridge_scanners_online");
  ASSERT_EQ(gate_->publish("scanners/gate-1/status", "offline", 1, {}, {}, true), 0);
  EXPECT_TRUE(tbtest::wait_until(
      [&] { return metric(*bridge_, "ticket_bridge_scanners_online") == before; },
      std::chrono::seconds(5)));
}

}  // namespace
