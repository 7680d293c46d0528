// Embedded scanners against the development broker: the scanner table and its CLI, the gate it
// binds, the repeat window, and the text line's options (length, ASCII, venue time zone).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "brokers.hpp"
#include "secure_broker.hpp"
#include "timeutil.hpp"

namespace {

using nlohmann::json;
using tbtest::Bridge;
using tbtest::Mosquitto;
using tbtest::TempDir;
using tbtest::TestClient;

class DeviceScans : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<Mosquitto>(dir_);
    bridge_ = std::make_unique<Bridge>(dir_, broker_->url());
  }

  void start(std::vector<std::string> extra = {}) {
    bridge_->set_extra_args(std::move(extra));
    ASSERT_TRUE(bridge_->start()) << bridge_->log();
    client_ = std::make_unique<TestClient>(broker_->url(), "test-client");
    ASSERT_EQ(client_->subscribe("tickets/result/#"), 1);
  }

  void cli_ok(std::vector<std::string> args) {
    const auto r = bridge_->cli(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  json result(const std::string& scanner) {
    auto m = client_->next("tickets/result/" + scanner);
    return m ? json::parse(m->payload, nullptr, false) : json();
  }
  std::string text(const std::string& scanner) {
    auto m = client_->next("tickets/result/" + scanner + "/text");
    return m ? m->payload : "(none)";
  }
  std::string light(const std::string& scanner) {
    auto m = client_->next("tickets/result/" + scanner + "/light");
    return m ? m->payload : "(none)";
  }

  json show(const std::string& code) {
    const auto r = bridge_->cli({"tickets", "show", code});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out, nullptr, false);
  }

  TempDir dir_;
  std::unique_ptr<Mosquitto> broker_;
  std::unique_ptr<Bridge> bridge_;
  std::unique_ptr<TestClient> client_;
};

TEST_F(DeviceScans, TheScannersCommandsSetListAndRemove) {
  const auto set = bridge_->cli({"scanners", "set", "gate-n-1", "--gate", "north"});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_EQ(json::parse(set.out)["direction"], "in") << set.out;
  cli_ok({"scanners", "set", "gate-x", "--gate", "north side", "--direction", "out"});
  cli_ok({"scanners", "set", "gate-n-1", "--gate", "west"});  // changes it
  const auto list = bridge_->cli({"scanners", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  const auto all = json::parse(list.out);
  ASSERT_EQ(all.size(), 2u) << list.out;
  EXPECT_EQ(all[0]["id"], "gate-n-1");
  EXPECT_EQ(all[0]["gate"], "west");
  EXPECT_EQ(all[1]["id"], "gate-x");
  EXPECT_EQ(all[1]["gate"], "north side");
  EXPECT_EQ(all[1]["direction"], "out");
  cli_ok({"scanners", "remove", "gate-x"});
  EXPECT_EQ(json::parse(bridge_->cli({"scanners", "list"}).out).size(), 1u);

  // Clear errors for bad input, with the usage exit code.
  for (const auto& bad : std::vector<std::vector<std::string>>{
           {"scanners", "set", "gate-n-1", "--gate", "north", "--direction", "sideways"},
           {"scanners", "set", "a/b", "--gate", "north"},
           {"scanners", "set", "gate-n-1", "--gate", ""},
           {"scanners", "set", "gate-n-1"}}) {
    const auto r = bridge_->cli(bad);
    EXPECT_EQ(r.exit_code, 2) << bad[2] << ": " << r.out << r.err;
    EXPECT_FALSE(r.err.empty());
  }
  const auto missing = bridge_->cli({"scanners", "remove", "gate-x"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("gate-x"), std::string::npos) << missing.err;
}

// For a scanner in the table, a JSON scan that names another gate is decided at the configured
// gate; the mismatch is audited and counted.
TEST_F(DeviceScans, AJsonScanIsDecidedAtTheTablesGateAndTheMismatchAudited) {
  cli_ok({"tickets", "add", "--uid", "1", "--code", "NORTHONLY", "--gates", "north"});
  cli_ok({"scanners", "set", "gate-n-1", "--gate", "north"});
  start();
  client_->publish("tickets/scan",
                   R"({"scan_id":"j:1","code":"NORTHONLY","scanner":"gate-n-1","gate":"south"})");
  const auto r = result("gate-n-1");
  EXPECT_EQ(r["status"], "admitted") << r;
  const auto t = show("NORTHONLY");
  ASSERT_EQ(t["last_scans"].size(), 1u) << t;
  EXPECT_EQ(t["last_scans"][0]["gate"], "north");
  EXPECT_EQ(t["last_scans"][0]["claimed_gate"], "south");
  EXPECT_EQ(tbtest::SecureBroker::metric(*bridge_, "ticket_bridge_scan_gate_mismatches_total"), 1);
  // The JSON topic keeps SPEC v1's rules: no text or light, and no repeat window.
  EXPECT_FALSE(
      client_->next("tickets/result/gate-n-1/text", std::chrono::milliseconds(300)).has_value());
}

TEST_F(DeviceScans, ARawScanFromAScannerMissingFromTheTableHasNoGate) {
  cli_ok({"tickets", "add", "--uid", "1", "--code", "NORTHONLY", "--gates", "north"});
  cli_ok({"tickets", "add", "--uid", "1", "--code", "ANYGATE"});
  start();
  client_->publish("tickets/scan/gate-x", "NORTHONLY");
  EXPECT_EQ(result("gate-x")["reason"], "wrong_gate");
  EXPECT_EQ(text("gate-x"), "REJECT wrong gate");
  EXPECT_EQ(light("gate-x"), "red");
  client_->publish("tickets/scan/gate-x", "ANYGATE");
  EXPECT_EQ(result("gate-x")["status"], "admitted");
  EXPECT_EQ(text("gate-x"), "ADMIT");
  EXPECT_EQ(light("gate-x"), "green");
}

// After the window a repeat is decided again; the text says when and where the ticket was used,
// in the venue's time zone.
TEST_F(DeviceScans, AfterTheWindowTheRepeatIsDecidedAgainWithTheVenuesTime) {
  cli_ok({"tickets", "add", "--uid", "1", "--code", "ONCE"});
  cli_ok({"scanners", "set", "gate-n-1", "--gate", "north"});
  start({"--scan-repeat-window", "1", "--venue-time-zone", "Asia/Kolkata"});
  client_->publish("tickets/scan/gate-n-1", "ONCE");
  ASSERT_EQ(result("gate-n-1")["status"], "admitted");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  client_->drain();
  client_->publish("tickets/scan/gate-n-1", "ONCE");
  const auto r = result("gate-n-1");
  ASSERT_EQ(r["reason"], "already_used") << r;
  // India is UTC+05:30 all year; the date is shown when the entry was on another local day.
  const auto local = [](const json& rfc3339) {
    const auto t = tb::parse_rfc3339(rfc3339.get<std::string>());
    EXPECT_TRUE(t.has_value());
    const auto secs = static_cast<std::time_t>(t.value_or(0) / 1000 + 5 * 3600 + 30 * 60);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    return tm;
  };
  const std::tm at = local(r["previous"]["at"]);
  const std::tm now = local(r["decided_at"]);
  char when[16];
  std::strftime(when, sizeof when, at.tm_yday == now.tm_yday ? "%H:%M" : "%m-%d %H:%M", &at);
  EXPECT_EQ(text("gate-n-1"), std::string("REJECT already used north ") + when);
  EXPECT_EQ(light("gate-n-1"), "red");
}

// The table's direction is a raw scan's; a scan in another direction is no repeat, and a JSON
// scan without scan_id on the device topic has the window too.
TEST_F(DeviceScans, TheTablesDirectionCountsAndKeepsScansApartInTheWindow) {
  cli_ok({"tickets", "add", "--uid", "1", "--code", "TWO", "--reentry"});
  cli_ok({"scanners", "set", "gate-in", "--gate", "north"});
  cli_ok({"scanners", "set", "gate-out", "--gate", "north", "--direction", "out"});
  start();
  client_->publish("tickets/scan/gate-in", "TWO");
  EXPECT_EQ(result("gate-in")["status"], "admitted");
  client_->publish("tickets/scan/gate-out", "TWO");
  EXPECT_EQ(result("gate-out")["status"], "exited");
  EXPECT_EQ(text("gate-out"), "EXIT");
  // gate-in, within the window: in again would be a repeat; out is not.
  client_->publish("tickets/scan/gate-in", R"({"code":"TWO","direction":"out"})");
  EXPECT_EQ(result("gate-in")["reason"], "not_inside");
  client_->publish("tickets/scan/gate-in", R"({"code":"TWO","direction":"out"})");
  EXPECT_EQ(result("gate-in")["reason"], "not_inside");
  const auto t = show("TWO");
  ASSERT_EQ(t["last_scans"].size(), 3u) << t;
  EXPECT_EQ(t["last_scans"][0]["direction"], "out");
  EXPECT_EQ(t["last_scans"][1]["direction"], "out");
  EXPECT_EQ(t["last_scans"][1]["scanner"], "gate-out");
  EXPECT_EQ(t["last_scans"][2]["direction"], "in");
  EXPECT_EQ(tbtest::SecureBroker::metric(*bridge_, "ticket_bridge_scans_repeated_total"), 1);
}

TEST_F(DeviceScans, TheTextCanBeAsciiOnlyAndIsCutAtItsLimit) {
  cli_ok({"tickets", "add", "--uid", "1", "--code", "ZOE", "--holder",
          "Zo\u00eb \u00dcnal-\u00d8ster Stra\u00dfe Long Name", "--max-entries", "0"});
  start({"--result-text-ascii", "true", "--result-text-max", "24"});
  client_->publish("tickets/scan/gate-a", "ZOE");
  EXPECT_EQ(text("gate-a"), "ADMIT Zoe Unal-Oster Str");
}

TEST_F(DeviceScans, TheTextIsUtf8ByDefault) {
  cli_ok({"tickets", "add", "--uid", "1", "--code", "ZOE", "--holder", "Zo\u00eb \u00dcnal"});
  start();
  client_->publish("tickets/scan/gate-a", "ZOE");
  EXPECT_EQ(text("gate-a"), "ADMIT Zo\u00eb \u00dcnal");
}

// A JSON object on the device topic is the tickets/scan object, with the scanner taken from the
// topic whatever the payload says; its Response Topic gets the JSON result, the device topics
// the text and the light.
TEST_F(DeviceScans, AJsonObjectOnTheDeviceTopicTakesTheScannerFromTheTopic) {
  cli_ok({"tickets", "add", "--uid", "1", "--code", "X1", "--max-entries", "0"});
  start();
  client_->publish("tickets/scan/gate-d", R"({"scan_id":"d:1","code":"X1","scanner":"gate-o"})");
  const auto r = result("gate-d");
  EXPECT_EQ(r["scan_id"], "d:1") << r;
  EXPECT_EQ(r["status"], "admitted");
  EXPECT_EQ(light("gate-d"), "green");
  client_->drain("tickets/result/gate-d/text");
  client_->publish("tickets/scan/gate-d", R"({"scan_id":"d:2","code":"X1"})", 1,
                   std::string("tickets/result/gate-d/reply"), std::string("c-1"));
  auto reply = client_->next("tickets/result/gate-d/reply");
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(json::parse(reply->payload)["scan_id"], "d:2");
  EXPECT_EQ(reply->correlation, "c-1");
  EXPECT_EQ(text("gate-d"), "ADMIT");
  EXPECT_TRUE(client_->drain("tickets/result/gate-o").empty());
  EXPECT_EQ(show("X1")["entries"], 2);
}

}  // namespace

namespace {

// Bad values of the new options (these and the writer's group commit) are refused at the start,
// with the usage exit code.
TEST(DeviceScanOptions, BadValuesAreRefusedAtTheStart) {
  TempDir dir;
  for (const auto& bad : std::vector<std::vector<std::string>>{
           {"--venue-time-zone", "Mars/Olympus"},
           {"--venue-time-zone", "zone.tab"},  // a file of the zone database, but no zone
           {"--venue-time-zone", "../../etc/passwd"},
           {"--scan-repeat-window", "2h"},
           {"--scan-repeat-window", "soon"},
           {"--result-text-max", "8"},
           {"--result-text-ascii", "yes"},
           {"--group-commit-us", "20001"},
           {"--group-commit-us", "-1"},
           {"--group-commit-us", "1ms"}}) {
    std::vector<std::string> argv = {
        tbtest::bridge_bin(), "serve",       "--db",   dir.file("x.db"),
        "--listen",           "127.0.0.1:0", "--mqtt", "mqtt://127.0.0.1:1"};
    argv.insert(argv.end(), bad.begin(), bad.end());
    const auto r = tbtest::run(argv);
    EXPECT_EQ(r.exit_code, 2) << bad[0] << " " << bad[1] << ": " << r.err;
    EXPECT_NE(r.err.find(bad[0]), std::string::npos) << r.err;
  }
}

}  // namespace
