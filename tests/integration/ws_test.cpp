// The WebSocket gateway: tokens, the hello deadline, who hears what, slow and silent clients,
// the shutdown, a thousand connections, and a client we did not write.
#include "ws_fixture.hpp"

namespace tbtest_ws {
namespace {

TEST_F(Ws, WelcomeThenLiveEventsFromScansAndPushes) {
  ASSERT_EQ(bridge_->cli({"tickets", "add", "--uid", "42", "--code", "W1"}).exit_code, 0);
  auto c = connect();
  c->hello(token_for("42"));
  const json w = next_json(*c);
  EXPECT_EQ(w, (json{{"type", "welcome"}, {"uid", "42"}, {"seq", 0}, {"recovered", true}}));

  tbtest::TestClient scanner(broker_->url(), "scanner");
  scanner.publish("tickets/scan", R"({"scan_id":"w:1","code":"W1","scanner":"s","gate":"north"})");
  const json e = next_json(*c);
  EXPECT_EQ(e["type"], "ticket.admitted");
  EXPECT_EQ(e["seq"], 1);
  EXPECT_EQ(e["code"], "W1");
  EXPECT_EQ(e["gate"], "north");

  const auto r = push("42", {{"hello", "world"}});
  EXPECT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(json::parse(r.body), (json{{"seq", 2}, {"delivered", 1}}));
  const json p = next_json(*c);
  EXPECT_EQ(p["type"], "push");
  EXPECT_EQ(p["seq"], 2);
  EXPECT_EQ(p["data"], (json{{"hello", "world"}}));
  EXPECT_TRUE(p["at"].is_string());
}

TEST_F(Ws, RefusesForgedExpiredAndMissingTokens) {
  const std::string hs256 = R"({"alg":"HS256","typ":"JWT"})";
  const auto exp = std::to_string(tb::now_ms() / 1000 + 3600);
  const std::vector<std::pair<std::string, std::string>> hellos = {
      {"wrong secret",
       json{{"type", "hello"}, {"token", token_for("42", 3600, "another-secret-0123456789")}}
           .dump()},
      {"expired", json{{"type", "hello"}, {"token", token_for("42", -10)}}.dump()},
      {"alg none",
       json{{"type", "hello"},
            {"token", tb::base64url_encode(R"({"alg":"none"})") + "." +
                          tb::base64url_encode(R"({"sub":"42","exp":)" + exp + "}") + "."}}
           .dump()},
      {"alg switch to HS512",
       json{{"type", "hello"},
            {"token", tb::sign_jwt(R"({"alg":"HS512"})", R"({"sub":"42","exp":)" + exp + "}",
                                   Bridge::kSecret)}}
           .dump()},
      {"missing exp",
       json{{"type", "hello"}, {"token", tb::sign_jwt(hs256, R"({"sub":"42"})", Bridge::kSecret)}}
           .dump()},
      {"no token", R"({"type":"hello"})"},
      {"token not a string", R"({"type":"hello","token":42})"},
      {"not JSON", "hello, I am uid 42"},
      {"self-declared uid (the old design)", R"({"type":"hello","uid":"42"})"},
      {"type not a string", json{{"type", 5}, {"token", token_for("42")}}.dump()},
      {"since not a number",
       json{{"type", "hello"}, {"token", token_for("42")}, {"since", "7"}}.dump()},
      {"negative since", json{{"type", "hello"}, {"token", token_for("42")}, {"since", -1}}.dump()},
  };
  for (const auto& [name, hello] : hellos) {
    SCOPED_TRACE(name);
    auto c = connect();
    c->send(hello);
    EXPECT_EQ(next_json(*c), (json{{"type", "error"}, {"reason", "unauthorized"}}));
    EXPECT_EQ(c->wait_closed(), 1008);
  }
  const auto m = tbtest::http_request(bridge_->http_port(), "GET", "/metrics");
  EXPECT_NE(m.body.find("ticket_bridge_ws_auth_failures_total " + std::to_string(hellos.size())),
            std::string::npos);
}

TEST_F(Ws, NoHelloInTimeIsUnauthorized) {
  restart({"--ws-hello-timeout-ms", "300"});
  auto c = connect();
  EXPECT_EQ(next_json(*c, std::chrono::seconds(3)),
            (json{{"type", "error"}, {"reason", "unauthorized"}}));
  EXPECT_EQ(c->wait_closed(), 1008);
}

TEST_F(Ws, AUidOnlyHearsItsOwnEvents) {
  auto mine = connect();
  auto other = connect();
  mine->hello(token_for("42"));
  other->hello(token_for("43"));
  EXPECT_EQ(next_json(*mine)["uid"], "42");
  EXPECT_EQ(next_json(*other)["uid"], "43");
  push("42", "for 42");
  EXPECT_EQ(next_json(*mine)["data"], "for 42");
  EXPECT_FALSE(other->next(std::chrono::milliseconds(300)));
}

TEST_F(Ws, EveryConnectionOfAUidGetsEveryEvent) {
  std::vector<std::unique_ptr<WsClient>> cs;
  for (int i = 0; i < 3; ++i) {
    cs.push_back(connect());
    cs.back()->hello(token_for("42"));
    EXPECT_EQ(next_json(*cs.back())["type"], "welcome");
  }
  const auto r = push("42", {{"n", 1}});
  EXPECT_EQ(json::parse(r.body)["delivered"], 3);
  for (auto& c : cs) EXPECT_EQ(next_json(*c)["data"]["n"], 1);
}

TEST_F(Ws, AClientThatStopsReadingIsClosedAndMemoryStaysFlat) {
  restart({"--ws-max-queue-bytes", "65536"});
  auto reader = connect();
  reader->hello(token_for("9"));
  next_json(*reader);
  auto stalled = connect(/*read=*/false, /*rcvbuf=*/4096);
  stalled->hello(token_for("9"));

  const auto rss_kib = [&] {
    const std::string status =
        tbtest::read_file("/proc/" + std::to_string(bridge_->pid()) + "/status");
    const auto at = status.find("VmRSS:");
    return std::stol(status.substr(at + 6));
  };
  const long before = rss_kib();
  const json big = std::string(16 * 1024, 'x');
  for (int i = 0; i < 1500; ++i) {  // 24 MB of events for a client that reads none of them
    ASSERT_EQ(push("9", big).status, 202);
    if (i % 100 == 0) reader->next(std::chrono::milliseconds(0));
  }
  const long growth_kib = rss_kib() - before;
#ifdef TB_SANITIZED_BUILD
  // ASan keeps freed memory in its quarantine (256 MB by default): RSS says nothing there. The
  // release build checks the bound; here the rest of the behaviour is still checked.
  std::cerr << "sanitizer build: RSS grew " << growth_kib << " KiB (not checked)\n";
#else
  EXPECT_LT(growth_kib, 12 * 1024) << "the bridge kept what the stalled client did not read";
#endif

  stalled->start_reading();
  const auto code = stalled->wait_closed(std::chrono::seconds(10));
  ASSERT_TRUE(code.has_value()) << "the stalled client is still connected";
  EXPECT_EQ(*code, 1013);
  const auto m = tbtest::http_request(bridge_->http_port(), "GET", "/metrics");
  EXPECT_NE(m.body.find("ticket_bridge_ws_slow_consumer_closes_total 1"), std::string::npos)
      << m.body;
  // The reading client of the same uid was not harmed.
  ASSERT_EQ(push("9", "still here").status, 202);
  bool seen = false;
  while (auto msg = reader->next(std::chrono::seconds(2))) {
    if (json::parse(*msg)["data"] == "still here") {
      seen = true;
      break;
    }
  }
  EXPECT_TRUE(seen);
}

// SPEC.md: "A client too slow to read is closed (code 1013)": the code must reach it, even
// though the socket was full when the server gave up on it.
TEST_F(Ws, ASlowReaderThatResumesReadsTheCloseCode1013) {
  restart({"--ws-max-queue-bytes", "65536"});
  auto stalled = connect(/*read=*/false, /*rcvbuf=*/4096);
  stalled->hello(token_for("slow"));
  const json big = std::string(16 * 1024, 'x');
  const auto slow_closes = [&] {
    const auto m = tbtest::http_request(bridge_->http_port(), "GET", "/metrics");
    return m.body.find("ticket_bridge_ws_slow_consumer_closes_total 1") != std::string::npos;
  };
  int pushed = 0;
  while (!slow_closes() && pushed < 2000) {
    for (int i = 0; i < 10; ++i, ++pushed) ASSERT_EQ(push("slow", big).status, 202);
  }
  ASSERT_TRUE(slow_closes()) << "the server never gave up on the stalled client";
  // The client stays paused a while longer (an app in the background): longer than the close
  // grace used to be (5 s), within the ping cycle a silent client is allowed anyway.
  std::this_thread::sleep_for(std::chrono::seconds(6));
  stalled->start_reading();
  EXPECT_EQ(stalled->wait_closed(std::chrono::seconds(10)), 1013);
}

TEST_F(Ws, AClientThatDoesNotAnswerPingsIsClosed) {
  restart({"--ws-ping-interval-ms", "200", "--ws-pong-timeout-ms", "200"});
  auto alive = connect();
  alive->hello(token_for("5"));
  ASSERT_EQ(next_json(*alive)["type"], "welcome");
  auto silent = connect(/*read=*/false);
  silent->hello(token_for("5"));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  silent->start_reading();
  EXPECT_TRUE(silent->wait_closed(std::chrono::seconds(3)).has_value());
  // The one that answers pings (Beast answers while a read is pending) is still served.
  EXPECT_FALSE(alive->wait_closed(std::chrono::milliseconds(10)).has_value());
  push("5", "ping-pong");
  EXPECT_EQ(next_json(*alive)["data"], "ping-pong");
}

TEST_F(Ws, GracefulShutdownSendsGoingAway) {
  auto c = connect();
  c->hello(token_for("42"));
  ASSERT_EQ(next_json(*c)["type"], "welcome");
  EXPECT_EQ(bridge_->stop(SIGTERM), 0);
  EXPECT_EQ(c->wait_closed(), 1001);
}

TEST_F(Ws, AThousandConnectionsOfAHundredUidsGetExactlyTheirOwnEvents) {
  constexpr int kUids = 100, kPerUid = 10;
  std::vector<std::unique_ptr<WsClient>> cs;
  for (int i = 0; i < kUids * kPerUid; ++i) {
    cs.push_back(connect());
    cs.back()->hello(token_for("u" + std::to_string(i % kUids)));
  }
  for (auto& c : cs) ASSERT_EQ(next_json(*c)["type"], "welcome");
  for (int u = 0; u < kUids; ++u) {
    const auto r = push("u" + std::to_string(u), {{"for", u}});
    ASSERT_EQ(r.status, 202);
    EXPECT_EQ(json::parse(r.body)["delivered"], kPerUid);
  }
  for (int i = 0; i < kUids * kPerUid; ++i) {
    const json e = next_json(*cs[i]);
    ASSERT_EQ(e["data"]["for"], i % kUids) << "connection " << i;
    EXPECT_FALSE(cs[i]->next(std::chrono::milliseconds(0)));
  }
}

TEST_F(Ws, APythonWebsocketsClientWeDidNotWrite) {
  const std::string script = R"PY(
import asyncio, json, sys, urllib.request
import websockets

async def main(port, token, api_key):
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
        await ws.send(json.dumps({"type": "hello", "token": token}))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert welcome["type"] == "welcome" and welcome["uid"] == "py", welcome
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/push", method="POST",
            data=json.dumps({"uid": "py", "data": {"from": "python"}}).encode(),
            headers={"Authorization": "Bearer " + api_key, "Content-Type": "application/json"})
        await asyncio.get_running_loop().run_in_executor(None, urllib.request.urlopen, req)
        event = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert event["type"] == "push" and event["data"] == {"from": "python"}, event
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
        await ws.send(json.dumps({"type": "hello", "token": "forged"}))
        assert json.loads(await ws.recv()) == {"type": "error", "reason": "unauthorized"}
        try:
            await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed as e:
            assert e.code == 1008, e.code
    print("python client ok")

asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
)PY";
  tbtest::write_file(dir_.file("client.py"), script);
  // Debian's interpreter, which has Debian's python3-websockets (tools/setup.sh installs it).
  const auto r =
      tbtest::run({"/usr/bin/python3", dir_.file("client.py"), std::to_string(bridge_->http_port()),
                   token_for("py"), Bridge::kApiKey});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("python client ok"), std::string::npos);
}

// Two bridges on one SQLite file: a client of the first hears what the second decided, live.
TEST_F(Ws, AClientHearsAnotherBridgesEventsLiveOnOneSqliteFile) {
  tbtest::TempDir other_dir;
  Bridge other(other_dir, broker_->url(), {"--instance", "second"});
  other.set_db(bridge_->db());
  ASSERT_TRUE(other.start()) << other.log();
  // Not needed for the events to arrive, but to arrive live: see peer_events.hpp.
  ASSERT_TRUE(bridge_->wait_metric("ticket_bridge_peer_events_connected", 1));
  auto c = connect();
  c->hello(token_for("42"));
  ASSERT_EQ(next_json(*c)["type"], "welcome");
  for (int i = 1; i <= 6; ++i) {
    const auto r = tbtest::http_request(i % 2 ? other.http_port() : bridge_->http_port(), "POST",
                                        "/api/v1/push", json{{"uid", "42"}, {"data", i}}.dump(),
                                        auth_header());
    ASSERT_EQ(r.status, 202) << r.body;
  }
  for (int i = 1; i <= 6; ++i) {
    const json e = next_json(*c);
    EXPECT_EQ(e["seq"], i) << e;
    EXPECT_EQ(e["data"], i) << e;
  }
}

// --peer-events false: a bridge alone on its store opens no second connection, and another
// bridge's events reach its clients only through the store (a reconnect's replay).
TEST_F(Ws, WithoutPeerEventsAnotherBridgesEventsWaitForTheReplay) {
  restart({"--peer-events", "false"});
  tbtest::TempDir other_dir;
  Bridge other(other_dir, broker_->url(), {"--instance", "second"});
  other.set_db(bridge_->db());
  ASSERT_TRUE(other.start()) << other.log();
  auto c = connect();
  c->hello(token_for("42"));
  ASSERT_EQ(next_json(*c)["type"], "welcome");
  const auto r = tbtest::http_request(other.http_port(), "POST", "/api/v1/push",
                                      json{{"uid", "42"}, {"data", 1}}.dump(), auth_header());
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_FALSE(c->next(std::chrono::milliseconds(1500))) << "heard live without peer events";
  EXPECT_EQ(bridge_->metric("ticket_bridge_peer_events_connected"), 0);
  auto again = connect();
  again->hello(token_for("42"), 0);
  ASSERT_EQ(next_json(*again)["type"], "welcome");
  EXPECT_EQ(next_json(*again)["seq"], 1) << "the replay has it";
}

// What anyone may publish on users/<uid>/events of the development broker is a hint at most:
// a forged event is never sent to the owner's clients, and a forged seq costs one page read.
TEST_F(Ws, AForgedEventOnTheBrokerReachesNoClient) {
  ASSERT_TRUE(bridge_->wait_metric("ticket_bridge_peer_events_connected", 1));
  auto c = connect();
  c->hello(token_for("42"));
  ASSERT_EQ(next_json(*c)["type"], "welcome");
  tbtest::TestClient forger(broker_->url(), "forger");
  for (const auto* body : {R"({"type":"ticket.admitted","seq":1,"code":"FAKE"})",
                           R"({"type":"push","seq":999999999,"data":"forged"})", R"({"seq":"1"})",
                           "not json", R"({"type":"push","seq":-5})"}) {
    ASSERT_EQ(forger.publish("users/42/events", body), 0);
  }
  EXPECT_FALSE(c->next(std::chrono::milliseconds(500))) << "a forged event reached the client";
  // The client is live still, and gets the real event 1 once.
  ASSERT_EQ(push("42", "real").status, 202);
  const json e = next_json(*c);
  EXPECT_EQ(e["seq"], 1) << e;
  EXPECT_EQ(e["data"], "real") << e;
  EXPECT_FALSE(c->next(std::chrono::milliseconds(300)));
  const auto m = tbtest::http_request(bridge_->http_port(), "GET", "/metrics").body;
  EXPECT_NE(m.find("\nticket_bridge_peer_hints_unreadable_total 2\n"), std::string::npos) << m;
}

}  // namespace
}  // namespace tbtest_ws
