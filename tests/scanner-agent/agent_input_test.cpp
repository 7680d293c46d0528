// scanner-agent reading real devices: serial scanners through a pseudo-terminal (also unplugged
// and plugged in again) and an evdev scanner from a recorded event stream.
#include "agent_fixture.hpp"

namespace tbtest_agent {
namespace {

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

}  // namespace
}  // namespace tbtest_agent
