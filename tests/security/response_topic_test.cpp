// A scan's MQTT v5 Response Topic is the scanner's to choose, so it is untrusted input: whatever
// it names, the bridge stays on the broker, answers the gate, and never publishes into someone
// else's topic.
#include <gtest/gtest.h>

#include "attacked_gate.hpp"

namespace {

using tbtest::AttackedGate;

// Mosquitto forwards a Response Topic with wildcards; a PUBLISH to it makes the broker disconnect
// the bridge (protocol error), and Paho's session resume would re-send it forever.
TEST_F(AttackedGate, WildcardAndSystemResponseTopicsAreAnsweredOnTheScannersTopic) {
  // Exactly the reproduction of the report, with mosquitto_pub (as gate-1, so our own gate-1
  // client steps aside for it).
  gate_.reset();
  EXPECT_EQ(pub("gate-1", "scan-pw", "tickets/scan", scan_payload("rt:pub", "T99"),
                {"-D", "publish", "response-topic", "#"})
                .exit_code,
            0);
  gate_ = scanner("gate-1");
  ASSERT_EQ(gate_->subscribe("tickets/result/gate-1"), 1);
  int n = 0;
  // (Control characters in a Response Topic never get this far: Mosquitto refuses such a PUBLISH
  // from the scanner itself. tests/bridge/topics_test.cpp covers them.)
  std::string deep = "r";  // 201 levels: Mosquitto's limit is 200 '/'
  for (int i = 0; i < 201; ++i) deep += "/r";
  for (const std::string& topic :
       std::vector<std::string>{"#", "a/+/b", "tickets/result/#", "tickets/result/+", "+",
                                "$SYS/broker/x", "$share/g/tickets/result/gate-1", "a//#",
                                std::string(1100, 'x'), deep, std::string(201, '/')}) {
    const std::string id = "rt:" + std::to_string(n++);
    EXPECT_EQ(gate_->publish("tickets/scan", scan_payload(id, "T99"), 1, topic, "c"), 0);
    const auto a = answer(*gate_, id);
    EXPECT_FALSE(a.is_null()) << "no answer for Response Topic " << topic.substr(0, 40);
  }
  gate_still_works("rt:after");
  EXPECT_EQ(metric(*bridge_, "ticket_bridge_response_topics_refused_total"), n + 1);  // + '#'
}

// The bridge may publish into users/..., bridge/..., tickets/result/...: a scanner must not be
// able to use it to write there.
TEST_F(AttackedGate, ResponseTopicsInTheBridgesNamespacesAreRefused) {
  auto victim = listener("42", token("42"), "users/42/events", 0, 8, "victim.log");
  auto other_gate = scanner("gate-2");
  ASSERT_EQ(other_gate->subscribe("tickets/result/gate-2/#"), 1);
  int n = 0;
  for (const std::string topic :
       {"users/42/events", "users/42", "bridge/main/status", "scanners/gate-2/status",
        "tickets/scan", "tickets/scan/gate-1", "tickets/result/gate-2",
        "tickets/result/gate-2/text", "tickets/result/gate-10", "tickets/result"}) {
    const std::string id = "ns:" + std::to_string(n++);
    gate_->publish("tickets/scan", scan_payload(id, "T99"), 1, topic, "c");
    const auto a = answer(*gate_, id);
    EXPECT_FALSE(a.is_null()) << "no answer on tickets/result/gate-1 for " << topic;
  }
  gate_still_works("ns:after");
  // Refused by the bridge's rule, not merely by the production ACL.
  EXPECT_EQ(metric(*bridge_, "ticket_bridge_response_topics_refused_total"), n);
  EXPECT_TRUE(other_gate->drain().empty()) << "another scanner's topic got an answer";
  victim.stop();
  EXPECT_EQ(victim.log().find("scan_id"), std::string::npos)
      << "a scan result reached another person's event feed:\n"
      << victim.log();
}

// The scanner's own topics are fine, with the correlation data echoed.
TEST_F(AttackedGate, TheScannersOwnSubtopicIsHonoured) {
  ASSERT_EQ(gate_->subscribe("tickets/result/gate-1/replies"), 1);
  gate_->publish("tickets/scan", scan_payload("own:1", "T99"), 1, "tickets/result/gate-1/replies",
                 std::string("corr\x01", 5));
  const auto m = gate_->next("tickets/result/gate-1/replies");
  ASSERT_TRUE(m) << bridge_->log();
  EXPECT_EQ(m->correlation, std::string("corr\x01", 5));
  EXPECT_EQ(nlohmann::json::parse(m->payload)["scan_id"], "own:1");
}

// A valid topic that the production ACL does not let the bridge publish to: the broker refuses
// the PUBLISH (PUBACK 0x87), and the bridge answers on the scanner's topic instead.
TEST_F(AttackedGate, AnAnswerTheBrokerRefusesFallsBackToTheScannersTopic) {
  gate_->publish("tickets/scan", scan_payload("acl:1", "T99"), 1, "replies/gate-1", "corr-1");
  const auto m = gate_->next("tickets/result/gate-1", std::chrono::seconds(8));
  ASSERT_TRUE(m) << "no answer after the broker refused the Response Topic\n" << bridge_->log();
  EXPECT_EQ(nlohmann::json::parse(m->payload)["scan_id"], "acl:1");
  EXPECT_EQ(m->correlation, std::string("corr-1"));
  // The bridge did use the Response Topic; the broker refused it.
  EXPECT_EQ(metric(*bridge_, "ticket_bridge_response_topics_refused_total"), 0);
  EXPECT_EQ(metric(*bridge_, "ticket_bridge_answers_refused_by_broker_total"), 1);
  gate_still_works("acl:after");
}

}  // namespace

namespace {

// broker-conf/README.md's way of playing a scanner by hand: one connection, one client id.
TEST_F(AttackedGate, MosquittoRrPlaysAScannerAsTheDocsShow) {
  gate_.reset();  // the scanner's one client id is mosquitto_rr's now
  const auto r =
      tbtest::run({"mosquitto_rr", "-p", std::to_string(plain_), "-u", "gate-1", "-P", "scan-pw",
                   "-i", "scanner-gate-1", "-t", "tickets/scan", "-e", "tickets/result/gate-1",
                   "-W", "5", "-m", scan_payload("rr:1", "T99")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(R"("scan_id":"rr:1")"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find(R"("status":"admitted")"), std::string::npos) << r.out;
}

}  // namespace
