// scanner-agent through outages: scans kept while the broker is away, across a killed agent, a
// backlog sent whole, and a full queue.
#include "agent_fixture.hpp"

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
  broker_ = std::make_unique<tbtest::Mosquitto>(dir_, tbtest::persistent_broker_config(dir_));
  start_bridge();
  const auto keys = bridge_->cli({"keys", "init"});
  ASSERT_EQ(keys.exit_code, 0) << keys.err;
  std::string pub = keys.out;
  while (!pub.empty() && (pub.back() == '\n' || pub.back() == ' ')) pub.pop_back();
  std::map<std::string, std::string> signed_codes;
  for (const std::string code : {"OFFA", "OFFB"}) {
    const auto r = bridge_->cli({"tickets", "add", "--uid", "42", "--code", code});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    signed_codes[code] = json::parse(r.out)["signed_code"];
  }
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

// A gate given a key file that is no public key refuses to start, naming the file.
TEST_F(Agent, ABadOfflineKeyStopsTheAgent) {
  const std::string bad = dir_.file("bad.pem");
  tbtest::write_file(bad, "not a key\n");
  const auto r = run_agent("", {"--offline-key", bad});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bad.pem"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tbtest_agent
