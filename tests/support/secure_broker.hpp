// broker-conf/mosquitto.conf, the PRODUCTION configuration, run for real with the tb_auth plugin
// (paths and ports moved into a temp dir), with a password file holding the bridge and two
// scanners, and helpers that play each party: mosquitto_sub/pub and Paho clients logged in as a
// scanner, the bridge or a customer's app, and a real bridge logged in as `bridge`.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "brokers.hpp"

namespace tbtest {

class SecureBroker : public ::testing::Test {
 protected:
  static constexpr const char* kSecret = "broker-test-secret-0123456789abcdef";

  void SetUp() override;
  void TearDown() override;

  // Writes the config and starts mosquitto; SetUp calls it. `extra` is appended to the config.
  void start_broker(const std::string& extra = {});
  void stop_broker();

  // A customer's JWT signed with the broker's secret (or another one).
  std::string token(const std::string& uid, std::int64_t ttl = 3600,
                    const std::string& secret = kSecret);

  // The client id each role must use (SPEC.md v1.1): `ticket-bridge-<instance>`, `scanner-<id>`,
  // `app-<uid>-<n>`. Helper clients of the bridge role get their own instance names.
  std::string bridge_client_id();
  static std::string scanner_client_id(const std::string& scanner) { return "scanner-" + scanner; }
  std::string app_client_id(const std::string& uid);

  // mosquitto_sub on the plain listener; waits for `count` messages or `secs`.
  RunResult sub(const std::string& user, const std::string& password, const std::string& topic,
                int count = 1, int secs = 3, std::vector<std::string> extra = {});
  // A mosquitto_sub in the background (`count` messages, or until `secs` pass; `count` 0: no
  // limit). It runs with -d and line-buffered output so that we can wait for its SUBACK instead
  // of sleeping: a message published before the subscription exists would make a "not
  // delivered" check pass for nothing. `extra` goes on its command line (-i, -c, ...).
  Child listener(const std::string& user, const std::string& password, const std::string& topic,
                 int count, int secs, const std::string& log, std::vector<std::string> extra = {});
  RunResult pub(const std::string& user, const std::string& password, const std::string& topic,
                const std::string& payload, std::vector<std::string> extra = {});

  // A Paho client logged in on the plain listener.
  std::unique_ptr<TestClient> client(const std::string& user, const std::string& password,
                                     const std::string& client_id, bool clean = true);
  std::unique_ptr<TestClient> scanner(const std::string& id = "gate-1");

  // A real ticket-bridge logged in as `bridge` on the plain listener, sharing the broker's JWT
  // secret. Not started.
  std::unique_ptr<Bridge> make_bridge(std::vector<std::string> extra = {});

  // A mosquitto_sub/pub command line on the plain listener: `argv` (the program), the log-in, the
  // client id of the user's role unless `args` names one (-i), then `args`.
  std::vector<std::string> command(std::vector<std::string> argv, const std::string& user,
                                   const std::string& password,
                                   const std::vector<std::string>& args);

 public:
  // A mosquitto_sub/pub run whose login the broker refused (CONNACK "not authorised").
  static bool refused(const RunResult& r) {
    return r.exit_code != 0 && r.err.find("ot authori") != std::string::npos;
  }
  // A scan on `tickets/scan` as the agent publishes it.
  static std::string scan_payload(const std::string& scan_id, const std::string& code,
                                  const std::string& scanner = "gate-1");
  // The answer (parsed JSON) with this scan_id arriving at `client` on `topic` within `timeout`;
  // null when none came. Other messages on the topic are skipped.
  static nlohmann::json answer(TestClient& client, const std::string& scan_id,
                               const std::string& topic = "tickets/result/gate-1",
                               std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // A metric's value from the bridge's /metrics (-1 when absent).
  static double metric(const Bridge& bridge, const std::string& name);

 protected:
  std::string plain_url() const { return "mqtt://127.0.0.1:" + std::to_string(plain_); }

  TempDir dir_;
  std::string etc_;
  std::uint16_t plain_ = 0, tls_ = 0, ws_ = 0, cert_ = 0;
  Child broker_;
  int next_id_ = 0;
};

}  // namespace tbtest
