// MQTT client ids are bound to identities: Mosquitto takes over an existing session with the
// same client id after authentication, whoever logs in, so a ticket holder with a valid token (or
// a stolen scanner) must not be able to log in with the bridge's or another scanner's id.
#include <gtest/gtest.h>

#include "attacked_gate.hpp"

namespace {

using tbtest::AttackedGate;
using tbtest::SecureBroker;

TEST_F(AttackedGate, NobodyElseCanLogInWithTheBridgesClientId) {
  const auto customer =
      sub("42", token("42"), "users/42/events", 1, 2, {"-i", "ticket-bridge-main"});
  EXPECT_TRUE(refused(customer)) << customer.out << customer.err;
  const auto stolen_scanner =
      sub("gate-2", "scan-pw-2", "tickets/result/gate-2", 1, 2, {"-i", "ticket-bridge-main"});
  EXPECT_TRUE(refused(stolen_scanner)) << stolen_scanner.out << stolen_scanner.err;
  gate_still_works("id:after");
}

// The bridge's persistent session holds the scans published while it is away; a takeover with a
// clean start would wipe them.
TEST_F(AttackedGate, TheBridgesSessionAndItsQueuedScansSurviveATakeoverAttempt) {
  ASSERT_EQ(bridge_->stop(), 0);
  EXPECT_EQ(gate_->publish("tickets/scan", scan_payload("queued:1", "T99")), 0);
  EXPECT_EQ(gate_->publish("tickets/scan", scan_payload("queued:2", "T42")), 0);
  EXPECT_TRUE(
      refused(sub("42", token("42"), "users/42/events", 1, 1, {"-i", "ticket-bridge-main"})));
  EXPECT_TRUE(refused(sub("gate-2", "scan-pw-2", "x", 1, 1, {"-i", "ticket-bridge-main"})));
  ASSERT_TRUE(bridge_->start()) << bridge_->log();
  EXPECT_FALSE(answer(*gate_, "queued:1").is_null()) << "a queued scan was lost";
  EXPECT_FALSE(answer(*gate_, "queued:2").is_null()) << "a queued scan was lost";
}

// A broker restart restores the bridge's persistent session from disk; the plugin still knows
// whose it is, so the scans published meanwhile are queued for it, not dropped.
TEST_F(AttackedGate, TheBridgesQueuedScansSurviveABrokerRestart) {
  ASSERT_EQ(bridge_->stop(), 0);
  gate_.reset();
  stop_broker();
  start_broker();
  gate_ = scanner("gate-1");
  ASSERT_EQ(gate_->subscribe("tickets/result/gate-1"), 1);
  EXPECT_EQ(gate_->publish("tickets/scan", scan_payload("restart:1", "T99")), 0);
  ASSERT_TRUE(bridge_->start()) << bridge_->log();
  EXPECT_FALSE(answer(*gate_, "restart:1").is_null())
      << "the scan queued for the bridge after the broker restart was lost";
}

TEST_F(AttackedGate, NobodyElseCanLogInWithAScannersClientId) {
  for (const auto& [user, password] : std::vector<std::pair<std::string, std::string>>{
           {"42", token("42")}, {"gate-2", "scan-pw-2"}, {"bridge", "bridge-pw"}}) {
    const auto r = sub(user, password, "tickets/result/gate-1", 1, 1, {"-i", "scanner-gate-1"});
    EXPECT_TRUE(refused(r)) << user << ": " << r.out << r.err;
  }
  // gate-1 is still connected and answered.
  gate_still_works("id:scanner");
  EXPECT_TRUE(gate_->connected());
}

// The patterns, role by role: `ticket-bridge-<instance>`, `scanner-<user>`, `app-<uid>-<n>` with
// n from 0 to 7.
TEST_F(SecureBroker, ClientIdsFollowEachRolesPattern) {
  // Accepted means CONNACK 0 (not merely "not refused": a broker that is down refuses nothing).
  const auto ok = [&](const std::string& user, const std::string& password, const std::string& id) {
    const auto r = sub(user, password, "none/x", 1, 1, {"-i", id, "-d"});
    const bool accepted = r.out.find("received CONNACK (0)") != std::string::npos;
    EXPECT_TRUE(accepted || refused(r)) << id << ": " << r.out << r.err;
    return accepted;
  };
  const auto customer = token("42");
  EXPECT_TRUE(ok("42", customer, "app-42-0"));
  EXPECT_TRUE(ok("42", customer, "app-42-7"));
  EXPECT_FALSE(ok("42", customer, "app-42-8"));
  EXPECT_FALSE(ok("42", customer, "app-42-07"));
  EXPECT_FALSE(ok("42", customer, "app-42-"));
  EXPECT_FALSE(ok("42", customer, "app-43-0"));
  EXPECT_FALSE(ok("42", customer, "app-4-2-0"));
  EXPECT_FALSE(ok("42", customer, "42"));
  EXPECT_FALSE(ok("42", customer, "scanner-42"));
  EXPECT_FALSE(ok("42", customer, "ticket-bridge-42"));
  EXPECT_TRUE(ok("gate-1", "scan-pw", "scanner-gate-1"));
  EXPECT_FALSE(ok("gate-1", "scan-pw", "gate-1"));
  EXPECT_FALSE(ok("gate-1", "scan-pw", "scanner-gate-2"));
  EXPECT_FALSE(ok("gate-1", "scan-pw", "app-gate-1-0"));
  EXPECT_TRUE(ok("bridge", "bridge-pw", "ticket-bridge-main"));
  EXPECT_TRUE(ok("bridge", "bridge-pw", "ticket-bridge-b2"));
  EXPECT_FALSE(ok("bridge", "bridge-pw", "bridge"));
  EXPECT_FALSE(ok("bridge", "bridge-pw", "ticket-bridge-"));
  EXPECT_FALSE(ok("bridge", "bridge-pw", "scanner-gate-1"));
  // A uid that looks like another role's id still gets only the app pattern.
  EXPECT_TRUE(ok("scanner-x", token("scanner-x"), "app-scanner-x-0"));
  EXPECT_FALSE(ok("scanner-x", token("scanner-x"), "scanner-x"));
}

TEST_F(SecureBroker, TheNumberOfAppSessionsPerTicketHolderIsAnOption) {
  stop_broker();
  start_broker("plugin_opt_max_app_sessions 2");
  const auto customer = token("42");
  EXPECT_FALSE(refused(sub("42", customer, "none/x", 1, 1, {"-i", "app-42-1"})));
  EXPECT_TRUE(refused(sub("42", customer, "none/x", 1, 1, {"-i", "app-42-2"})));
}

// On a listener that authenticates by client certificate Mosquitto skips the password check, so
// the shipped config makes the client id the certificate's name: a certificate cannot take over
// anyone else's session either.
TEST_F(AttackedGate, ACertificateClientGetsItsOwnNameAsClientId) {
  const auto r = tbtest::run({"mosquitto_pub", "-V", "5", "-p", std::to_string(cert_), "--cafile",
                              etc_ + "/ca.crt", "--cert", etc_ + "/client.crt", "--key",
                              etc_ + "/client.key", "-i", "ticket-bridge-main", "-q", "1", "-t",
                              "tickets/scan", "-m", scan_payload("cert:1", "T99", "client")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  gate_still_works("cert:after");
}

}  // namespace
