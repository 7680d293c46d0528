// The scanner agent as a real process against a real mosquitto (and the real bridge where the
// answer matters): the fixture of agent_test.cpp, agent_outage_test.cpp and agent_input_test.cpp.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/input.h>
#include <netinet/in.h>
#include <pty.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "brokers.hpp"
#include "sqlite.hpp"
#include "timeutil.hpp"

namespace tbtest_agent {

using nlohmann::json;
using tbtest::Bridge;
using tbtest::lines_of;
using tbtest::TempDir;

inline std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

class Agent : public ::testing::Test {
 protected:
  void SetUp() override { broker_ = std::make_unique<tbtest::Mosquitto>(dir_); }

  void start_bridge(std::vector<std::string> extra = {}) {
    bridge_ = std::make_unique<Bridge>(dir_, broker_->url(), std::move(extra));
    ASSERT_TRUE(bridge_->start()) << bridge_->log();
  }

  void add_ticket(const std::string& code, const std::string& holder = "A. Example") {
    ASSERT_EQ(bridge_->cli({"tickets", "add", "--uid", "42", "--code", code, "--holder", holder})
                  .exit_code,
              0);
  }

  // A broker that keeps sessions across its restart, a bridge with a signing key (its public key
  // file in `pub`), and tickets of uid 42 with these codes (their signed codes in `signed_codes`).
  void start_signing_venue(const std::vector<std::string>& codes, std::string& pub,
                           std::map<std::string, std::string>& signed_codes,
                           std::vector<std::string> bridge_args = {}) {
    broker_ = std::make_unique<tbtest::Mosquitto>(dir_, tbtest::persistent_broker_config(dir_));
    ASSERT_NO_FATAL_FAILURE(start_bridge(std::move(bridge_args)));
    const auto keys = bridge_->cli({"keys", "init"});
    ASSERT_EQ(keys.exit_code, 0) << keys.err;
    pub = keys.out;
    while (!pub.empty() && (pub.back() == '\n' || pub.back() == ' ')) pub.pop_back();
    for (const auto& code : codes) {
      const auto r = bridge_->cli({"tickets", "add", "--uid", "42", "--code", code});
      ASSERT_EQ(r.exit_code, 0) << r.err;
      signed_codes[code] = json::parse(r.out)["signed_code"];
    }
  }

  // Gate south (gate-s-1, its own journal) runs over `input` to the end, online.
  tbtest::RunResult run_south(const std::string& input) {
    auto south = agent_args({"--timeout", "2", "--debounce", "0"});
    south[4] = "gate-s-1";
    south[6] = "south";
    south[8] = dir_.file("south.journal");
    return tbtest::run(south, {}, input, std::chrono::seconds(30));
  }

  // Waits until the journal at `path` holds what the bridge's feed said of `used` tickets used
  // and `revoked` revoked (gate_sync.hpp).
  bool wait_for_feed(const std::string& path, int used, int revoked) {
    return tbtest::wait_until(
        [&] {
          try {
            tb::sql::Db db(path, false);
            auto s = db.prepare(
                "SELECT coalesce(sum(entries > 0), 0), coalesce(sum(revoked), 0) FROM synced");
            return s.step() && s.int64(0) >= used && s.int64(1) >= revoked;
          } catch (const std::exception&) {
            return false;  // not made yet
          }
        },
        std::chrono::seconds(15));
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

}  // namespace tbtest_agent
