// Durability: the bridge is killed with SIGKILL at random moments of a stream of scans and
// restarted on the same database. Scanners re-publish unanswered scans with their scan_id, as the
// scanner agent does. Afterwards: every scan heard as admitted is still used, no ticket was let in
// twice, every owner's seq runs 1..n without a gap or a reuse, and a native app subscribed all
// along on MQTT got every one of those seqs (a duplicate is allowed, QoS 1; a gap is not): an
// event committed just before a kill reaches it through the outbox after the restart. The same
// on SQLite and on PostgreSQL (a real server started by the test).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "brokers.hpp"
#include "pg.hpp"
#include "postgres.hpp"

namespace {

using nlohmann::json;

constexpr int kTickets = 100;
constexpr int kScansPerTicket = 6;
constexpr int kKills = 8;

std::string code_of(int i) {
  return "K" + std::to_string(i % kTickets);
}
std::string uid_of(int i) {
  return "u" + std::to_string(i % kTickets % 10);
}

using Rows = std::vector<std::vector<std::string>>;
// Runs a query on the bridge's store; every value as text.
using Query = std::function<Rows(const std::string&)>;

Rows sqlite_rows(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  Rows rows;
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sql;
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::vector<std::string> row;
    for (int c = 0; c < sqlite3_column_count(st); ++c) {
      const auto* t = sqlite3_column_text(st, c);
      row.emplace_back(t ? reinterpret_cast<const char*>(t) : "");
    }
    rows.push_back(std::move(row));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rows;
}

Rows pg_rows(const std::string& url, const std::string& sql) {
  tb::pg::Conn c(url);
  const auto r = c.exec(sql);
  Rows rows;
  for (int i = 0; i < r.rows(); ++i) {
    std::vector<std::string> row;
    for (int col = 0; col < r.columns(); ++col) row.push_back(r.text(i, col));
    rows.push_back(std::move(row));
  }
  return rows;
}

void sigkill_at_random_moments(tbtest::TempDir& dir, tbtest::Mosquitto& broker,
                               tbtest::Bridge& bridge, const Query& query);

TEST(Crash, SigkillAtRandomMomentsLosesNoAdmission) {
  tbtest::TempDir dir;
  tbtest::Mosquitto broker(dir);
  tbtest::Bridge bridge(dir, broker.url());
  sigkill_at_random_moments(dir, broker, bridge,
                            [&](const std::string& sql) { return sqlite_rows(bridge.db(), sql); });
}

TEST(Crash, SigkillAtRandomMomentsLosesNoAdmissionOnPostgres) {
  tbtest::Postgres pg;
  const auto url = pg.create_database();
  tbtest::TempDir dir;
  tbtest::Mosquitto broker(dir);
  tbtest::Bridge bridge(dir, broker.url());
  bridge.set_db(url);
  sigkill_at_random_moments(dir, broker, bridge,
                            [&](const std::string& sql) { return pg_rows(url, sql); });
}

void sigkill_at_random_moments(tbtest::TempDir& dir, tbtest::Mosquitto& broker,
                               tbtest::Bridge& bridge, const Query& query) {
  std::string csv = "code,uid\n";
  for (int i = 0; i < kTickets; ++i) csv += code_of(i) + "," + uid_of(i) + "\n";
  tbtest::write_file(dir.file("t.csv"), csv);
  ASSERT_EQ(bridge.cli({"tickets", "import", dir.file("t.csv")}).exit_code, 0);
  ASSERT_TRUE(bridge.start()) << bridge.log();

  tbtest::TestClient scanner(broker.url(), "crash-scanner");
  scanner.subscribe("tickets/result/crash");
  tbtest::TestClient app(broker.url(), "crash-app", /*clean=*/false);
  ASSERT_LE(app.subscribe("users/+/events"), 1);
  std::map<std::string, std::set<std::int64_t>> seqs_heard;  // uid -> seqs the app got
  std::size_t events_heard = 0;
  const auto collect_events = [&] {
    for (const auto& m : app.drain()) {
      const auto uid = m.topic.substr(6, m.topic.size() - 6 - 7);  // users/<uid>/events
      seqs_heard[uid].insert(json::parse(m.payload)["seq"].get<std::int64_t>());
      ++events_heard;
    }
    std::size_t distinct = 0;
    for (const auto& [uid, seqs] : seqs_heard) distinct += seqs.size();
    return distinct;
  };
  const int total = kTickets * kScansPerTicket;
  std::vector<std::string> payloads;
  for (int i = 0; i < total; ++i) {
    payloads.push_back(json{{"scan_id", "crash:" + std::to_string(i)},
                            {"code", code_of(i)},
                            {"scanner", "crash"},
                            {"gate", "g" + std::to_string(i % 3)}}
                           .dump());
  }

  std::map<std::string, std::vector<std::string>> heard;  // scan_id -> answers
  const auto collect = [&] {
    for (const auto& m : scanner.drain("tickets/result/crash")) {
      heard[json::parse(m.payload)["scan_id"].get<std::string>()].push_back(m.payload);
    }
  };

  // The stream, with a killer beside it.
  std::atomic<bool> streaming{true};
  std::thread killer([&] {
    std::mt19937 rng(12345);
    std::uniform_int_distribution<int> pause(10, 120);
    for (int k = 0; k < kKills && streaming; ++k) {
      std::this_thread::sleep_for(std::chrono::milliseconds(pause(rng)));
      bridge.kill9();
      ASSERT_TRUE(bridge.start()) << bridge.log();
    }
  });
  for (int i = 0; i < total; ++i) {
    scanner.publish("tickets/scan", payloads[i]);
    if (i % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  streaming = false;
  killer.join();
  ASSERT_TRUE(bridge.running());

  // Re-publish what got no answer, as a scanner agent does, until all are answered.
  for (int round = 0; round < 10; ++round) {
    tbtest::wait_until(
        [&] {
          collect();
          return static_cast<int>(heard.size()) == total;
        },
        std::chrono::seconds(3));
    if (static_cast<int>(heard.size()) == total) break;
    for (int i = 0; i < total; ++i) {
      if (heard.count("crash:" + std::to_string(i)) == 0)
        scanner.publish("tickets/scan", payloads[i]);
    }
  }
  ASSERT_EQ(static_cast<int>(heard.size()), total) << "scans never answered";

  // What the scanners heard.
  std::map<std::string, std::set<std::string>> admitted_by_code;
  for (const auto& [scan_id, answers] : heard) {
    for (const auto& a : answers) EXPECT_EQ(a, answers.front()) << "two answers for " << scan_id;
    const json r = json::parse(answers.front());
    if (r["status"] == "admitted") admitted_by_code[r["code"]].insert(scan_id);
  }
  ASSERT_EQ(static_cast<int>(admitted_by_code.size()), kTickets);
  for (const auto& [code, ids] : admitted_by_code)
    EXPECT_EQ(ids.size(), 1U) << code << " admitted twice";

  bridge.stop();
  // What the database says.
  for (const auto& row : query("SELECT code, entries FROM tickets")) {
    EXPECT_EQ(row[1], "1") << row[0];
  }
  for (const auto& row : query("SELECT code, scan_id FROM scans WHERE status = 'admitted'")) {
    EXPECT_EQ(admitted_by_code[row[0]].count(row[1]), 1U) << row[0] << " admitted by " << row[1];
  }
  EXPECT_EQ(query("SELECT count(*) FROM scans")[0][0], std::to_string(total));
  // Every decided scan of a known ticket gave its owner exactly one event, seq 1..n.
  for (const auto& row :
       query("SELECT uid, count(*), min(seq), max(seq) FROM events GROUP BY uid")) {
    EXPECT_EQ(row[2], "1") << row[0];
    EXPECT_EQ(row[3], row[1]) << row[0] << " has a gap or a reused seq";
  }
  EXPECT_EQ(query("SELECT count(*) FROM events")[0][0], std::to_string(total));
  EXPECT_EQ(query("SELECT sum(last_seq) FROM users")[0][0], std::to_string(total));

  // The native app: every seq of its uids, through the kills. The bridge was stopped gracefully
  // above, after publishing; what it had not published before a kill went out at the restart.
  tbtest::wait_until([&] { return collect_events() >= static_cast<std::size_t>(total); },
                     std::chrono::seconds(10));
  for (const auto& row : query("SELECT uid, last_seq FROM users")) {
    const auto& got = seqs_heard[row[0]];
    for (std::int64_t seq = 1; seq <= std::stoll(row[1]); ++seq) {
      EXPECT_EQ(got.count(seq), 1U) << "the app never got seq " << seq << " of uid " << row[0];
    }
  }
  std::cerr << "the app got " << events_heard << " event messages for " << total << " events\n";
}

// Events committed while the broker is away are not held by Paho (its buffer would overflow in a
// long outage and drop some): the outbox publishes them from the store after the reconnect.
TEST(Outbox, EventsStoredDuringABrokerOutageReachAPersistentAppAfterIt) {
  tbtest::TempDir dir;
  tbtest::Mosquitto broker(dir, tbtest::persistent_broker_config(dir));
  tbtest::Bridge bridge(dir, broker.url());
  ASSERT_TRUE(bridge.start()) << bridge.log();
  {
    tbtest::TestClient app(broker.url(), "outbox-app", /*clean=*/false);
    ASSERT_LE(app.subscribe("users/42/events"), 1);
    app.disconnect();  // the broker keeps its session and queues for it
  }
  broker.stop();
  ASSERT_TRUE(tbtest::wait_until(  // the bridge knows the broker is gone
      [&] { return tbtest::http_request(bridge.http_port(), "GET", "/readyz").status == 503; },
      std::chrono::seconds(10)));
  const std::string key = std::string("Authorization: Bearer ") + tbtest::Bridge::kApiKey + "\r\n";
  for (int i = 1; i <= 3; ++i) {
    const auto r = tbtest::http_request(bridge.http_port(), "POST", "/api/v1/push",
                                        json{{"uid", "42"}, {"data", i}}.dump(), key);
    ASSERT_EQ(r.status, 202) << r.body;  // stored: the owner gets it once the broker is back
  }
  broker.start();
  ASSERT_TRUE(tbtest::wait_until(
      [&] { return tbtest::http_request(bridge.http_port(), "GET", "/readyz").status == 200; },
      std::chrono::seconds(15)));
  tbtest::TestClient app(broker.url(), "outbox-app", /*clean=*/false);
  std::set<std::int64_t> seqs;
  while (seqs.size() < 3) {
    const auto m = app.next("users/42/events", std::chrono::seconds(5));
    if (!m) break;
    seqs.insert(json::parse(m->payload)["seq"].get<std::int64_t>());
  }
  EXPECT_EQ(seqs, (std::set<std::int64_t>{1, 2, 3}));
  const auto metrics = tbtest::http_request(bridge.http_port(), "GET", "/metrics");
  EXPECT_NE(metrics.body.find("ticket_bridge_events_republished_total 3"), std::string::npos)
      << metrics.body;
}

}  // namespace
