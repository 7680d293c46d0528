// The production broker with a real bridge logged in as `bridge`, tickets in its store and the
// scanner gate-1 connected and listening for its answers: the gate that the attacks in this
// folder try to take down. After each attack, gate_still_works() checks what must hold.
#pragma once

#include "secure_broker.hpp"

namespace tbtest {

class AttackedGate : public SecureBroker {
 protected:
  void SetUp() override {
    SecureBroker::SetUp();
    bridge_ = make_bridge();
    for (const auto& [code, uid] : std::vector<std::pair<std::string, std::string>>{
             {"T42", "42"}, {"T99", "99"}, {"FRESH", "99"}}) {
      const auto r = bridge_->cli({"tickets", "add", "--uid", uid, "--code", code, "--max-entries",
                                   "0"});  // any number of entries: every scan is admitted
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    ASSERT_TRUE(bridge_->start()) << bridge_->log();
    gate_ = scanner("gate-1");
    ASSERT_EQ(gate_->subscribe("tickets/result/gate-1"), 1);
  }

  // A real scan from gate-1 is answered within seconds, /healthz is 200 and the bridge never had
  // to reconnect.
  void gate_still_works(const std::string& scan_id) {
    gate_->publish("tickets/scan", scan_payload(scan_id, "T99"));
    const auto a = answer(*gate_, scan_id);
    ASSERT_FALSE(a.is_null()) << "the gate got no answer" << bridge_->log();
    EXPECT_EQ(a["status"], "admitted");
    EXPECT_EQ(http_request(bridge_->http_port(), "GET", "/healthz").status, 200);
    EXPECT_EQ(metric(*bridge_, "ticket_bridge_mqtt_reconnects_total"), 0) << bridge_->log();
  }

  std::unique_ptr<Bridge> bridge_;
  std::unique_ptr<TestClient> gate_;
};

}  // namespace tbtest
