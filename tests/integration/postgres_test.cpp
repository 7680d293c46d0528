// The bridge on PostgreSQL (a real server started by the test): one bridge decides, answers,
// tells the owner and serves the API as on SQLite; several bridges on one store decide each
// scan once. Each bridge here subscribes to every scan (no shared subscription), so every scan
// is decided by all of them at the same moment: the hardest case for exactly once.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "brokers.hpp"
#include "pg.hpp"
#include "postgres.hpp"

namespace {

using nlohmann::json;
using tbtest::Bridge;
using tbtest::Mosquitto;
using tbtest::TempDir;
using tbtest::TestClient;

json scan(const std::string& scan_id, const std::string& code, const std::string& scanner,
          const std::string& gate) {
  return {{"scan_id", scan_id}, {"code", code}, {"scanner", scanner}, {"gate", gate}};
}

class OnPostgres : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = pg_.create_database();
    broker_ = std::make_unique<Mosquitto>(dir_);
    client_ = std::make_unique<TestClient>(broker_->url(), "test-client");
    client_->subscribe("tickets/result/#");
    client_->subscribe("users/+/events");
  }

  // A bridge of its own directory, instance and HTTP port on the shared store.
  Bridge& add_bridge(std::vector<std::string> args = {}) {
    dirs_.push_back(std::make_unique<TempDir>());
    args.insert(args.begin(), {"--instance", "b" + std::to_string(bridges_.size() + 1)});
    bridges_.push_back(std::make_unique<Bridge>(*dirs_.back(), broker_->url(), args));
    bridges_.back()->set_db(db_);
    return *bridges_.back();
  }

  void add_ticket(Bridge& b, std::vector<std::string> args) {
    args.insert(args.begin(), {"tickets", "add"});
    const auto r = b.cli(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  // Tickets PG100000, PG100001, ... of `uids` owners in turn (u0, u1, ...), imported at once.
  void add_tickets(int count, int uids) {
    std::string csv = "code,uid\n";
    for (int i = 0; i < count; ++i) csv += code(i) + ",u" + std::to_string(i % uids) + "\n";
    tbtest::write_file(dir_.file("tickets.csv"), csv);
    const auto r = bridges_[0]->cli({"tickets", "import", dir_.file("tickets.csv")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static std::string code(int i) { return "PG" + std::to_string(100000 + i); }

  // Each ticket scanned at gate north (scan_id n:<i>) and at once at gate south (s:<i>).
  void scan_at_two_gates(int count) {
    for (int i = 0; i < count; ++i) {
      const auto n = std::to_string(i);
      client_->publish("tickets/scan", scan("n:" + n, code(i), "gate-n", "north").dump());
      client_->publish("tickets/scan", scan("s:" + n, code(i), "gate-s", "south").dump());
    }
  }

  // The answers on tickets/result/<scanner> until `count` came or none for a while.
  std::vector<json> results(const std::string& scanner, std::size_t count) {
    std::vector<json> out;
    while (out.size() < count) {
      auto m = client_->next("tickets/result/" + scanner, std::chrono::seconds(10));
      if (!m) break;
      out.push_back(json::parse(m->payload));
    }
    return out;
  }

  tbtest::Postgres pg_;
  std::string db_;
  TempDir dir_;
  std::unique_ptr<Mosquitto> broker_;
  std::vector<std::unique_ptr<TempDir>> dirs_;
  std::vector<std::unique_ptr<Bridge>> bridges_;
  std::unique_ptr<TestClient> client_;
};

TEST_F(OnPostgres, ABridgeDecidesAnswersTellsTheOwnerAndServesTheApi) {
  Bridge& b = add_bridge();
  add_ticket(b, {"--uid", "42", "--code", "PGTICKET0001", "--holder", "A. Example"});
  ASSERT_TRUE(b.start()) << b.log();
  client_->publish("tickets/scan", scan("pg:1", "PGTICKET0001", "gate-n-1", "north").dump());
  auto r = results("gate-n-1", 1);
  ASSERT_EQ(r.size(), 1U);
  EXPECT_EQ(r[0]["status"], "admitted");
  EXPECT_EQ(r[0]["holder"], "A. Example");
  const auto e = client_->next("users/42/events");
  ASSERT_TRUE(e);
  EXPECT_EQ(json::parse(e->payload)["seq"], 1);
  client_->publish("tickets/scan", scan("pg:2", "PGTICKET0001", "gate-s-1", "south").dump());
  r = results("gate-s-1", 1);
  ASSERT_EQ(r.size(), 1U);
  EXPECT_EQ(r[0]["reason"], "already_used");
  EXPECT_EQ(r[0]["previous"]["gate"], "north");
  const auto shown =
      tbtest::http_request(b.http_port(), "GET", "/api/v1/tickets/PGTICKET0001", "",
                           std::string("Authorization: Bearer ") + Bridge::kApiKey + "\r\n");
  EXPECT_EQ(shown.status, 200) << shown.body;
  EXPECT_EQ(json::parse(shown.body)["entries"], 1) << shown.body;
  // The CLI reads the same store, and check-config reaches it.
  const auto cli = b.cli({"tickets", "show", "PGTICKET0001"});
  EXPECT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_NE(cli.out.find("already_used"), std::string::npos) << cli.out;
  const auto checked = b.cli(
      {"check-config", "--mqtt", broker_->url(), "--api-key-file", dirs_.front()->file("api-key")});
  EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err;
  EXPECT_NE((checked.out + checked.err).find(": 1 tickets"), std::string::npos)
      << checked.out << checked.err;
  // A password in the URL is refused: it would be logged and shown by ps.
  const auto inline_pw = tbtest::run({tbtest::bridge_bin(), "tickets", "show", "PGTICKET0001",
                                      "--db", "postgresql://tb:secret@127.0.0.1:1/x"});
  EXPECT_EQ(inline_pw.exit_code, 2);
  EXPECT_NE(inline_pw.err.find("no password in the URL"), std::string::npos) << inline_pw.err;
  EXPECT_EQ(inline_pw.err.find("secret"), std::string::npos) << inline_pw.err;
  const auto backup = b.cli({"backup", dirs_.front()->file("copy.db")});
  EXPECT_EQ(backup.exit_code, 2);
  EXPECT_NE(backup.err.find("pg_dump"), std::string::npos) << backup.err;
}

TEST_F(OnPostgres, ThreeBridgesDecidingEveryScanAtOnceDecideEachOnce) {
  for (int i = 0; i < 3; ++i) add_bridge();
  constexpr int kTickets = 60;
  add_tickets(kTickets, 6);
  for (auto& b : bridges_) ASSERT_TRUE(b->start()) << b->log();
  // Each ticket at two gates (two scan_ids), every scan seen by all three bridges.
  scan_at_two_gates(kTickets);
  // Each bridge answers each scan: three answers per scan_id, all the same decision.
  std::map<std::string, std::set<std::string>> decisions;  // scan_id -> distinct answers
  std::map<std::string, int> answered;                     // scan_id -> answers
  for (const char* scanner : {"gate-n", "gate-s"}) {
    for (const auto& r : results(scanner, 3 * kTickets)) {
      const auto id = r["scan_id"].get<std::string>();
      decisions[id].insert(r["status"].get<std::string>() + "/" + r["reason"].get<std::string>());
      ++answered[id];
    }
  }
  ASSERT_EQ(decisions.size(), 2U * kTickets) << "scans left unanswered";
  for (const auto& [id, answers] : decisions) {
    EXPECT_EQ(answered[id], 3) << id << ": not every bridge answered it";
    EXPECT_EQ(answers.size(), 1U) << id << " was decided differently by two bridges";
  }
  int admitted = 0;
  for (int i = 0; i < kTickets; ++i) {
    const auto n = *decisions["n:" + std::to_string(i)].begin();
    const auto s = *decisions["s:" + std::to_string(i)].begin();
    admitted += (n == "admitted/ok") + (s == "admitted/ok");
    EXPECT_TRUE((n == "admitted/ok") != (s == "admitted/ok"))
        << "ticket " << i << ": " << n << " and " << s;
  }
  EXPECT_EQ(admitted, kTickets);
  // The store: one audit row per scan_id, and each uid's seq 1..n without a gap.
  tb::pg::Conn c(db_);
  EXPECT_EQ(c.exec("SELECT count(*), count(DISTINCT scan_id) FROM scans").text(0, 0),
            std::to_string(2 * kTickets));
  EXPECT_EQ(c.exec("SELECT count(DISTINCT scan_id) FROM scans").int64(0, 0), 2 * kTickets);
  const auto gaps =
      c.exec("SELECT uid, count(*), max(seq) FROM events GROUP BY uid HAVING count(*) <> max(seq)");
  EXPECT_EQ(gaps.rows(), 0) << "a uid's seq has a gap or a duplicate";
  EXPECT_EQ(c.exec("SELECT sum(last_seq) FROM users").int64(0, 0), 2 * kTickets)
      << "one event per decided scan";
}

// The scans shared out (--mqtt-shared-group): the two scans of a ticket, published back to
// back, reach two different bridges, which decide them at the same moment. The ticket's row lock
// makes one of them wait for the other: one admitted, one already used.
TEST_F(OnPostgres, OneTicketAtTwoGatesOnTwoBridgesAtOnceIsAdmittedOnce) {
  for (int i = 0; i < 3; ++i) add_bridge({"--mqtt-shared-group", "gates"});
  constexpr int kTickets = 80;
  add_tickets(kTickets, 8);
  for (auto& b : bridges_) ASSERT_TRUE(b->start()) << b->log();
  scan_at_two_gates(kTickets);
  std::map<std::string, std::string> decided;  // scan_id -> status
  for (const char* scanner : {"gate-n", "gate-s"}) {
    for (const auto& r : results(scanner, kTickets)) {
      decided[r["scan_id"].get<std::string>()] = r["status"].get<std::string>();
    }
  }
  ASSERT_EQ(decided.size(), 2U * kTickets) << "scans left unanswered";
  for (int i = 0; i < kTickets; ++i) {
    const auto n = decided["n:" + std::to_string(i)];
    const auto s = decided["s:" + std::to_string(i)];
    EXPECT_TRUE((n == "admitted") != (s == "admitted")) << "ticket " << i << ": " << n << ", " << s;
  }
  tb::pg::Conn c(db_);
  EXPECT_EQ(c.exec("SELECT count(*) FROM tickets WHERE entries <> 1").int64(0, 0), 0);
  // The scans were shared out: every bridge decided some.
  for (auto& b : bridges_) {
    const auto m = tbtest::http_request(b->http_port(), "GET", "/metrics").body;
    EXPECT_NE(m.find("\nticket_bridge_batches_total "), std::string::npos);
    EXPECT_EQ(m.find("\nticket_bridge_batches_total 0\n"), std::string::npos)
        << "a bridge decided nothing: the scans were not shared out";
  }
}

}  // namespace
