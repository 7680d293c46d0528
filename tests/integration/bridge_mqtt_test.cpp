// The bridge as a real process between a real mosquitto and real MQTT clients.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "brokers.hpp"
#include "sqlite.hpp"
#include "timeutil.hpp"

namespace {

using nlohmann::json;
using tbtest::Bridge;
using tbtest::Mosquitto;
using tbtest::TempDir;
using tbtest::TestClient;

class BridgeMqtt : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<Mosquitto>(dir_);
    bridge_ = std::make_unique<Bridge>(dir_, broker_->url());
    add_ticket({"--uid", "42", "--code", "TB7QK2M9XW4R", "--holder", "A. Example"});
    ASSERT_TRUE(bridge_->start()) << bridge_->log();
    client_ = std::make_unique<TestClient>(broker_->url(), "test-client");
    client_->subscribe("tickets/result/#");
    client_->subscribe("users/+/events");
  }

  void add_ticket(std::vector<std::string> args) {
    args.insert(args.begin(), {"tickets", "add"});
    const auto r = bridge_->cli(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  json scan(const std::string& scan_id, const std::string& code,
            const std::string& scanner = "gate-n-1", const std::string& gate = "north") {
    return {{"scan_id", scan_id},
            {"code", code},
            {"scanner", scanner},
            {"gate", gate},
            {"direction", "in"}};
  }

  json result(const std::string& scanner = "gate-n-1") {
    auto m = client_->next("tickets/result/" + scanner);
    if (!m) return nullptr;
    return json::parse(m->payload);
  }

  json event(const std::string& uid) {
    auto m = client_->next("users/" + uid + "/events");
    if (!m) return nullptr;
    return json::parse(m->payload);
  }

  TempDir dir_;
  std::unique_ptr<Mosquitto> broker_;
  std::unique_ptr<Bridge> bridge_;
  std::unique_ptr<TestClient> client_;
};

TEST_F(BridgeMqtt, ScanIsAdmittedAnsweredAndTheOwnerTold) {
  client_->publish("tickets/scan", scan("gate-n-1:000123", "TB7QK2M9XW4R").dump());
  const json r = result();
  ASSERT_FALSE(r.is_null()) << "no answer";
  EXPECT_EQ(r["scan_id"], "gate-n-1:000123");
  EXPECT_EQ(r["code"], "TB7QK2M9XW4R");
  EXPECT_EQ(r["status"], "admitted");
  EXPECT_EQ(r["reason"], "ok");
  EXPECT_EQ(r["entries"], 1);
  EXPECT_EQ(r["max_entries"], 1);
  EXPECT_EQ(r["holder"], "A. Example");
  EXPECT_TRUE(r["previous"].is_null());
  EXPECT_TRUE(r["decided_at"].is_string());

  const json e = event("42");
  ASSERT_FALSE(e.is_null()) << "no owner event";
  EXPECT_EQ(e["type"], "ticket.admitted");
  EXPECT_EQ(e["seq"], 1);
  EXPECT_EQ(e["code"], "TB7QK2M9XW4R");
  EXPECT_EQ(e["gate"], "north");

  // A second scan of the single-entry ticket elsewhere.
  client_->publish("tickets/scan",
                   scan("gate-s-1:000001", "TB7QK2M9XW4R", "gate-s-1", "south").dump());
  const json r2 = result("gate-s-1");
  EXPECT_EQ(r2["status"], "rejected");
  EXPECT_EQ(r2["reason"], "already_used");
  EXPECT_EQ(r2["previous"]["gate"], "north");
  EXPECT_EQ(r2["previous"]["scanner"], "gate-n-1");
  const json e2 = event("42");
  EXPECT_EQ(e2["type"], "ticket.rejected");
  EXPECT_EQ(e2["reason"], "already_used");
  EXPECT_EQ(e2["seq"], 2);
}

// A scan's debug line and an HTTP request's access line carry their fields, in text and in json;
// the query string is never logged.
TEST_F(BridgeMqtt, LogLinesCarryTheScansAndTheRequestsFieldsInTextAndJson) {
  const auto restart = [&](const std::string& format) {
    bridge_->stop();
    bridge_->set_extra_args(
        {"--log-format", format, "--log-level", "debug", "--access-log", "true"});
    const auto from = bridge_->log().size();
    EXPECT_TRUE(bridge_->start()) << bridge_->log();
    return from;
  };
  const auto exercise = [&](const std::string& scan_id) {
    client_->publish("tickets/scan", scan(scan_id, "TB7QK2M9XW4R").dump());
    EXPECT_FALSE(result().is_null()) << "no answer to " << scan_id;
    EXPECT_EQ(tbtest::http_request(bridge_->http_port(), "GET",
                                   "/api/v1/tickets/TB7QK2M9XW4R?note=not-for-the-log")
                  .status,
              401);
  };

  const auto text_from = restart("text");
  exercise("log:text");
  bridge_->stop();
  const auto text = bridge_->log().substr(text_from);
  EXPECT_NE(text.find(" debug scan decided scan_id=log:text scanner=gate-n-1 gate=north "
                      "code=TB7QK2M9XW4R status=admitted reason=ok uid=42\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(" info http request method=GET path=/api/v1/tickets/TB7QK2M9XW4R "
                      "status=401 bytes="),
            std::string::npos)
      << text;

  const auto json_from = restart("json");
  exercise("log:json");
  bridge_->stop();
  std::optional<json> decided, access;
  for (const auto& line : tbtest::lines_of(bridge_->log().substr(json_from))) {
    if (line.empty()) continue;
    const json j = json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << "not one JSON object: " << line;
    ASSERT_TRUE(j["time"].is_string() && j["level"].is_string() && j["message"].is_string())
        << line;
    EXPECT_TRUE(tb::parse_rfc3339(j["time"].get<std::string>())) << line;
    if (j["message"] == "scan decided") decided = j;
    if (j["message"] == "http request") access = j;
  }
  ASSERT_TRUE(decided) << bridge_->log().substr(json_from);
  EXPECT_EQ(*decided, json::parse(R"({"time":)" + (*decided)["time"].dump() +
                                  R"(,"level":"debug","message":"scan decided","scan_id":"log:json",
                                  "scanner":"gate-n-1","gate":"north","code":"TB7QK2M9XW4R",
                                  "status":"rejected","reason":"already_used","uid":"42"})"));
  ASSERT_TRUE(access) << bridge_->log().substr(json_from);
  EXPECT_EQ((*access)["level"], "info");
  EXPECT_EQ((*access)["method"], "GET");
  EXPECT_EQ((*access)["path"], "/api/v1/tickets/TB7QK2M9XW4R");
  EXPECT_EQ((*access)["status"], 401);
  EXPECT_GT((*access)["bytes"].get<int>(), 0);
  EXPECT_TRUE((*access)["ms"].is_number());
  EXPECT_EQ((*access)["client"], "127.0.0.1");
  EXPECT_EQ(bridge_->log().find("not-for-the-log"), std::string::npos);
}

TEST_F(BridgeMqtt, ResponseTopicAndCorrelationData) {
  client_->subscribe("replies/me");
  client_->publish("tickets/scan", scan("c:1", "TB7QK2M9XW4R").dump(), 1, "replies/me",
                   "corr\x01\x02");
  const auto m = client_->next("replies/me");
  ASSERT_TRUE(m) << "no answer on the response topic";
  EXPECT_EQ(m->correlation, std::string("corr\x01\x02"));
  EXPECT_EQ(json::parse(m->payload)["status"], "admitted");
  EXPECT_TRUE(client_->drain("tickets/result/gate-n-1").empty());
}

TEST_F(BridgeMqtt, RedeliveredScanIdIsDecidedOnce) {
  const std::string p = scan("dup:1", "TB7QK2M9XW4R").dump();
  client_->publish("tickets/scan", p);
  const json first = result();
  client_->publish("tickets/scan", p);
  const json second = result();
  EXPECT_EQ(first, second);
  EXPECT_EQ(first["status"], "admitted");
  ASSERT_FALSE(event("42").is_null());
  EXPECT_FALSE(client_->next("users/42/events", std::chrono::milliseconds(500)));
}

TEST_F(BridgeMqtt, MosquittoPubClientWorks) {
  const auto r =
      tbtest::run({"mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(broker_->port()), "-q",
                   "1", "-t", "tickets/scan", "-m", scan("pub:1", "TB7QK2M9XW4R").dump()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(result()["status"], "admitted");
}

TEST_F(BridgeMqtt, BadInputNeverStopsTheBridge) {
  const std::vector<std::string> garbage = {
      "",
      "not json",
      "[]",
      "{\"scanner\":\"gate-n-1\"}",
      "{\"code\":\"\xff\",\"scanner\":\"x\"}",
      std::string(200000, '{'),
      "{\"code\":\"A\",\"scanner\":\"gate-n-1\",\"direction\":7}"};
  for (const auto& g : garbage) client_->publish("tickets/scan", g);
  // Two of them name a usable scanner: both get `malformed`.
  for (int i = 0; i < 2; ++i) {
    const json r = result();
    ASSERT_FALSE(r.is_null());
    EXPECT_EQ(r["reason"], "malformed");
    EXPECT_EQ(r["status"], "rejected");
  }
  // Still deciding.
  client_->publish("tickets/scan", scan("ok:1", "TB7QK2M9XW4R").dump());
  EXPECT_EQ(result()["status"], "admitted");
  const auto metrics = tbtest::http_request(bridge_->http_port(), "GET", "/metrics");
  EXPECT_NE(
      metrics.body.find(R"(ticket_bridge_scans_total{status="rejected",reason="malformed"} 7)"),
      std::string::npos)
      << metrics.body;
}

TEST_F(BridgeMqtt, ScansWhileTheBridgeIsDownAreDecidedWhenItComesBack) {
  ASSERT_EQ(bridge_->stop(SIGTERM), 0);
  for (int i = 0; i < 20; ++i) {
    add_ticket({"--uid", "7", "--code", "OFF" + std::to_string(i)});
    client_->publish("tickets/scan",
                     scan("off:" + std::to_string(i), "OFF" + std::to_string(i)).dump());
  }
  ASSERT_TRUE(bridge_->start()) << bridge_->log();
  for (int i = 0; i < 20; ++i) {
    const json r = result();
    ASSERT_FALSE(r.is_null()) << "answer " << i << " missing";
    EXPECT_EQ(r["status"], "admitted");
  }
}

// --mqtt-session-expiry: a bridge away for longer than it finds no session, and none of the scans
// published meanwhile (the scanners send them again); within it, it finds them all.
TEST_F(BridgeMqtt, TheSessionExpiryBoundsWhatTheBrokerKeepsForAnAbsentBridge) {
  bridge_->set_extra_args({"--mqtt-session-expiry", "1s"});
  ASSERT_EQ(bridge_->stop(SIGTERM), 0);
  ASSERT_TRUE(bridge_->start()) << bridge_->log();  // the session now ends 1 s after we leave
  ASSERT_EQ(bridge_->stop(SIGTERM), 0);
  client_->publish("tickets/scan", scan("exp:1", "TB7QK2M9XW4R").dump());
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  ASSERT_TRUE(bridge_->start()) << bridge_->log();
  EXPECT_TRUE(result().is_null()) << "the broker kept the scan past the session's expiry";
  client_->publish("tickets/scan", scan("exp:2", "TB7QK2M9XW4R").dump());
  EXPECT_EQ(result()["scan_id"], "exp:2");
}

// `ticket-bridge backup` while scans stream in: the copy opens, passes SQLite's integrity check
// and holds every admission answered before the backup began, and the bridge goes on deciding.
TEST_F(BridgeMqtt, ABackupWhileScansStreamHoldsEveryAdmissionAnsweredBeforeIt) {
  constexpr std::size_t kScans = 600;
  std::string csv = "code,uid\n";
  for (std::size_t i = 0; i < kScans; ++i) {
    csv += "BK" + std::to_string(i) + ",u" + std::to_string(i) + "\n";
  }
  tbtest::write_file(dir_.file("backup.csv"), csv);
  const auto imported = bridge_->cli({"tickets", "import", dir_.file("backup.csv")});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  std::atomic<std::size_t> sent{0};
  std::jthread sender([&] {
    for (std::size_t i = 0; i < kScans; ++i) {
      client_->publish("tickets/scan",
                       scan("bk:" + std::to_string(i), "BK" + std::to_string(i)).dump());
      ++sent;
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }
  });
  std::set<std::string> before;  // admitted and answered before the backup began
  while (before.size() < 100) {
    const json r = result();
    if (r.is_null()) break;
    if (r["status"] == "admitted") before.insert(r["scan_id"].get<std::string>());
  }
  const auto copy = dir_.file("copy.db");
  const auto backup = bridge_->cli({"backup", copy});
  const std::size_t sent_by_then = sent;
  std::set<std::string> admitted = before;
  while (admitted.size() < kScans) {
    const json r = result();
    if (r.is_null()) break;
    if (r["status"] == "admitted") admitted.insert(r["scan_id"].get<std::string>());
  }
  sender.join();
  ASSERT_EQ(backup.exit_code, 0) << backup.err;
  EXPECT_NE(backup.out.find("backed up"), std::string::npos) << backup.out;
  ASSERT_EQ(before.size(), 100u);
  EXPECT_LT(sent_by_then, kScans) << "the scans were over before the backup ended";
  EXPECT_EQ(admitted.size(), kScans);  // the bridge went on deciding
  EXPECT_EQ(std::filesystem::status(copy).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_FALSE(std::filesystem::exists(copy + "-wal"));  // one self-contained file

  tb::sql::Db db(copy, false);
  auto mode = db.prepare("PRAGMA journal_mode");
  ASSERT_TRUE(mode.step());
  EXPECT_EQ(mode.text(0), "delete");  // one self-contained file, not a WAL database
  auto check = db.prepare("PRAGMA integrity_check");
  ASSERT_TRUE(check.step());
  EXPECT_EQ(check.text(0), "ok");
  auto find = db.prepare("SELECT status FROM scans WHERE scan_id = ?1");
  for (const auto& id : before) {
    find.reset();
    find.bind(1, id);
    ASSERT_TRUE(find.step()) << id << " is missing from the copy";
    EXPECT_EQ(find.text(0), "admitted") << id;
  }
}

// SIGTERM in the middle of a burst of scans of one single-entry ticket, then what a scanner does
// for every scan it has no answer for: send it again with the same scan_id after the restart.
// Every scan ends with an answer, the same one each time it is asked, and one admission in all.
TEST_F(BridgeMqtt, AStopMidBurstDecidesEveryScanOnce) {
  constexpr std::size_t kScans = 300;
  const auto publish_all = [&] {
    for (std::size_t i = 0; i < kScans; ++i) {
      client_->publish("tickets/scan", scan("burst:" + std::to_string(i), "TB7QK2M9XW4R").dump());
    }
  };
  publish_all();
  ASSERT_EQ(bridge_->stop(SIGTERM), 0);
  ASSERT_TRUE(bridge_->start()) << bridge_->log();
  publish_all();
  std::map<std::string, std::string> status_of;  // scan_id -> status
  while (status_of.size() < kScans) {
    const json r = result();
    if (r.is_null()) break;
    const auto [it, fresh] = status_of.emplace(r["scan_id"], r["status"]);
    if (!fresh) {
      EXPECT_EQ(it->second, r["status"]) << it->first << " answered differently";
    }
  }
  EXPECT_EQ(status_of.size(), kScans);
  EXPECT_EQ(std::count_if(status_of.begin(), status_of.end(),
                          [](const auto& kv) { return kv.second == "admitted"; }),
            1);
}

TEST_F(BridgeMqtt, SurvivesABrokerRestart) {
  client_->disconnect();
  broker_->stop();
  broker_->start();
  // The bridge reconnects with backoff and subscribes again.
  ASSERT_TRUE(tbtest::wait_until(
      [&] { return tbtest::http_request(bridge_->http_port(), "GET", "/healthz").status == 200; },
      std::chrono::seconds(20)));
  client_ = std::make_unique<TestClient>(broker_->url(), "test-client-2");
  client_->subscribe("tickets/result/#");
  client_->publish("tickets/scan", scan("after:1", "TB7QK2M9XW4R").dump());
  EXPECT_EQ(result()["status"], "admitted");
}

TEST_F(BridgeMqtt, HealthzFollowsTheBrokerLink) {
  EXPECT_EQ(tbtest::http_request(bridge_->http_port(), "GET", "/healthz").status, 200);
  client_->disconnect();
  broker_->stop();
  EXPECT_TRUE(tbtest::wait_until(
      [&] { return tbtest::http_request(bridge_->http_port(), "GET", "/healthz").status == 503; },
      std::chrono::seconds(10)));
  broker_->start();
}

// Liveness and readiness apart (issue #12): during a broker outage the bridge is alive (a
// supervisor must not restart it) but not ready (a load balancer sends nothing its way).
TEST_F(BridgeMqtt, LivezStaysUpWhileReadyzFollowsTheBroker) {
  const auto get = [&](const char* target) {
    return tbtest::http_request(bridge_->http_port(), "GET", target);
  };
  EXPECT_EQ(get("/livez").status, 200);
  EXPECT_EQ(get("/readyz").status, 200);
  client_->disconnect();
  broker_->stop();
  EXPECT_TRUE(
      tbtest::wait_until([&] { return get("/readyz").status == 503; }, std::chrono::seconds(10)));
  const auto live = get("/livez");
  EXPECT_EQ(live.status, 200);
  EXPECT_NE(live.body.find("\"ok\""), std::string::npos) << live.body;
  EXPECT_NE(get("/readyz").body.find("\"mqtt\":\"down\""), std::string::npos);
  broker_->start();
  EXPECT_TRUE(
      tbtest::wait_until([&] { return get("/readyz").status == 200; }, std::chrono::seconds(20)));
}

TEST_F(BridgeMqtt, RetainedStatusWithLastWill) {
  TestClient watcher(broker_->url(), "watcher");
  watcher.subscribe("bridge/+/status");
  auto online = watcher.next("bridge/main/status");
  ASSERT_TRUE(online);
  EXPECT_TRUE(online->retained);
  EXPECT_EQ(json::parse(online->payload)["state"], "online");
  bridge_->kill9();  // no goodbye: the broker publishes the will
  auto offline = watcher.next("bridge/main/status", std::chrono::seconds(60));
  ASSERT_TRUE(offline);
  EXPECT_EQ(json::parse(offline->payload)["state"], "offline");
}

TEST_F(BridgeMqtt, TwoScannersAtTheSameInstantAdmitExactlyOne) {
  for (int round = 0; round < 20; ++round) {
    const std::string code = "RACE" + std::to_string(round);
    add_ticket({"--uid", "9", "--code", code});
  }
  TestClient a(broker_->url(), "scanner-a");
  TestClient b(broker_->url(), "scanner-b");
  for (int round = 0; round < 20; ++round) {
    const std::string code = "RACE" + std::to_string(round);
    std::thread ta(
        [&] { a.publish("tickets/scan", scan("a:" + code, code, "sa", "north").dump()); });
    std::thread tb(
        [&] { b.publish("tickets/scan", scan("b:" + code, code, "sb", "south").dump()); });
    ta.join();
    tb.join();
  }
  int admitted = 0;
  for (int i = 0; i < 40; ++i) {
    auto m = client_->next();
    while (m && m->topic.rfind("tickets/result/", 0) != 0) m = client_->next();
    ASSERT_TRUE(m);
    admitted += json::parse(m->payload)["status"] == "admitted";
  }
  EXPECT_EQ(admitted, 20);
}

}  // namespace
