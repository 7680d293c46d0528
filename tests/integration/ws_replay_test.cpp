// The WebSocket replay: what was missed, across a restart and retention, and no gap or duplicate
// at the boundary between the replay and live events.
#include "ws_fixture.hpp"

namespace tbtest_ws {
namespace {

TEST_F(Ws, ReplaysWhatWasMissedThenGoesLive) {
  for (int i = 1; i <= 3; ++i) ASSERT_EQ(push("42", i).status, 202);
  auto c = connect();
  c->hello(token_for("42"), 1);
  EXPECT_EQ(next_json(*c),
            (json{{"type", "welcome"}, {"uid", "42"}, {"seq", 3}, {"recovered", true}}));
  EXPECT_EQ(next_json(*c)["seq"], 2);
  EXPECT_EQ(next_json(*c)["seq"], 3);
  push("42", 4);
  EXPECT_EQ(next_json(*c)["seq"], 4);

  // Without since: no replay, only what comes next.
  auto fresh = connect();
  fresh->hello(token_for("42"));
  EXPECT_EQ(next_json(*fresh)["seq"], 4);
  EXPECT_FALSE(fresh->next(std::chrono::milliseconds(300)));

  // A since ahead of the log: not recovered.
  auto ahead = connect();
  ahead->hello(token_for("42"), 99);
  const json w = next_json(*ahead);
  EXPECT_EQ(w["recovered"], false);
  EXPECT_EQ(w["seq"], 4);
}

TEST_F(Ws, ReplayAcrossARestartAndRetention) {
  for (int i = 1; i <= 5; ++i) ASSERT_EQ(push("42", i).status, 202);
  restart({"--retention-events", "2"});  // pruning runs at start
  auto c = connect();
  c->hello(token_for("42"), 0);
  const json w = next_json(*c);
  EXPECT_EQ(w["seq"], 5);
  EXPECT_EQ(w["recovered"], false);  // 1..3 are gone
  EXPECT_EQ(next_json(*c)["seq"], 4);
  EXPECT_EQ(next_json(*c)["seq"], 5);
  auto d = connect();
  d->hello(token_for("42"), 3);
  EXPECT_EQ(next_json(*d)["recovered"], true);  // everything after 3 is held
  EXPECT_EQ(next_json(*d)["data"], 4);
  ASSERT_EQ(push("42", 6).status, 202);
  EXPECT_EQ(json::parse(push("42", 7).body)["seq"], 7);  // seq continues across the restart
}

TEST_F(Ws, AReplayManyTimesTheSendQueueBoundArrivesWholeAndInOrder) {
  auto first = connect();
  first->hello(token_for("big"));
  const std::int64_t since = next_json(*first)["seq"];
  first->close();
  // 4 MB of pushes while the owner is away: 16 times the default send-queue bound (256 KiB).
  constexpr int kEvents = 256;
  const std::string filler(16 * 1024, 'x');
  for (int i = 0; i < kEvents; ++i) {
    ASSERT_EQ(push("big", {{"i", i}, {"filler", filler}}).status, 202);
  }
  auto c = connect();
  c->hello(token_for("big"), since);
  const json w = next_json(*c);
  ASSERT_EQ(w["type"], "welcome") << w;
  EXPECT_EQ(w["seq"], since + kEvents);
  EXPECT_EQ(w["recovered"], true);
  for (int i = 0; i < kEvents; ++i) {
    const json e = next_json(*c);
    ASSERT_EQ(e["type"], "push") << "event " << i << ": " << e.dump().substr(0, 200);
    ASSERT_EQ(e["seq"], since + i + 1);
    ASSERT_EQ(e["data"]["i"], i);
  }
  // Then live, on the same connection.
  ASSERT_EQ(push("big", "live").status, 202);
  EXPECT_EQ(next_json(*c)["data"], "live");
  EXPECT_FALSE(c->wait_closed(std::chrono::milliseconds(10)).has_value());
}

TEST_F(Ws, NoGapNoDuplicateAtTheReplayLiveBoundary) {
  restart({"--max-ws-per-uid", "64"});  // up to 30 connections of one uid join below
  constexpr int kEvents = 300;
  std::atomic<bool> done{false};
  std::thread pusher([&] {
    for (int i = 0; i < kEvents; ++i) ASSERT_EQ(push("7", i).status, 202);
    done = true;
  });
  // Clients join while events are being committed, each from the seq it last saw.
  std::vector<std::pair<std::int64_t, std::unique_ptr<WsClient>>> clients;
  std::int64_t since = 0;
  while (!done && clients.size() < 30) {
    auto c = connect();
    c->hello(token_for("7"), since);
    clients.emplace_back(since, std::move(c));
    since += 7;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  pusher.join();
  ASSERT_GT(clients.size(), 3U);
  for (auto& [from, c] : clients) {
    SCOPED_TRACE("since " + std::to_string(from));
    const json w = next_json(*c);
    ASSERT_EQ(w["type"], "welcome");
    std::int64_t expect = from + 1;
    if (from > w["seq"].get<std::int64_t>()) expect = w["seq"].get<std::int64_t>() + 1;
    while (expect <= kEvents) {
      const json e = next_json(*c);
      ASSERT_FALSE(e.is_null()) << "missing seq " << expect;
      ASSERT_EQ(e["seq"], expect);
      ++expect;
    }
    EXPECT_FALSE(c->next(std::chrono::milliseconds(50))) << "duplicate after the last event";
  }
}

}  // namespace
}  // namespace tbtest_ws
