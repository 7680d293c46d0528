// scanner-agent as a real process, against a real mosquitto (and the real bridge where the answer
// matters): payloads, answers, debounce, hooks, outages, restarts, serial and evdev input.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/input.h>
#include <netinet/in.h>
#include <pty.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "brokers.hpp"
#include "timeutil.hpp"

namespace {

using nlohmann::json;
using tbtest::Bridge;
using tbtest::TempDir;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    out.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

class Agent : public ::testing::Test {
 protected:
  void SetUp() override { broker_ = std::make_unique<tbtest::Mosquitto>(dir_); }

  void start_bridge() {
    bridge_ = std::make_unique<Bridge>(dir_, broker_->url());
    ASSERT_TRUE(bridge_->start()) << bridge_->log();
  }

  void add_ticket(const std::string& code, const std::string& holder = "A. Example") {
    ASSERT_EQ(bridge_->cli({"tickets", "add", "--uid", "42", "--code", code, "--holder", holder})
                  .exit_code,
              0);
  }

  std::vector<std::string> agent_args(std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {tbtest::agent_bin(),
                                  "--broker",
                                  broker_->url(),
                                  "--id",
                                  "gate-n-1",
                                  "--gate",
                                  "north",
                                  "--journal",
                                  dir_.file("agent.journal")};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  // Runs the agent over `input` on stdin to the end.
  tbtest::RunResult run_agent(const std::string& input, std::vector<std::string> extra = {}) {
    return tbtest::run(agent_args(std::move(extra)), {}, input, std::chrono::seconds(30));
  }

  // A long-running agent fed through a pipe.
  tbtest::Child spawn_agent(std::vector<std::string> extra = {}) {
    return tbtest::Child(agent_args(std::move(extra)), dir_.file("agent.out"), {}, {}, true);
  }

  TempDir dir_;
  std::unique_ptr<tbtest::Mosquitto> broker_;
  std::unique_ptr<Bridge> bridge_;
};

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

TEST_F(Agent, BrokerDownScansAreKeptAndDeliveredInOrderOnce) {
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

TEST_F(Agent, SerialScannerThroughAPseudoTerminal) {
  int master = -1, slave = -1;
  char name[256];
  ASSERT_EQ(openpty(&master, &slave, name, nullptr, nullptr), 0);
  tbtest::TestClient watcher(broker_->url(), "watcher");
  watcher.subscribe("tickets/scan");
  auto agent =
      spawn_agent({"--input", std::string("serial:") + name + ":115200", "--timeout", "0.2"});
  ASSERT_TRUE(tbtest::wait_until(
      [&] { return agent.log().find("reading scans from") != std::string::npos; },
      std::chrono::seconds(10)))
      << agent.log();
  const std::string typed = "SER1\rSER2\r\n";
  ASSERT_EQ(write(master, typed.data(), typed.size()), static_cast<ssize_t>(typed.size()));
  std::vector<std::string> codes;
  while (auto m = watcher.next("tickets/scan", std::chrono::seconds(3))) {
    codes.push_back(json::parse(m->payload)["code"]);
    if (codes.size() == 2) break;
  }
  EXPECT_EQ(codes, (std::vector<std::string>{"SER1", "SER2"}));
  EXPECT_EQ(tbtest::exit_code_of(agent.stop(SIGTERM)), 0);
  close(master);
  close(slave);
}

// A USB-serial scanner unplugged and plugged in again. The agent reads a stable path (as a udev
// symlink such as /dev/serial/by-id/... would be) that points at one pseudo-terminal, then at
// none (the master side hung up and the link is gone), then at a new one.
TEST_F(Agent, SerialScannerUnpluggedAndPluggedInAgain) {
  const std::string path = dir_.file("scanner-tty");
  int master = -1, slave = -1;
  char name[256];
  // Close-on-exec: an agent that inherited the master would keep the line from hanging up.
  const auto plug_in = [&] {
    return openpty(&master, &slave, name, nullptr, nullptr) == 0 &&
           fcntl(master, F_SETFD, FD_CLOEXEC) == 0 && fcntl(slave, F_SETFD, FD_CLOEXEC) == 0 &&
           symlink(name, path.c_str()) == 0;
  };
  ASSERT_TRUE(plug_in());
  tbtest::TestClient watcher(broker_->url(), "watcher");
  watcher.subscribe("tickets/scan");
  auto agent = spawn_agent({"--input", "serial:" + path, "--timeout", "0.2"});
  const auto opened = [&](std::size_t times) {
    return tbtest::wait_until([&] { return count(agent.log(), "reading scans from") >= times; },
                              std::chrono::seconds(10));
  };
  const auto type_and_receive = [&](int fd, const std::string& code) -> std::string {
    const std::string typed = code + "\r";
    if (write(fd, typed.data(), typed.size()) != static_cast<ssize_t>(typed.size())) return {};
    const auto m = watcher.next("tickets/scan", std::chrono::seconds(5));
    return m ? json::parse(m->payload)["code"].get<std::string>() : std::string();
  };
  ASSERT_TRUE(opened(1)) << agent.log();
  EXPECT_EQ(type_and_receive(master, "PLUG1"), "PLUG1");

  // Unplugged: the line hangs up and the device node goes away.
  close(master);
  close(slave);
  ASSERT_EQ(unlink(path.c_str()), 0);
  ASSERT_TRUE(tbtest::wait_until([&] { return agent.log().find("went away") != std::string::npos; },
                                 std::chrono::seconds(10)))
      << agent.log();

  // Plugged in again: a new terminal behind the same path.
  ASSERT_TRUE(plug_in());
  ASSERT_TRUE(opened(2)) << agent.log();
  EXPECT_EQ(type_and_receive(master, "PLUG2"), "PLUG2");
  EXPECT_EQ(tbtest::exit_code_of(agent.stop(SIGTERM)), 0);
  close(master);
  close(slave);
}

TEST_F(Agent, EvdevScannerFromARecordedEventStream) {
  const std::string fifo = dir_.file("event0");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  tbtest::TestClient watcher(broker_->url(), "watcher");
  watcher.subscribe("tickets/scan");
  auto agent = spawn_agent({"--input", "evdev:" + fifo, "--timeout", "0.2"});
  const int fd = open(fifo.c_str(), O_WRONLY);  // waits for the agent to open its end
  ASSERT_GE(fd, 0);
  std::vector<input_event> events;
  const auto key = [&](int code, int value) {
    input_event e{};
    e.type = EV_KEY;
    e.code = static_cast<__u16>(code);
    e.value = value;
    events.push_back(e);
    input_event syn{};
    syn.type = EV_SYN;
    events.push_back(syn);
  };
  for (const auto& [code, shifted] : std::vector<std::pair<int, bool>>{
           {KEY_E, true}, {KEY_V, true}, {KEY_1, false}, {KEY_MINUS, false}, {KEY_X, false}}) {
    if (shifted) key(KEY_LEFTSHIFT, 1);
    key(code, 1);
    key(code, 0);
    if (shifted) key(KEY_LEFTSHIFT, 0);
  }
  key(KEY_ENTER, 1);
  key(KEY_ENTER, 0);
  const auto bytes = events.size() * sizeof(input_event);
  ASSERT_EQ(write(fd, events.data(), bytes), static_cast<ssize_t>(bytes));
  const auto m = watcher.next("tickets/scan", std::chrono::seconds(5));
  ASSERT_TRUE(m) << agent.log();
  EXPECT_EQ(json::parse(m->payload)["code"], "EV1-x");
  close(fd);
  EXPECT_EQ(tbtest::exit_code_of(agent.stop(SIGTERM)), 0);
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
