// A hostile crowd on the WebSocket: a cap on connections per uid, and a WebSocket over the
// per-source cap, both closed with 1013 (try again later) instead of being served.
#include "ws_fixture.hpp"

namespace tbtest_ws {
namespace {

class WsCaps : public Ws {
 protected:
  // A new connection of `uid` is served again (a slot was given back) within a few seconds.
  bool served_again(const std::string& uid) {
    return tbtest::wait_until(
        [&] {
          auto again = connect();
          again->hello(token_for(uid));
          return next_json(*again, std::chrono::seconds(1))["type"] == "welcome";
        },
        std::chrono::seconds(5));
  }
};

TEST_F(WsCaps, AUidOverItsConnectionCapIsClosedWith1013) {
  restart({"--max-ws-per-uid", "2"});
  auto a = connect();
  auto b = connect();
  a->hello(token_for("capped"));
  b->hello(token_for("capped"));
  ASSERT_EQ(next_json(*a)["type"], "welcome");
  ASSERT_EQ(next_json(*b)["type"], "welcome");
  auto third = connect();
  third->hello(token_for("capped"));
  EXPECT_EQ(third->wait_closed(), 1013);
  // Another uid is not affected, and a slot that is given back can be taken again.
  auto other = connect();
  other->hello(token_for("free"));
  EXPECT_EQ(next_json(*other)["type"], "welcome");
  a->close();
  ASSERT_TRUE(served_again("capped"));
  const auto m = tbtest::http_request(bridge_->http_port(), "GET", "/metrics");
  EXPECT_NE(m.body.find("ticket_bridge_connections_refused_total{cap=\"per_uid\"} 1"),
            std::string::npos)
      << m.body;
}

TEST_F(WsCaps, AWebSocketOverTheSourceCapIsClosedWith1013) {
  restart({"--max-connections-per-source", "3"});
  std::vector<std::unique_ptr<WsClient>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(connect());
    held.back()->hello(token_for("u" + std::to_string(i)));
    ASSERT_EQ(next_json(*held.back())["type"], "welcome");
  }
  auto over = connect();
  EXPECT_EQ(over->wait_closed(), 1013);
  held.pop_back();  // a slot goes back
  ASSERT_TRUE(served_again("late"));
}

}  // namespace
}  // namespace tbtest_ws
