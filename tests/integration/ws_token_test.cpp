// The token of a WebSocket: it ends the stream at its `exp`, and a token scoped to one ticket
// hears only that ticket's events and the uid's pushes (SPEC.md v1.1).
#include <fstream>
#include <sstream>

#include "rotating_code.hpp"
#include "signed_code.hpp"
#include "ws_fixture.hpp"

namespace tbtest_ws {
namespace {

TEST_F(Ws, AnExpiringTokenClosesTheStreamWith1008WithinASecondOfExp) {
  auto c = connect();
  const std::string token = token_for("42", 2);
  c->hello(token);
  ASSERT_EQ(next_json(*c)["type"], "welcome");
  const auto claims =
      std::get<tb::TokenClaims>(tb::verify_token(token, Bridge::kSecret, tb::now_ms() / 1000));
  const json m = next_json(*c, std::chrono::seconds(5));
  const auto at_ms = tb::now_ms();
  EXPECT_EQ(m, (json{{"type", "error"}, {"reason", "token_expired"}}));
  EXPECT_EQ(c->wait_closed(), 1008);
  EXPECT_GE(at_ms, claims.exp * 1000 - 50) << "closed before the token's exp";
  // SPEC.md: within a second of exp (slack for a loaded machine).
  EXPECT_LE(at_ms, claims.exp * 1000 + 1500) << "closed too long after the token's exp";

  // The client's answer: a fresh token and since, and it misses nothing.
  ASSERT_EQ(push("42", "while away").status, 202);
  auto again = connect();
  again->hello(token_for("42"), 0);
  EXPECT_EQ(next_json(*again)["type"], "welcome");
  EXPECT_EQ(next_json(*again)["data"], "while away");
}

TEST_F(Ws, ATokenScopedToATicketHearsThatTicketAndThePushesOnly) {
  ASSERT_EQ(bridge_->cli({"tickets", "add", "--uid", "77", "--code", "MINE1"}).exit_code, 0);
  ASSERT_EQ(bridge_->cli({"tickets", "add", "--uid", "77", "--code", "OTHER1"}).exit_code, 0);
  const std::string scoped =
      tb::sign_token("77", 3600, Bridge::kSecret, tb::now_ms() / 1000, "MINE1");
  auto c = connect();
  c->hello(scoped);
  ASSERT_EQ(next_json(*c)["type"], "welcome");
  auto whole = connect();
  whole->hello(token_for("77"));
  ASSERT_EQ(next_json(*whole)["type"], "welcome");

  tbtest::TestClient scanner(broker_->url(), "scanner");
  scanner.publish("tickets/scan", R"({"scan_id":"s:1","code":"OTHER1","scanner":"s"})");
  EXPECT_EQ(next_json(*whole)["code"], "OTHER1");
  scanner.publish("tickets/scan", R"({"scan_id":"s:2","code":"MINE1","scanner":"s"})");
  EXPECT_EQ(next_json(*whole)["code"], "MINE1");
  ASSERT_EQ(push("77", "to the uid").status, 202);
  EXPECT_EQ(next_json(*whole)["data"], "to the uid");

  const json first = next_json(*c);
  EXPECT_EQ(first["type"], "ticket.admitted");
  EXPECT_EQ(first["code"], "MINE1");
  EXPECT_EQ(first["seq"], 2);
  EXPECT_EQ(next_json(*c)["data"], "to the uid");
  EXPECT_FALSE(c->next(std::chrono::milliseconds(300)));

  // The replay is scoped the same way.
  auto later = connect();
  later->hello(scoped, 0);
  EXPECT_EQ(next_json(*later)["seq"], 3);  // the welcome names the uid's last seq
  EXPECT_EQ(next_json(*later)["code"], "MINE1");
  EXPECT_EQ(next_json(*later)["data"], "to the uid");
  EXPECT_FALSE(later->next(std::chrono::milliseconds(300)));
}

TEST_F(Ws, AnOperatorTokenIsRefused) {
  const auto exp = std::to_string(tb::now_ms() / 1000 + 3600);
  auto c = connect();
  c->hello(tb::sign_jwt(R"({"alg":"HS256"})",
                        R"({"sub":"ops","role":"operator","exp":)" + exp + "}", Bridge::kSecret));
  EXPECT_EQ(next_json(*c), (json{{"type", "error"}, {"reason", "unauthorized"}}));
  EXPECT_EQ(c->wait_closed(), 1008);
}

}  // namespace
// A rotating ticket's page asks for its secret in the hello (docs/protocol.md) and gets it once,
// after the welcome, only with a token scoped to that ticket: the secret of that ticket and no
// other, the one the gates check with.
TEST_F(Ws, ARotatingSecretGoesOnlyToATokenScopedToItsTicket) {
  ASSERT_EQ(bridge_->cli({"keys", "init"}).exit_code, 0);
  restart({});
  const auto add = bridge_->cli({"tickets", "add", "--uid", "77", "--code", "ROT1", "--rotating"});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  std::ifstream in(dir_.file("rotating-key"));
  std::stringstream key_text;
  key_text << in.rdbuf();
  const auto key = tb::rotating_key_from_text(key_text.str());
  const auto secret = tb::ticket_rotating_secret(key, "ROT1");
  const std::string scoped =
      tb::sign_token("77", 3600, Bridge::kSecret, tb::now_ms() / 1000, "ROT1");
  const auto hello = [](const std::string& token, const json& ask) {
    return json{{"type", "hello"}, {"token", token}, {"rotating_secret", ask}}.dump();
  };

  auto c = connect();
  c->send(hello(scoped, true));
  ASSERT_EQ(next_json(*c)["type"], "welcome");
  const json m = next_json(*c);
  EXPECT_EQ(m["type"], "rotating_secret");
  EXPECT_EQ(m["code"], "ROT1");
  EXPECT_EQ(m["secret"], tb::base32_encode(secret.data(), secret.size()));
  EXPECT_EQ(m["key_id"], tb::rotating_key_id(key));
  EXPECT_EQ(m["digits"], 8);
  EXPECT_EQ(m["step"], 15);

  // Not asked, or asked with a token of the whole uid: no secret.
  for (const auto& [token, ask] :
       {std::pair{scoped, json(false)}, std::pair{token_for("77"), json(true)}}) {
    auto other = connect();
    other->send(hello(token, ask));
    ASSERT_EQ(next_json(*other)["type"], "welcome");
    EXPECT_FALSE(other->next(std::chrono::milliseconds(300))) << ask;
  }
  auto bad = connect();
  bad->send(hello(scoped, "please"));
  EXPECT_EQ(next_json(*bad)["reason"], "unauthorized");
}

}  // namespace tbtest_ws
