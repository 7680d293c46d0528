// TLS to the broker: the bridge connects over `ssl://`/`mqtts://` with a CA file and checks the
// broker's host name by default, as the scanner agent does; a wrong CA or a wrong host name is
// refused with a clear error.
#include <gtest/gtest.h>

#include "secure_broker.hpp"

namespace {

using tbtest::SecureBroker;

class BrokerTls : public SecureBroker {
 protected:
  std::string tls_url(const std::string& scheme, const std::string& host) const {
    return scheme + "://" + host + ":" + std::to_string(tls_);
  }
  std::unique_ptr<tbtest::Bridge> tls_bridge(const std::string& url,
                                             std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--mqtt-username", "bridge", "--mqtt-password-file",
                                     dir_.file("bridge-pw")};
    args.insert(args.end(), extra.begin(), extra.end());
    auto b = std::make_unique<tbtest::Bridge>(dir_, url, args);
    tbtest::write_file(dir_.file("jwt-secret"), std::string(kSecret) + "\n");
    return b;
  }
};

TEST_F(BrokerTls, TheBridgeConnectsOverTlsAndAnswersTheGate) {
  for (const std::string scheme : {"ssl", "mqtts"}) {
    auto bridge = tls_bridge(tls_url(scheme, "localhost"), {"--mqtt-cafile", etc_ + "/ca.crt"});
    ASSERT_EQ(bridge->cli({"tickets", "add", "--uid", "42", "--code", "TLS-" + scheme}).exit_code,
              0);
    ASSERT_TRUE(bridge->start()) << scheme << ": " << bridge->log();
    auto gate = scanner("gate-1");
    ASSERT_EQ(gate->subscribe("tickets/result/gate-1"), 1);
    gate->publish("tickets/scan", scan_payload("tls:" + scheme, "TLS-" + scheme));
    EXPECT_EQ(answer(*gate, "tls:" + scheme)["status"], "admitted") << bridge->log();
    EXPECT_EQ(bridge->stop(), 0);
  }
}

TEST_F(BrokerTls, TheBridgeRefusesAWrongHostNameOrAWrongCa) {
  ASSERT_EQ(tbtest::run({"bash", tbtest::source_dir() + "/broker-conf/gen-dev-certs.sh",
                         dir_.file("other")})
                .exit_code,
            0);
  // The broker's certificate names localhost, 127.0.0.1 and ::1, but not 127.0.0.2.
  // The bridge says which check failed.
  struct Case {
    std::string url, cafile, expect;
  };
  for (const auto& c : std::vector<Case>{
           {tls_url("ssl", "127.0.0.2"), etc_ + "/ca.crt",
            "the broker's certificate does not name 127.0.0.2"},
           {tls_url("ssl", "localhost"), dir_.file("other/ca.crt"),
            "the broker's certificate does not verify against the CA file"},
       }) {
    auto bridge = tls_bridge(c.url, {"--mqtt-cafile", c.cafile});
    EXPECT_FALSE(bridge->start(std::chrono::seconds(20))) << c.url;
    EXPECT_EQ(bridge->stop(), 1) << bridge->log();
    const auto log = bridge->log();
    EXPECT_NE(log.find("cannot connect to the broker at " + c.url), std::string::npos) << log;
    EXPECT_NE(log.find(c.expect), std::string::npos) << log;
  }
  // The check can be turned off explicitly (a broker reached by an address its certificate does
  // not name), never by accident.
  auto lax = tls_bridge(tls_url("ssl", "127.0.0.2"),
                        {"--mqtt-cafile", etc_ + "/ca.crt", "--mqtt-tls-check-hostname", "false"});
  EXPECT_TRUE(lax->start()) << lax->log();
}

TEST_F(BrokerTls, TheAgentChecksTheBrokersHostName) {
  tbtest::write_file(dir_.file("scan-pw"), "scan-pw\n");
  auto bridge_side = listener("bridge", "bridge-pw", "tickets/scan", 1, 12, "bridge-side.log");
  const auto r = tbtest::run(
      {tbtest::agent_bin(), "--broker", tls_url("ssl", "127.0.0.2"), "--cafile", etc_ + "/ca.crt",
       "--username", "gate-1", "--password-file", dir_.file("scan-pw"), "--id", "gate-1", "--gate",
       "north", "--timeout", "0.5", "--journal", dir_.file("agent.journal")},
      {}, "WRONGHOST1\n");
  bridge_side.wait_exit(std::chrono::seconds(14));
  EXPECT_EQ(bridge_side.log().find("WRONGHOST1"), std::string::npos)
      << "the agent published to a broker whose certificate names another host";
  EXPECT_NE(r.err.find("host name"), std::string::npos) << r.err;
}

}  // namespace
