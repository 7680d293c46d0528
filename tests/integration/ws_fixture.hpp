// The WebSocket gateway with real clients over real sockets, against a real bridge and broker:
// the fixture of ws_test.cpp and ws_replay_test.cpp.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "brokers.hpp"
#include "jwt.hpp"
#include "ws_client.hpp"

namespace tbtest_ws {

using nlohmann::json;
using tbtest::Bridge;
using tbtest::WsClient;

inline std::string token_for(const std::string& uid, std::int64_t ttl = 3600,
                             const std::string& secret = Bridge::kSecret) {
  return tb::sign_token(uid, ttl, secret, tb::now_ms() / 1000);
}

inline std::string auth_header() {
  return std::string("Authorization: Bearer ") + Bridge::kApiKey + "\r\n";
}

class Ws : public ::testing::Test {
 protected:
  void SetUp() override { start({}); }

  void start(std::vector<std::string> extra) {
    if (!broker_) broker_ = std::make_unique<tbtest::Mosquitto>(dir_);
    bridge_ = std::make_unique<Bridge>(dir_, broker_->url(), std::move(extra));
    ASSERT_TRUE(bridge_->start()) << bridge_->log();
  }

  void restart(std::vector<std::string> extra) {
    const auto port = bridge_->http_port();
    (void)port;
    ASSERT_EQ(bridge_->stop(SIGTERM), 0);
    bridge_->set_extra_args(std::move(extra));
    ASSERT_TRUE(bridge_->start()) << bridge_->log();
  }

  tbtest::HttpReply push(const std::string& uid, const json& data) {
    return tbtest::http_request(bridge_->http_port(), "POST", "/api/v1/push",
                                json{{"uid", uid}, {"data", data}}.dump(), auth_header());
  }

  std::unique_ptr<WsClient> connect(bool read = true, int rcvbuf = 0) {
    return std::make_unique<WsClient>(loop_, bridge_->http_port(), read, rcvbuf);
  }

  static json next_json(WsClient& c, std::chrono::milliseconds t = std::chrono::seconds(5)) {
    auto m = c.next(t);
    return m ? json::parse(*m) : json();
  }

  tbtest::TempDir dir_;
  std::unique_ptr<tbtest::Mosquitto> broker_;
  std::unique_ptr<Bridge> bridge_;
  tbtest::WsLoop loop_;  // after the bridge: destroyed before it, with its clients gone
};

}  // namespace tbtest_ws
