// scanner-agent as a real process: payloads, answers, debounce, hostile lines, stops, hooks,
// status.
#include "agent_fixture.hpp"
#include "signed_code.hpp"

namespace tbtest_agent {
namespace {

TEST_F(Agent, PublishesTheScanPayloadWithAResponseTopic) {
  tbtest::TestClient watcher(broker_->url(), "watcher");
  watcher.subscribe("tickets/scan");
  const auto before = tb::now_ms();
  const auto r = run_agent("TB7QK2M9XW4R\r\n", {"--timeout", "0.3", "--direction", "out"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto m = watcher.next("tickets/scan");
  ASSERT_TRUE(m);
  const json p = json::parse(m->payload);
  EXPECT_EQ(p["code"], "TB7QK2M9XW4R");
  EXPECT_EQ(p["scanner"], "gate-n-1");
  EXPECT_EQ(p["gate"], "north");
  EXPECT_EQ(p["direction"], "out");
  EXPECT_TRUE(std::regex_match(p["scan_id"].get<std::string>(),
                               std::regex("gate-n-1:[0-9a-f]{8}:[0-9]{6,}")))
      << p["scan_id"];
  const auto at = tb::parse_rfc3339(p["scanned_at"].get<std::string>());
  ASSERT_TRUE(at);
  EXPECT_GE(*at, before);
  EXPECT_EQ(m->response_topic, "tickets/result/gate-n-1");
  EXPECT_EQ(m->correlation, p["scan_id"].get<std::string>());
  // No bridge answered: staff are told to check by hand.
  EXPECT_NE(r.out.find("NO ANSWER - check manually  TB7QK2M9XW4R"), std::string::npos) << r.out;
}

TEST_F(Agent, ShowsTheBridgesAnswers) {
  start_bridge();
  add_ticket("AG1");
  const auto r = run_agent("AG1\nNOPE\n", {"--debounce", "0"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 2U) << r.out;
  EXPECT_EQ(out[0], "ADMIT   AG1  A. Example  welcome");
  EXPECT_EQ(out[1], "REJECT  NOPE  unknown ticket");

  const auto again = run_agent("AG1\n", {"--json"});
  const json j = json::parse(lines_of(again.out).at(0));
  EXPECT_EQ(j["event"], "answer");
  EXPECT_EQ(j["status"], "rejected");
  EXPECT_EQ(j["reason"], "already_used");
  EXPECT_EQ(j["previous"]["gate"], "north");
  EXPECT_EQ(j["message"].get<std::string>().rfind("already used at north, ", 0), 0U);
}

// --log-format json: every line on stderr is one JSON object; a scan's lines carry its fields.
TEST_F(Agent, JsonLogsAreOneObjectPerLineWithTheScansFields) {
  start_bridge();
  add_ticket("AGJ1");
  const auto r = run_agent("AGJ1\n", {"--log-format", "json", "--log-level", "debug"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::optional<json> journaled, shown;
  const auto lines = lines_of(r.err);
  ASSERT_FALSE(lines.empty());
  for (const auto& line : lines) {
    const json j = json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << "not one JSON object: " << line;
    EXPECT_TRUE(j["time"].is_string() && j["level"].is_string() && j["message"].is_string())
        << line;
    if (j["message"] == "scan journaled, to be sent") journaled = j;
    if (j["message"] == "answer shown") shown = j;
  }
  ASSERT_TRUE(journaled) << r.err;
  ASSERT_TRUE(shown) << r.err;
  EXPECT_EQ((*journaled)["code"], "AGJ1");
  EXPECT_EQ((*journaled)["gate"], "north");
  EXPECT_EQ((*journaled)["scanner"], "gate-n-1");
  EXPECT_EQ((*shown)["scan_id"], (*journaled)["scan_id"]);
  EXPECT_EQ((*shown)["status"], "admitted");
  EXPECT_EQ((*shown)["late"], 0);
  EXPECT_TRUE(tb::parse_rfc3339((*shown)["time"].get<std::string>()));
  EXPECT_EQ(tbtest::run(agent_args({"--log-format", "xml"})).exit_code, 2);
}

// A burst of codes (a piped file, codes typed during a stall) is journaled and sent one by one:
// no scan's NO ANSWER deadline runs while it still waits behind the others' journal writes.
TEST_F(Agent, ABurstOfCodesIsAnsweredWithoutNoAnswer) {
  start_bridge();
  constexpr int kCodes = 400;
  std::string input;
  for (int i = 0; i < kCodes; ++i) input += "BURST" + std::to_string(i) + "\n";
  const auto r = run_agent(input, {"--timeout", "0.25", "--debounce", "0"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count(r.out, "NO ANSWER"), 0U) << r.out.substr(0, 2000);
  EXPECT_EQ(count(r.out, "REJECT"), static_cast<std::size_t>(kCodes));
}

TEST_F(Agent, DoubleReadsCountOnce) {
  tbtest::TestClient watcher(broker_->url(), "watcher");
  watcher.subscribe("tickets/scan");
  run_agent("D1\nD1\nD2\nD1\n", {"--timeout", "0.2"});
  std::vector<std::string> codes;
  while (auto m = watcher.next("tickets/scan", std::chrono::milliseconds(500))) {
    codes.push_back(json::parse(m->payload)["code"]);
  }
  EXPECT_EQ(codes, (std::vector<std::string>{"D1", "D2"}));
}

// A signed code (SPEC.md v1.1) is sent in upper case, however it was read: Caps Lock on a wedge
// scanner makes a double read of it one scan.
TEST_F(Agent, ASignedCodeIsSentInUpperCaseAndItsDoubleReadCountsOnce) {
  const auto key = tb::SigningKey::generate();
  tb::CodeClaims c;
  c.code = "TB7QK2M9XW4R";
  const std::string code = key.sign(c);
  std::string lower = code;
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  tbtest::TestClient watcher(broker_->url(), "watcher");
  watcher.subscribe("tickets/scan");
  run_agent(lower + "\n" + code + "\n", {"--timeout", "0.2"});
  std::vector<std::string> codes;
  while (auto m = watcher.next("tickets/scan", std::chrono::milliseconds(500))) {
    codes.push_back(json::parse(m->payload)["code"]);
  }
  EXPECT_EQ(codes, std::vector<std::string>{code});
}

TEST_F(Agent, HostileLinesAreRefusedNotSent) {
  tbtest::TestClient watcher(broker_->url(), "watcher");
  watcher.subscribe("tickets/scan");
  const std::string input = std::string(5000, 'A') + "\n" + "has space\n" + "a/b\n" +
                            "\x1b[31mred\n" + "\xff\xfe\n" + std::string(129, 'B') + "\n";
  const auto r = run_agent(input, {"--timeout", "0.2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count(r.out, "unreadable code, not sent"), 6U) << r.out;
  EXPECT_FALSE(watcher.next("tickets/scan", std::chrono::milliseconds(500)));
}

// An input that ends at once stops the agent while its first connect is still in flight: the
// agent must let that attempt end before it tears the MQTT client down, and exit 0 every time.
TEST_F(Agent, InputThatEndsAtOnceStopsCleanlyDuringTheFirstConnect) {
  for (int i = 0; i < 25; ++i) {
    const auto r = run_agent(i % 2 == 0 ? "" : "not a code\n");
    ASSERT_EQ(r.exit_code, 0) << "run " << i << ":\n" << r.err;
  }
}

// The same against a broker that accepts the TCP connection and never answers CONNECT: the first
// connect is in flight at the stop (one scan keeps the agent up past the connect's start while it
// waits for the answer), and stays so until Paho gives up on it. The agent waits for that (it must
// not tear the client down mid-connect), sees the attempt fail, and exits 0 with the scan kept.
TEST_F(Agent, StopWaitsOutAConnectToASilentBroker) {
  const int silent = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(silent, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(silent, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(listen(silent, 8), 0);  // the kernel completes handshakes; nobody ever reads
  ASSERT_EQ(getsockname(silent, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  auto args = agent_args();
  args.at(2) = "mqtt://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  const auto started = std::chrono::steady_clock::now();
  args.insert(args.end(), {"--timeout", "0.3"});
  const auto r = tbtest::run(args, {}, "SILENT1\n", std::chrono::seconds(30));
  const auto took = std::chrono::steady_clock::now() - started;
  close(silent);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("NO ANSWER"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("unreachable"), std::string::npos) << "the connect did not end first:\n"
                                                          << r.err;
  EXPECT_EQ(r.err.find("did not end in time"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("1 unanswered scans stay queued"), std::string::npos) << r.err;
  EXPECT_LT(took, std::chrono::seconds(20));  // the stop is bounded
}

TEST_F(Agent, HooksGetTheScanInTheEnvironment) {
  start_bridge();
  add_ticket("H1", "Jane Doe");
  const std::string log = dir_.file("hooks.log");
  const auto r =
      run_agent("H1\nH1X\n",
                {"--on-admit", "echo \"admit $TB_CODE $TB_STATUS $TB_HOLDER $TB_GATE\" >> " + log,
                 "--on-reject", "echo \"reject $TB_CODE $TB_REASON\" >> " + log});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(tbtest::wait_until([&] { return count(tbtest::read_file(log), "\n") == 2; },
                                 std::chrono::seconds(5)));
  const std::string hooks = tbtest::read_file(log);
  EXPECT_NE(hooks.find("admit H1 admitted Jane Doe north"), std::string::npos) << hooks;
  EXPECT_NE(hooks.find("reject H1X unknown"), std::string::npos) << hooks;
}

TEST_F(Agent, HooksRunWithoutBlockingTheNextScan) {
  // Each hook waits until the test releases it: the agent must go on meanwhile.
  const std::string log = dir_.file("timeout.log"), release = dir_.file("release");
  auto agent = spawn_agent({"--timeout", "0.3", "--on-timeout",
                            "while [ ! -e " + release +
                                " ]; do sleep 0.05; done; "
                                "echo \"$TB_CODE $TB_STATUS\" >> " +
                                log});
  agent.write_stdin("T1\nT2\n");
  EXPECT_TRUE(tbtest::wait_until([&] { return count(agent.log(), "NO ANSWER") == 2; },
                                 std::chrono::seconds(10)))
      << "the second scan waited for the first scan's hook: " << agent.log();
  EXPECT_EQ(tbtest::read_file(log), "");
  tbtest::write_file(release, "");
  ASSERT_TRUE(tbtest::wait_until([&] { return count(tbtest::read_file(log), "\n") == 2; },
                                 std::chrono::seconds(10)));
  EXPECT_NE(tbtest::read_file(log).find("T1 no_answer"), std::string::npos);
  EXPECT_NE(tbtest::read_file(log).find("T2 no_answer"), std::string::npos);
}

TEST_F(Agent, RetainedStatusAndUsage) {
  tbtest::TestClient watcher(broker_->url(), "watcher");
  watcher.subscribe("scanners/+/status");
  auto agent = spawn_agent();
  auto m = watcher.next("scanners/gate-n-1/status");
  ASSERT_TRUE(m);
  EXPECT_EQ(json::parse(m->payload)["state"], "online");
  agent.stop(SIGKILL);
  m = watcher.next("scanners/gate-n-1/status", std::chrono::seconds(60));
  ASSERT_TRUE(m);
  EXPECT_EQ(json::parse(m->payload)["state"], "offline");

  EXPECT_EQ(tbtest::run({tbtest::agent_bin(), "--help"}).exit_code, 0);
  EXPECT_EQ(tbtest::run({tbtest::agent_bin(), "--gate", "g"}).exit_code, 2);  // no --id
  EXPECT_EQ(tbtest::run({tbtest::agent_bin(), "--id", "a/b", "--gate", "g"}).exit_code, 2);
  EXPECT_EQ(
      tbtest::run({tbtest::agent_bin(), "--id", "a", "--gate", "g", "--input", "usb"}).exit_code,
      2);
  EXPECT_EQ(
      tbtest::run({tbtest::agent_bin(), "--id", "a", "--gate", "g", "--direction", "up"}).exit_code,
      2);
}

}  // namespace
}  // namespace tbtest_agent
