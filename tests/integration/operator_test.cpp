// The operator's view (docs/operations.md, "The operator page"): /operator/ws takes the API key or
// an operator's token and nothing else; an operator's token reads and changes nothing; the
// figures of /api/v1/stats, the gate series of /metrics and the audit log agree after a stream of
// scans; a client that stops reading is closed like an owner's.
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "sqlite_store.hpp"
#include "ws_fixture.hpp"

namespace tbtest_ws {
namespace {

class Operator : public Ws {
 protected:
  std::unique_ptr<WsClient> watch(bool read = true, int rcvbuf = 0) {
    return std::make_unique<WsClient>(loop_, bridge_->http_port(), read, rcvbuf, "/operator/ws");
  }
  std::string operator_token(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"token", "--operator"};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = bridge_->cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto token = r.out;
    while (!token.empty() && token.back() == '\n') token.pop_back();
    return token;
  }
  tbtest::HttpReply get(const std::string& target, const std::string& credential) {
    return tbtest::http_request(bridge_->http_port(), "GET", target, {},
                                "Authorization: Bearer " + credential + "\r\n");
  }
  // The next figures message (welcome and older figures skipped) that satisfies `ok`.
  static json figures_until(WsClient& c, const std::function<bool(const json&)>& ok,
                            std::chrono::seconds within = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + within;
    json last;
    while (std::chrono::steady_clock::now() < deadline) {
      auto m = c.next(std::chrono::milliseconds(500));
      if (!m) continue;
      last = json::parse(*m);
      if (last["type"] == "figures" && ok(last)) return last;
    }
    ADD_FAILURE() << "no such figures; the last message: " << last.dump();
    return last;
  }
};

TEST_F(Operator, TheApiKeyOrAnOperatorsTokenGetsTheFigures) {
  const std::string token = operator_token();
  const auto claims =
      std::get<tb::TokenClaims>(tb::verify_token(token, Bridge::kSecret, tb::now_ms() / 1000));
  EXPECT_EQ(claims.role, "operator");
  EXPECT_EQ(claims.uid, "operator");
  // Eight hours unless --ttl says otherwise.
  EXPECT_NEAR(static_cast<double>(claims.exp - tb::now_ms() / 1000), 8 * 3600, 60);
  for (const std::string& credential : {std::string(Bridge::kApiKey), token}) {
    auto c = watch();
    c->hello(credential);
    EXPECT_EQ(next_json(*c), (json{{"type", "welcome"}, {"role", "operator"}}));
    const json f = next_json(*c);
    EXPECT_EQ(f["type"], "figures");
    EXPECT_EQ(f["bridge"]["broker"], "connected");
    EXPECT_EQ(f["bridge"]["store"], "sqlite");
    EXPECT_EQ(f["bridge"]["version"], TB_PROJECT_VERSION);
  }
}

TEST_F(Operator, NoOtherCredentialGetsAFigure) {
  ASSERT_EQ(bridge_->cli({"tickets", "add", "--uid", "77", "--code", "MINE1"}).exit_code, 0);
  const auto now = tb::now_ms() / 1000;
  const std::map<std::string, std::string> refused = {
      {"an owner's token", token_for("77")},
      {"a ticket page's token", tb::sign_token("77", 3600, Bridge::kSecret, now, "MINE1")},
      {"a wrong key", "not-the-api-key"},
      {"an operator's token signed with another secret",
       tb::sign_token("operator", 3600, "another-secret-0123456789abcdef", now, {}, "operator")},
      {"an expired operator's token",
       tb::sign_token("operator", 3600, Bridge::kSecret, now - 7200, {}, "operator")},
      {"a token of another role",
       tb::sign_token("operator", 3600, Bridge::kSecret, now, {}, "gatekeeper")},
      {"nothing", ""}};
  for (const auto& [what, credential] : refused) {
    auto c = watch();
    c->hello(credential);
    EXPECT_EQ(next_json(*c), (json{{"type", "error"}, {"reason", "unauthorized"}})) << what;
    EXPECT_EQ(c->wait_closed(), 1008) << what;
    EXPECT_FALSE(c->next(std::chrono::milliseconds(100))) << what;
  }
  // The page itself is public: it holds no figure until the WebSocket says who is looking.
  const auto page = tbtest::http_request(bridge_->http_port(), "GET", "/operator");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("/operator/ws"), std::string::npos);
  EXPECT_EQ(tbtest::http_request(bridge_->http_port(), "GET", "/api/v1/stats").status, 401);
  EXPECT_EQ(get("/api/v1/stats", token_for("77")).status, 401);
}

TEST_F(Operator, AnOperatorsTokenReadsAndChangesNothing) {
  ASSERT_EQ(bridge_->cli({"tickets", "add", "--uid", "77", "--code", "MINE1"}).exit_code, 0);
  const std::string token = operator_token({"--uid", "desk-1", "--ttl", "15m"});
  EXPECT_EQ(get("/api/v1/stats", token).status, 200);
  const auto ticket = get("/api/v1/tickets/MINE1", token);
  EXPECT_EQ(ticket.status, 200) << ticket.body;
  EXPECT_EQ(json::parse(ticket.body)["code"], "MINE1");
  const auto bearer = "Authorization: Bearer " + token + "\r\n";
  const auto port = bridge_->http_port();
  const auto forbidden = [&](const char* method, const char* target, const std::string& body) {
    const auto r = tbtest::http_request(port, method, target, body, bearer);
    EXPECT_EQ(r.status, 403) << method << " " << target << ": " << r.body;
    EXPECT_NE(r.body.find("read-only"), std::string::npos) << r.body;
  };
  forbidden("POST", "/api/v1/push", R"({"uid":"77","data":"from the desk"})");
  forbidden("POST", "/api/v1/tickets", R"({"uid":"77"})");
  forbidden("DELETE", "/api/v1/tickets/MINE1", "");
  forbidden("POST", "/api/v1/tokens", R"({"uid":"77"})");
  // Nothing was changed: no event, the ticket not revoked.
  EXPECT_EQ(json::parse(get("/api/v1/tickets/MINE1", Bridge::kApiKey).body)["state"], "valid");
  auto owner = connect();
  owner->hello(token_for("77"), 0);
  EXPECT_EQ(next_json(*owner)["seq"], 0);
  // Nor does it open an owner's stream.
  auto c = connect();
  c->hello(token);
  EXPECT_EQ(next_json(*c), (json{{"type", "error"}, {"reason", "unauthorized"}}));
  // The CLI refuses what makes no sense.
  EXPECT_EQ(bridge_->cli({"token", "--operator", "--code", "MINE1"}).exit_code, 2);
  EXPECT_EQ(bridge_->cli({"token"}).exit_code, 2);
}

// After a stream of scans at two gates: the page's figures, /api/v1/stats, the gate series of
// /metrics and the audit log say the same.
TEST_F(Operator, TheFiguresAgreeWithMetricsAndTheAuditLog) {
  ASSERT_EQ(bridge_->cli({"scanners", "set", "gate-n", "--gate", "north"}).exit_code, 0);
  ASSERT_EQ(bridge_->cli({"scanners", "set", "gate-s", "--gate", "south"}).exit_code, 0);
  constexpr int kTickets = 30;
  for (int i = 0; i < kTickets; ++i) {
    const auto r =
        bridge_->cli({"tickets", "add", "--uid", "u" + std::to_string(i), "--code",
                      "T" + std::to_string(i), "--holder", "Holder " + std::to_string(i)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  restart({});  // the counts are read at the start
  auto c = watch();
  c->hello(Bridge::kApiKey);
  ASSERT_EQ(next_json(*c)["type"], "welcome");
  const json before = next_json(*c);
  EXPECT_EQ(before["venue"]["tickets_sold"], kTickets);
  EXPECT_EQ(before["venue"]["admitted"], 0);

  // Each ticket once at north or south, the first ten again (already_used), five unknown codes.
  tbtest::TestClient scanner(broker_->url(), "scanner");
  int sent = 0;
  const auto scan = [&](const std::string& id, const std::string& code, const std::string& at) {
    scanner.publish("tickets/scan", json{{"scan_id", id}, {"code", code}, {"scanner", at}}.dump());
    ++sent;
  };
  for (int i = 0; i < kTickets; ++i)
    scan("a" + std::to_string(i), "T" + std::to_string(i), i % 2 == 0 ? "gate-n" : "gate-s");
  for (int i = 0; i < 10; ++i) scan("b" + std::to_string(i), "T" + std::to_string(i), "gate-s");
  for (int i = 0; i < 5; ++i) scan("c" + std::to_string(i), "NOPE" + std::to_string(i), "gate-n");
  scan("a0", "T0", "gate-n");  // a repeated scan_id: answered from the log, counted nowhere here

  const json f = figures_until(*c, [&](const json& x) {
    const auto& s = x["scans"];
    return s["admitted"].get<int>() + s["rejected"].get<int>() + s["exited"].get<int>() == sent - 1;
  });
  EXPECT_EQ(f["scans"]["admitted"], kTickets);
  EXPECT_EQ(f["scans"]["rejected"], 15);
  EXPECT_EQ(f["venue"]["admitted"], kTickets);
  EXPECT_EQ(f["venue"]["inside"], kTickets);
  ASSERT_EQ(f["recent_rejections"].size(), 15U);
  const json& newest = f["recent_rejections"][0];
  EXPECT_EQ(newest["reason"], "unknown");
  EXPECT_EQ(newest["gate"], "north");
  EXPECT_EQ(newest["scanner"], "gate-n");
  const json& used = f["recent_rejections"][5];
  EXPECT_EQ(used["reason"], "already_used");
  EXPECT_EQ(used["code"], "T9");
  EXPECT_EQ(used["holder"], "Holder 9");

  // The audit log, per gate and status/reason.
  std::map<std::string, int> audit;  // "gate status reason" -> scans
  {
    tb::SqliteStore store(bridge_->db());
    for (int i = 0; i < kTickets; ++i) {
      for (const auto& r : store.recent_scans("T" + std::to_string(i), 10)) {
        ++audit[r.gate.value_or("none") + " " + r.status + " " + r.reason];
      }
    }
    for (int i = 0; i < 5; ++i) {
      for (const auto& r : store.recent_scans("NOPE" + std::to_string(i), 10)) {
        ++audit[r.gate.value_or("none") + " " + r.status + " " + r.reason];
      }
    }
  }
  const std::map<std::string, int> expected = {{"north admitted ok", 15},
                                               {"south admitted ok", 15},
                                               {"south rejected already_used", 10},
                                               {"north rejected unknown", 5}};
  EXPECT_EQ(audit, expected);

  const auto stats = get("/api/v1/stats", Bridge::kApiKey);
  ASSERT_EQ(stats.status, 200);
  const json st = json::parse(stats.body);
  const auto metrics = tbtest::http_request(bridge_->http_port(), "GET", "/metrics").body;
  std::map<std::string, int> from_stats, from_metrics;
  for (const auto& g : st["gates"]) {
    const std::string gate = g["gate"];
    if (g["scans"]["admitted"].get<int>() > 0) {
      from_stats[gate + " admitted ok"] = g["scans"]["admitted"];
    }
    for (const auto& [reason, n] : g["rejected_by_reason"].items()) {
      from_stats[gate + " rejected " + reason] = n.get<int>();
    }
  }
  for (const auto& [key, n] : expected) {
    std::istringstream parts(key);
    std::string gate, status, reason;
    parts >> gate >> status >> reason;
    const std::string series = "ticket_bridge_gate_scans_total{gate=\"" + gate + "\",status=\"" +
                               status + "\",reason=\"" + reason + "\"} ";
    const auto at = metrics.find(series);
    ASSERT_NE(at, std::string::npos) << series << "\n" << metrics;
    from_metrics[key] = std::stoi(metrics.substr(at + series.size()));
  }
  EXPECT_EQ(from_stats, expected);
  EXPECT_EQ(from_metrics, expected);
  for (const char* gate : {"north", "south"}) {
    const std::string count =
        std::string("ticket_bridge_gate_decision_seconds_count{gate=\"") + gate + "\"} ";
    const auto at = metrics.find(count);
    ASSERT_NE(at, std::string::npos) << metrics;
    EXPECT_EQ(std::stoi(metrics.substr(at + count.size())), gate[0] == 'n' ? 20 : 25);
  }
  EXPECT_NE(metrics.find("\nticket_bridge_tickets_inside " + std::to_string(kTickets) + "\n"),
            std::string::npos);
  EXPECT_EQ(st["venue"], f["venue"]);
}

// Like an owner's client (ws_test.cpp): one that stops reading is closed with 1013 once what is
// queued for it passes --ws-max-queue-bytes, and the feed goes on for the others.
TEST_F(Operator, AClientThatStopsReadingIsClosed) {
  restart({"--ws-max-queue-bytes", "16384", "--operator-interval-ms", "100", "--max-gates", "64"});
  auto stalled = watch(/*read=*/false, /*rcvbuf=*/4096);
  stalled->hello(Bridge::kApiKey);
  auto reader = watch();
  reader->hello(Bridge::kApiKey);
  ASSERT_EQ(next_json(*reader)["type"], "welcome");
  // Scans at 64 gates make each figures message some tens of kilobytes; every one changes them.
  tbtest::TestClient scanner(broker_->url(), "scanner");
  const auto slow_closes = [&] {
    return bridge_->metric("ticket_bridge_ws_slow_consumer_closes_total") >= 1;
  };
  int n = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!slow_closes() && std::chrono::steady_clock::now() < deadline) {
    for (int i = 0; i < 64; ++i, ++n) {
      scanner.publish("tickets/scan", json{{"scan_id", "s" + std::to_string(n)},
                                           {"code", "X" + std::to_string(n)},
                                           {"scanner", "s" + std::to_string(i)},
                                           {"gate", "g" + std::to_string(i)}}
                                          .dump());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(slow_closes()) << "the stalled operator client was never closed";
  stalled->start_reading();
  EXPECT_EQ(stalled->wait_closed(std::chrono::seconds(40)), 1013);
  // The reading one still gets figures.
  const json f = figures_until(*reader, [&](const json& x) { return x["gates"].size() == 64U; });
  EXPECT_EQ(f["gates"].size(), 64U);
}

// docs/grafana/ticket-bridge.json queries only what the bridge exports: every ticket_bridge_ name
// in its expressions is a series of /metrics (a histogram's _bucket, _sum and _count included),
// and every label it selects or groups by is one of that series' labels, or one Prometheus adds
// when it scrapes (instance, job). Nothing here runs Grafana: this is what can be checked.
TEST_F(Operator, TheGrafanaDashboardUsesOnlyExportedSeries) {
  // Scans at a gate, so that the labelled series have samples to show their labels.
  ASSERT_EQ(bridge_->cli({"tickets", "add", "--uid", "77", "--code", "G1"}).exit_code, 0);
  tbtest::TestClient scanner(broker_->url(), "scanner");
  scanner.publish("tickets/scan", R"({"scan_id":"g1","code":"G1","scanner":"s","gate":"north"})");
  scanner.publish("tickets/scan", R"({"scan_id":"g2","code":"G1","scanner":"s","gate":"north"})");
  std::string metrics;
  for (int i = 0; i < 100; ++i) {
    metrics = tbtest::http_request(bridge_->http_port(), "GET", "/metrics").body;
    if (metrics.find("ticket_bridge_gate_scans_total{gate=\"north\",status=\"rejected\"") !=
        std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // Each exported name with the labels its samples carry.
  std::map<std::string, std::set<std::string>> exported;
  std::set<std::string> histograms;
  std::istringstream lines(metrics);
  const std::regex type_line(R"(^# TYPE (\w+) (\w+)$)");
  const std::regex sample(R"(^(\w+)(\{([^}]*)\})? )");
  const std::regex label_name(R"((\w+)=")");
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_match(line, m, type_line)) {
      exported[m[1]];
      if (m[2] == "histogram") histograms.insert(m[1]);
    } else if (std::regex_search(line, m, sample)) {
      std::string name = m[1];
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        const std::string base =
            name.substr(0, name.size() - std::min(name.size(), strlen(suffix)));
        if (name.ends_with(suffix) && histograms.count(base)) name = base;
      }
      const std::string labels = m[3];
      for (std::sregex_iterator it(labels.begin(), labels.end(), label_name), end; it != end;
           ++it) {
        exported[name].insert((*it)[1]);
      }
    }
  }
  ASSERT_TRUE(exported.count("ticket_bridge_gate_scans_total")) << metrics;

  std::ifstream in(tbtest::source_dir() + "/docs/grafana/ticket-bridge.json");
  ASSERT_TRUE(in) << "docs/grafana/ticket-bridge.json is missing";
  const json dashboard = json::parse(in);
  ASSERT_TRUE(dashboard.contains("__inputs")) << "not importable: no datasource input";
  std::vector<std::string> exprs;
  for (const auto& panel : dashboard["panels"]) {
    for (const auto& target : panel.value("targets", json::array()))
      exprs.push_back(target["expr"]);
  }
  ASSERT_GE(exprs.size(), 10U);
  const std::regex selector(R"((ticket_bridge_\w+)(\{([^}]*)\})?)");
  const std::regex grouping(R"(\b(?:by|without) \(([^)]*)\))");
  const std::set<std::string> added_by_prometheus = {"instance", "job", "le"};
  std::set<std::string> used;
  for (const auto& expr : exprs) {
    std::set<std::string> names;
    for (std::sregex_iterator it(expr.begin(), expr.end(), selector), end; it != end; ++it) {
      std::string name = (*it)[1];
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        const std::string base =
            name.substr(0, name.size() - std::min(name.size(), strlen(suffix)));
        if (name.ends_with(suffix) && histograms.count(base)) name = base;
      }
      ASSERT_TRUE(exported.count(name)) << name << " in " << expr << " is not exported";
      names.insert(name);
      used.insert(name);
      const std::string matchers = (*it)[3];
      for (std::sregex_iterator l(matchers.begin(), matchers.end(), label_name), e; l != e; ++l) {
        EXPECT_TRUE(exported[name].count((*l)[1])) << (*l)[1] << " is no label of " << name;
      }
    }
    ASSERT_FALSE(names.empty()) << expr << " queries no ticket_bridge_ series";
    for (std::sregex_iterator it(expr.begin(), expr.end(), grouping), end; it != end; ++it) {
      std::istringstream list((*it)[1].str());
      for (std::string label; std::getline(list, label, ',');) {
        label.erase(0, label.find_first_not_of(' '));
        label.erase(label.find_last_not_of(' ') + 1);
        if (added_by_prometheus.count(label)) continue;
        bool somewhere = false;
        for (const auto& n : names) somewhere = somewhere || exported[n].count(label) > 0;
        EXPECT_TRUE(somewhere) << "grouping by " << label << " in " << expr;
      }
    }
  }
  // What the dashboard is for: scans by status and gate, decision time, WebSocket clients, the
  // broker link, store errors, the queue.
  for (const char* needed :
       {"ticket_bridge_scans_total", "ticket_bridge_gate_scans_total",
        "ticket_bridge_gate_decision_seconds", "ticket_bridge_decision_seconds",
        "ticket_bridge_ws_connections", "ticket_bridge_mqtt_connected",
        "ticket_bridge_store_errors_total", "ticket_bridge_scan_queue_depth"}) {
    EXPECT_TRUE(used.count(needed)) << "the dashboard does not show " << needed;
  }
}

}  // namespace
}  // namespace tbtest_ws
