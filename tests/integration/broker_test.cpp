// broker-conf/mosquitto.conf, the production configuration, run for real (tests/support's
// SecureBroker) with the tb_auth plugin: anonymous clients, scanners, the bridge and customers'
// apps can each do exactly their job, over plain TCP and TLS. tests/security/ plays the attacker.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "jwt.hpp"
#include "secure_broker.hpp"

namespace {

using nlohmann::json;

using tbtest::SecureBroker;

TEST_F(SecureBroker, AnonymousAndWrongPasswordsAreRefused) {
  const auto anon = sub("", "", "tickets/scan");
  EXPECT_NE(anon.exit_code, 0);
  EXPECT_NE(anon.err.find("ot authori"), std::string::npos) << anon.err;
  const auto wrong = sub("gate-1", "wrong", "tickets/result/gate-1");
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_NE(wrong.err.find("ot authori"), std::string::npos) << wrong.err;
}

TEST_F(SecureBroker, AScannerCanOnlyDoItsJob) {
  // It may publish a scan (the bridge role receives it) ...
  auto bridge_sub = listener("bridge", "bridge-pw", "tickets/scan", 1, 5, "bridge-sub.log");
  EXPECT_EQ(
      pub("gate-1", "scan-pw", "tickets/scan", R"({"code":"A","scanner":"gate-1"})").exit_code, 0);
  ASSERT_TRUE(bridge_sub.wait_exit(std::chrono::seconds(6)));
  EXPECT_NE(bridge_sub.log().find(R"("code":"A")"), std::string::npos);

  // ... but not read users' events, nor fake them, nor read other scanners' answers.
  for (const std::string topic : {"users/#", "users/42/events", "tickets/scan", "tickets/result/#",
                                  "tickets/result/gate-2", "#"}) {
    const auto r = sub("gate-1", "scan-pw", topic, 1, 2);
    EXPECT_NE((r.out + r.err).find("denied"), std::string::npos) << topic << ": " << r.out << r.err;
  }
  auto victim = listener("42", token("42"), "users/42/events", 1, 3, "victim.log");
  pub("gate-1", "scan-pw", "users/42/events", R"({"type":"ticket.admitted","seq":999})");
  pub("gate-1", "scan-pw", "tickets/result/gate-2", R"({"status":"admitted"})");
  ASSERT_TRUE(victim.wait_exit(std::chrono::seconds(5)));
  EXPECT_EQ(victim.log().find(R"("seq":999)"), std::string::npos)
      << "a scanner faked an owner event";
}

TEST_F(SecureBroker, CustomersLogInWithTheirTokenAndReadOnlyTheirEvents) {
  // The whole pipeline on the locked-down broker: bridge with its password, scanner, customer.
  auto bridge_ptr = make_bridge();
  auto& bridge = *bridge_ptr;
  ASSERT_EQ(bridge.cli({"tickets", "add", "--uid", "42", "--code", "SEC1"}).exit_code, 0);
  ASSERT_TRUE(bridge.start()) << bridge.log();

  auto mine = listener("42", token("42"), "users/42/events", 1, 10, "mine.log");
  auto theirs = listener("43", token("43"), "users/43/events", 1, 3, "theirs.log");
  EXPECT_EQ(pub("gate-1", "scan-pw", "tickets/scan",
                R"({"scan_id":"sec:1","code":"SEC1","scanner":"gate-1","gate":"north"})")
                .exit_code,
            0);
  ASSERT_TRUE(mine.wait_exit(std::chrono::seconds(12)));
  EXPECT_NE(mine.log().find(R"("type":"ticket.admitted")"), std::string::npos)
      << mine.log() << bridge.log();
  ASSERT_TRUE(theirs.wait_exit(std::chrono::seconds(5)));
  EXPECT_EQ(theirs.log().find("ticket."), std::string::npos);

  // A customer cannot widen its subscription or publish anything.
  for (const std::string topic : {"users/#", "users/+/events", "users/43/events", "tickets/scan"}) {
    const auto r = sub("42", token("42"), topic, 1, 2);
    EXPECT_NE((r.out + r.err).find("denied"), std::string::npos) << topic << ": " << r.out << r.err;
  }
}

TEST_F(SecureBroker, BadTokensAreRefusedAtConnect) {
  const std::string hs256 = R"({"alg":"HS256","typ":"JWT"})";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"expired", token("42", -5)},
      {"forged (wrong secret)", token("42", 3600, "not-the-secret-0123456789")},
      {"another uid's", token("43")},
      {"no exp", tb::sign_jwt(hs256, R"({"sub":"42"})", kSecret)},
      {"garbage", "not.a.token"},
      {"huge", std::string(60000, 'A')},
  };
  for (const auto& [name, password] : cases) {
    const auto r = sub("42", password, "users/42/events", 1, 2);
    EXPECT_NE(r.exit_code, 0) << name;
    EXPECT_NE(r.err.find("ot authori"), std::string::npos) << name << ": " << r.err;
  }
  EXPECT_TRUE(broker_.running()) << "hostile tokens crashed the broker";
}

TEST_F(SecureBroker, ATokenThatExpiresWhileConnectedStopsDelivery) {
  auto app = listener("42", token("42", 2), "users/42/events", 0, 8, "app.log");
  pub("bridge", "bridge-pw", "users/42/events", "before-expiry");
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  pub("bridge", "bridge-pw", "users/42/events", "after-expiry");
  app.wait_exit(std::chrono::seconds(10));
  EXPECT_NE(app.log().find("before-expiry"), std::string::npos) << app.log();
  EXPECT_EQ(app.log().find("after-expiry"), std::string::npos) << app.log();
}

TEST_F(SecureBroker, TlsWorksWithTheDevCaAndFailsWithout) {
  const auto with_ca =
      tbtest::run({"mosquitto_pub", "-V", "5", "-p", std::to_string(tls_), "--cafile",
                   etc_ + "/ca.crt", "-u", "gate-1", "-P", "scan-pw", "-i", "scanner-gate-1", "-q",
                   "1", "-t", "tickets/scan", "-m", "tls"});
  EXPECT_EQ(with_ca.exit_code, 0) << with_ca.err;
  // Another CA: the server's certificate does not verify.
  ASSERT_EQ(tbtest::run({"bash", tbtest::source_dir() + "/broker-conf/gen-dev-certs.sh",
                         dir_.file("other")})
                .exit_code,
            0);
  const auto other_ca = tbtest::run({"mosquitto_pub", "-V", "5", "-p", std::to_string(tls_),
                                     "--cafile", dir_.file("other/ca.crt"), "-u", "gate-1", "-P",
                                     "scan-pw", "-i", "scanner-gate-1", "-t", "x", "-m", "x"});
  EXPECT_NE(other_ca.exit_code, 0);
  EXPECT_NE(other_ca.err.find("TLS error"), std::string::npos) << other_ca.err;
  // No TLS at all on the TLS port.
  const auto plain =
      tbtest::run({"mosquitto_pub", "-V", "5", "-p", std::to_string(tls_), "-u", "gate-1", "-P",
                   "scan-pw", "-i", "scanner-gate-1", "-t", "x", "-m", "x"});
  EXPECT_NE(plain.exit_code, 0);
}

TEST_F(SecureBroker, TheScannerAgentWorksOverTlsWithItsPassword) {
  tbtest::write_file(dir_.file("scan-pw"), "scan-pw\n");
  auto bridge_sub = listener("bridge", "bridge-pw", "tickets/scan", 1, 10, "bridge-sub.log");
  const auto r = tbtest::run(
      {tbtest::agent_bin(), "--broker", "ssl://127.0.0.1:" + std::to_string(tls_), "--cafile",
       etc_ + "/ca.crt", "--username", "gate-1", "--password-file", dir_.file("scan-pw"), "--id",
       "gate-1", "--gate", "north", "--timeout", "0.5", "--journal", dir_.file("agent.journal")},
      {}, "TLS1\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(bridge_sub.wait_exit(std::chrono::seconds(12)));
  EXPECT_NE(bridge_sub.log().find(R"("code":"TLS1")"), std::string::npos)
      << bridge_sub.log() << r.err;
}

// `ticket-bridge init` sets up the broker's side for the production config: the bridge logs in
// with the password init made (its passwd entry replaced, the scanners' kept), and customers'
// tokens signed with init's secret are taken by the plugin, which reads init's copy of it.
TEST_F(SecureBroker, InitSetsUpTheBrokerSideThatTheBridgeAndTheAppsLogInWith) {
  const std::string dir = dir_.file("init");
  const std::string bin = tbtest::bridge_bin();
  const auto init = tbtest::run(
      {bin, "init", "--dir", dir, "--broker-dir", etc_, "--force", "--mqtt", plain_url()});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_NE(init.out.find("other entries kept"), std::string::npos) << init.out;
  stop_broker();
  start_broker();  // reads the new password file and secret
  const std::string config = dir + "/config.toml";

  const auto check = tbtest::run({bin, "check-config", "--config", config});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_NE(check.out.find("connected as bridge"), std::string::npos) << check.out;

  // The bridge, from init's config alone (its port aside).
  const auto http_port = tbtest::free_port();
  tbtest::Child bridge(
      {bin, "serve", "--config", config, "--listen", "127.0.0.1:" + std::to_string(http_port)},
      dir_.file("bridge.log"));
  ASSERT_TRUE(tbtest::wait_until(
      [&] { return tbtest::http_request(http_port, "GET", "/readyz").status == 200; },
      std::chrono::seconds(15)))
      << bridge.log();
  const auto add = tbtest::run({bin, "tickets", "add", "--uid", "42", "--code", "INIT1"},
                               {{"TICKET_BRIDGE_CONFIG", config}});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  const auto token = tbtest::run({bin, "token", "--uid", "42"}, {{"TICKET_BRIDGE_CONFIG", config}});
  ASSERT_EQ(token.exit_code, 0) << token.err;
  std::string jwt = token.out;
  while (!jwt.empty() && jwt.back() == '\n') jwt.pop_back();

  auto app = client("42", jwt, app_client_id("42"));
  ASSERT_TRUE(app->connected());
  ASSERT_EQ(app->subscribe("users/42/events"), 1);
  auto gate = scanner("gate-1");  // its entry survived init
  ASSERT_TRUE(gate->connected());
  ASSERT_EQ(gate->subscribe("tickets/result/gate-1"), 1);
  ASSERT_EQ(gate->publish("tickets/scan", scan_payload("init:1", "INIT1")), 0);
  const auto result = answer(*gate, "init:1");
  ASSERT_FALSE(result.is_null()) << bridge.log();
  EXPECT_EQ(result.value("status", ""), "admitted") << result.dump();
  const auto event = app->next("users/42/events");
  ASSERT_TRUE(event.has_value());
  EXPECT_NE(event->payload.find("INIT1"), std::string::npos) << event->payload;
  bridge.stop();

  // A wrong password is named by check-config.
  tbtest::write_file(dir + "/mqtt-password", "not-the-password\n");
  const auto wrong = tbtest::run({bin, "check-config", "--config", config});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("cannot connect to the broker at " + plain_url()), std::string::npos)
      << wrong.err;
}

}  // namespace
