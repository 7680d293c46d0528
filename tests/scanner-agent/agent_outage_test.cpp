// scanner-agent through outages: scans kept while the broker is away, across a killed agent, a
// backlog sent whole, and a full queue.
#include "agent_fixture.hpp"
#include "sqlite.hpp"

namespace tbtest_agent {
namespace {

TEST_F(Agent, BrokerDownScansAreKeptAndDeliveredInOrderOnce) {
  // A broker that keeps sessions across its restart, as the production one does: the bridge's
  // subscription survives it, so what the agent sends at its reconnect reaches the bridge even
  // when the bridge is not back yet. (Without it, whichever of the two reconnects first decides
  // whether the first round is lost, and the order of the answers with it.)
  broker_ = std::make_unique<tbtest::Mosquitto>(dir_, tbtest::persistent_broker_config(dir_));
  start_bridge();
  for (int i = 0; i < 5; ++i) add_ticket("OUT" + std::to_string(i));
  auto agent = spawn_agent({"--timeout", "0.3", "--retry", "0.5"});
  ASSERT_TRUE(
      tbtest::wait_until([&] { return agent.log().find("connected to") != std::string::npos; },
                         std::chrono::seconds(10)));
  broker_->stop();
  for (int i = 0; i < 5; ++i) agent.write_stdin("OUT" + std::to_string(i) + "\n");
  ASSERT_TRUE(tbtest::wait_until([&] { return count(agent.log(), "NO ANSWER") == 5; },
                                 std::chrono::seconds(10)))
      << agent.log();
  broker_->start();
  ASSERT_TRUE(tbtest::wait_until([&] { return count(agent.log(), "ADMIT") == 5; },
                                 std::chrono::seconds(30)))
      << agent.log();
  const std::string out = agent.log();
  std::size_t last = 0;
  for (int i = 0; i < 5; ++i) {
    const auto at = out.find("ADMIT   OUT" + std::to_string(i));
    ASSERT_NE(at, std::string::npos);
    EXPECT_GT(at, last) << "answers out of order";
    last = at;
  }
  EXPECT_EQ(count(out, "[late answer]"), 5U);
  agent.close_stdin();
  EXPECT_EQ(tbtest::exit_code_of(agent.wait_exit(std::chrono::seconds(10)).value_or(-1)), 0);
  // Each ticket was let in exactly once, however often its scan was sent.
  for (int i = 0; i < 5; ++i) {
    const json t = json::parse(bridge_->cli({"tickets", "show", "OUT" + std::to_string(i)}).out);
    EXPECT_EQ(t["entries"], 1);
    EXPECT_EQ(t["last_scans"].size(), 1U);
  }
}

TEST_F(Agent, QueuedScansSurviveAKilledAgent) {
  start_bridge();
  add_ticket("K1");
  add_ticket("K2");
  broker_->stop();
  {
    auto agent = spawn_agent({"--timeout", "0.2"});
    agent.write_stdin("K1\nK2\n");
    ASSERT_TRUE(tbtest::wait_until([&] { return count(agent.log(), "NO ANSWER") == 2; },
                                   std::chrono::seconds(10)));
    agent.stop(SIGKILL);
  }
  broker_->start();
  auto agent = spawn_agent({"--timeout", "0.2"});
  ASSERT_TRUE(tbtest::wait_until([&] { return count(agent.log(), "ADMIT") == 2; },
                                 std::chrono::seconds(30)))
      << agent.log();
  EXPECT_NE(agent.log().find("2 unanswered scans from before"), std::string::npos);
}

// A backlog larger than Paho's default buffer (100 messages) goes out whole at the connect: none
// of it waits for its re-send (--retry 600 would hold it past the test).
TEST_F(Agent, ABacklogOfHundredsGoesOutAtTheConnect) {
  start_bridge();
  broker_->stop();
  constexpr int kScans = 300;
  std::string input;
  for (int i = 0; i < kScans; ++i) input += "BACKLOG" + std::to_string(i) + "\n";
  {
    auto agent = spawn_agent({"--timeout", "0.2"});
    agent.write_stdin(input);
    ASSERT_TRUE(tbtest::wait_until([&] { return count(agent.log(), "NO ANSWER") == kScans; },
                                   std::chrono::seconds(20)));
    agent.stop(SIGKILL);
  }
  broker_->start();
  ASSERT_TRUE(tbtest::wait_until(
      [&] { return tbtest::http_request(bridge_->http_port(), "GET", "/healthz").status == 200; },
      std::chrono::seconds(20)));
  auto agent = spawn_agent({"--timeout", "0.2", "--retry", "600"});
  EXPECT_TRUE(tbtest::wait_until([&] { return count(agent.log(), "REJECT") == kScans; },
                                 std::chrono::seconds(20)))
      << count(agent.log(), "REJECT") << " of " << kScans << " answered";
}

TEST_F(Agent, AFullQueueRefusesNewScansLoudly) {
  broker_->stop();
  const auto r = run_agent("Q1\nQ2\nQ3\n", {"--timeout", "0.2", "--queue-limit", "2"});
  EXPECT_EQ(count(r.out, "NO ANSWER"), 2U) << r.out;
  EXPECT_NE(r.out.find("QUEUE FULL  Q3"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("queue is full"), std::string::npos);
}

}  // namespace
}  // namespace tbtest_agent

namespace tbtest_agent {
namespace {

// With the venue's public key, the gate decides signed codes alone while the broker is down: a
// valid one goes in once, its second scan and a ticket let in here before the outage are
// refused, and staff are told the decision was offline. Back online, every scan reaches the
// bridge once, and the bridge agrees.
TEST_F(Agent, WithTheBrokerDownSignedTicketsAreDecidedAtTheGateOnce) {
  std::string pub;
  std::map<std::string, std::string> signed_codes;
  ASSERT_NO_FATAL_FAILURE(start_signing_venue({"OFFA", "OFFB"}, pub, signed_codes));
  auto agent =
      spawn_agent({"--timeout", "0.3", "--retry", "0.5", "--debounce", "0", "--offline-key", pub});
  ASSERT_TRUE(
      tbtest::wait_until([&] { return agent.log().find("connected to") != std::string::npos; },
                         std::chrono::seconds(10)));
  agent.write_stdin(signed_codes["OFFB"] + "\n");  // let in online, before the outage
  ASSERT_TRUE(tbtest::wait_until([&] { return count(agent.log(), "ADMIT   OFFB") == 1; },
                                 std::chrono::seconds(10)))
      << agent.log();
  broker_->stop();
  for (const std::string code : {"OFFA", "OFFA", "OFFB"}) {
    agent.write_stdin(signed_codes[code] + "\n");
  }
  ASSERT_TRUE(tbtest::wait_until([&] { return count(agent.log(), "[OFFLINE decision") == 3; },
                                 std::chrono::seconds(10)))
      << agent.log();
  const std::string offline = agent.log();
  EXPECT_EQ(count(offline, "ADMIT   OFFA"), 1U) << offline;
  EXPECT_EQ(count(offline, "REJECT  OFFA  already used at north"), 1U) << offline;
  EXPECT_EQ(count(offline, "REJECT  OFFB  already used at north"), 1U) << offline;
  EXPECT_EQ(count(offline, "NO ANSWER"), 0U) << offline;

  broker_->start();
  ASSERT_TRUE(tbtest::wait_until(
      [&] { return count(agent.log(), "agrees with the offline decision") == 3; },
      std::chrono::seconds(30)))
      << agent.log();
  EXPECT_EQ(count(agent.log(), "differs from the offline decision"), 0U) << agent.log();
  agent.close_stdin();
  EXPECT_EQ(tbtest::exit_code_of(agent.wait_exit(std::chrono::seconds(10)).value_or(-1)), 0);
  const json a = json::parse(bridge_->cli({"tickets", "show", "OFFA"}).out);
  EXPECT_EQ(a["entries"], 1);
  EXPECT_EQ(a["last_scans"].size(), 2U);  // both scans audited, the second refused
  const json b = json::parse(bridge_->cli({"tickets", "show", "OFFB"}).out);
  EXPECT_EQ(b["entries"], 1);
}

// The bridge's feed (gate_sync.hpp) as it streams: a gate online while another gate lets a signed
// ticket in, and while the backend revokes one, knows both when its own outage comes, and
// refuses them offline; a ticket nobody used still goes in.
TEST_F(Agent, AGateHearsWhatOtherGatesLetInAndRefusesItOffline) {
  std::string pub;
  std::map<std::string, std::string> signed_codes;
  // A snapshot interval longer than the test: the news comes as updates.
  ASSERT_NO_FATAL_FAILURE(start_signing_venue({"FEEDU", "FEEDR", "FEEDF"}, pub, signed_codes,
                                              {"--gate-feed-interval", "1h"}));
  auto north =
      spawn_agent({"--timeout", "0.3", "--retry", "0.5", "--debounce", "0", "--offline-key", pub});
  ASSERT_TRUE(
      tbtest::wait_until([&] { return north.log().find("connected to") != std::string::npos; },
                         std::chrono::seconds(10)));
  const auto at_south = run_south(signed_codes["FEEDU"] + "\n");
  ASSERT_NE(at_south.out.find("ADMIT   FEEDU"), std::string::npos) << at_south.out << at_south.err;
  const auto revoked =
      tbtest::http_request(bridge_->http_port(), "DELETE", "/api/v1/tickets/FEEDR", {},
                           std::string("Authorization: Bearer ") + Bridge::kApiKey + "\r\n");
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  ASSERT_TRUE(wait_for_feed(dir_.file("agent.journal"), 1, 1));

  broker_->stop();
  for (const std::string code : {"FEEDU", "FEEDR", "FEEDF"}) {
    north.write_stdin(signed_codes[code] + "\n");
  }
  ASSERT_TRUE(tbtest::wait_until([&] { return count(north.log(), "[OFFLINE decision") == 3; },
                                 std::chrono::seconds(10)))
      << north.log();
  const std::string log = north.log();
  EXPECT_EQ(count(log, "REJECT  FEEDU  already used"), 1U) << log;
  EXPECT_EQ(count(log, "REJECT  FEEDR  ticket revoked"), 1U) << log;
  EXPECT_EQ(count(log, "ADMIT   FEEDF"), 1U) << log;
  north.stop();
}

// A gate that starts after the news, with an empty journal, hears it from the snapshot (retained,
// or published as it changes): the update of the entry went out before it subscribed, and a
// ticket revoked with the CLI is seen by no running bridge but in the store.
TEST_F(Agent, AGateStartedLaterHearsTheSnapshot) {
  std::string pub;
  std::map<std::string, std::string> signed_codes;
  ASSERT_NO_FATAL_FAILURE(
      start_signing_venue({"SNAPU", "SNAPR"}, pub, signed_codes, {"--gate-feed-interval", "1"}));
  const auto at_south = run_south(signed_codes["SNAPU"] + "\n");
  ASSERT_NE(at_south.out.find("ADMIT   SNAPU"), std::string::npos) << at_south.out << at_south.err;
  ASSERT_EQ(bridge_->cli({"tickets", "revoke", "SNAPR"}).exit_code, 0);

  auto east = spawn_agent({"--timeout", "0.3", "--debounce", "0", "--offline-key", pub});
  ASSERT_TRUE(wait_for_feed(dir_.file("agent.journal"), 1, 1)) << east.log();
  broker_->stop();
  for (const std::string code : {"SNAPU", "SNAPR"}) east.write_stdin(signed_codes[code] + "\n");
  ASSERT_TRUE(tbtest::wait_until([&] { return count(east.log(), "[OFFLINE decision") == 2; },
                                 std::chrono::seconds(10)))
      << east.log();
  EXPECT_EQ(count(east.log(), "REJECT  SNAPU  already used"), 1U) << east.log();
  EXPECT_EQ(count(east.log(), "REJECT  SNAPR  ticket revoked"), 1U) << east.log();
  east.stop();
}

// A gate given a key file that is no public key refuses to start, naming the file.
TEST_F(Agent, ABadOfflineKeyStopsTheAgent) {
  const std::string bad = dir_.file("bad.pem");
  tbtest::write_file(bad, "not a key\n");
  const auto r = run_agent("", {"--offline-key", bad});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bad.pem"), std::string::npos) << r.err;
}

// Reconciliation (docs/offline.md): a gate cut off from the broker decides alone, among them a
// ticket another gate let in during the outage (it cannot know). Back online, the bridge holds each
// offline decision once, the one that clashes is recorded as a conflict, and the owner's events
// stay consecutive.
TEST_F(Agent, OfflineDecisionsReachTheBridgeOnceAndAClashIsAConflict) {
  std::string pub;
  std::map<std::string, std::string> signed_codes;
  ASSERT_NO_FATAL_FAILURE(start_signing_venue({"RECA", "RECC"}, pub, signed_codes));
  const std::vector<std::string> flags = {"--timeout",  "0.3", "--retry",       "0.5",
                                          "--debounce", "0",   "--offline-key", pub};
  // Gate north was online (it heard the bridge's feed), then its network was cut.
  {
    auto north = spawn_agent(flags);
    ASSERT_TRUE(
        tbtest::wait_until([&] { return north.log().find("connected to") != std::string::npos; },
                           std::chrono::seconds(10)));
    north.close_stdin();
    ASSERT_EQ(tbtest::exit_code_of(north.wait_exit(std::chrono::seconds(10)).value_or(-1)), 0);
  }
  // During the outage, gate south lets RECC in, online: north cannot know.
  const auto at_south = run_south(signed_codes["RECC"] + "\n");
  ASSERT_NE(at_south.out.find("ADMIT   RECC"), std::string::npos) << at_south.out << at_south.err;

  // North, cut off: it cannot reach the broker.
  auto cut = agent_args(flags);
  cut[2] = "mqtt://127.0.0.1:" + std::to_string(tbtest::free_port());
  {
    tbtest::Child north(cut, dir_.file("north-cut.out"), {}, {}, true);
    for (const std::string code : {"RECA", "RECA", "RECC"})
      north.write_stdin(signed_codes[code] + "\n");
    ASSERT_TRUE(tbtest::wait_until([&] { return count(north.log(), "[OFFLINE decision") == 3; },
                                   std::chrono::seconds(10)))
        << north.log();
    const std::string log = north.log();
    EXPECT_EQ(count(log, "ADMIT   RECA"), 1U) << log;
    EXPECT_EQ(count(log, "REJECT  RECA  already used at north"), 1U) << log;
    EXPECT_EQ(count(log, "ADMIT   RECC"), 1U) << log;  // let in at south: not known here
    north.stop();
  }

  // The network is back: the journal goes out with the gate's verdicts.
  auto north = spawn_agent(flags);
  ASSERT_TRUE(tbtest::wait_until(
      [&] {
        const auto log = north.log();
        return count(log, "agrees with the offline decision") +
                   count(log, "differs from the offline decision") ==
               3;
      },
      std::chrono::seconds(30)))
      << north.log();
  EXPECT_EQ(count(north.log(), "agrees with the offline decision"), 2U) << north.log();
  EXPECT_EQ(count(north.log(), "REJECT  RECC  already used at south"), 1U) << north.log();
  EXPECT_EQ(count(north.log(), "[CONFLICT with the offline decision"), 1U) << north.log();
  north.close_stdin();
  EXPECT_EQ(tbtest::exit_code_of(north.wait_exit(std::chrono::seconds(10)).value_or(-1)), 0);

  const json a = json::parse(bridge_->cli({"tickets", "show", "RECA"}).out);
  EXPECT_EQ(a["entries"], 1);
  ASSERT_EQ(a["last_scans"].size(), 2U);
  for (const auto& scan : a["last_scans"]) {
    EXPECT_EQ(scan["offline"]["status"], scan["status"]) << scan;
    EXPECT_EQ(scan["conflict"], false) << scan;
  }
  const json c = json::parse(bridge_->cli({"tickets", "show", "RECC"}).out);
  EXPECT_EQ(c["entries"], 1);  // counted once, at south
  ASSERT_EQ(c["last_scans"].size(), 2U);
  EXPECT_EQ(c["last_scans"][0]["gate"], "north");
  EXPECT_EQ(c["last_scans"][0]["status"], "rejected");
  EXPECT_EQ(c["last_scans"][0]["reason"], "already_used");
  EXPECT_EQ(c["last_scans"][0]["offline"]["status"], "admitted");
  EXPECT_EQ(c["last_scans"][0]["conflict"], true);
  EXPECT_EQ(c["last_scans"][1]["offline"], nullptr);
  EXPECT_EQ(bridge_->metric("ticket_bridge_offline_conflicts_total"), 1);

  // The owner's events: consecutive, one per decided scan, the clash told once.
  tb::sql::Db db(bridge_->db(), false);
  auto events = db.prepare("SELECT seq, body FROM events WHERE uid = '42' ORDER BY seq");
  std::vector<std::string> types;
  std::int64_t expected = 1;
  while (events.step()) {
    EXPECT_EQ(events.int64(0), expected++);
    types.push_back(json::parse(events.text(1))["type"]);
  }
  EXPECT_EQ(types, (std::vector<std::string>{"ticket.admitted", "ticket.admitted",
                                             "ticket.rejected", "ticket.conflict"}));
}

}  // namespace
}  // namespace tbtest_agent
