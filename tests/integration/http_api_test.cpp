// The HTTP API over real sockets: tickets, tokens, push, errors, keep-alive.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "http_fixture.hpp"
#include "jwt.hpp"
#include "rotating_code.hpp"
#include "signed_code.hpp"

namespace {

using nlohmann::json;
using tbtest::Bridge;
using tbtest_http::HttpApi;

TEST_F(HttpApi, TicketLifecycle) {
  auto r = call("POST", "/api/v1/tickets",
                R"({"uid":"42","code":"API1","holder":"A. Example","max_entries":2,"reentry":true,
                    "valid_from":"2026-01-01T00:00:00Z","gates":["north","south"],"extra":"ignored"})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(body(r)["code"], "API1");
  EXPECT_EQ(body(r)["gates"], json::array({"north", "south"}));
  EXPECT_EQ(body(r)["valid_from"], "2026-01-01T00:00:00.000Z");

  r = call("POST", "/api/v1/tickets", R"({"uid":"42","code":"API1"})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(body(r)["error"], "conflict");

  r = call("POST", "/api/v1/tickets", R"({"uid":"42"})");
  ASSERT_EQ(r.status, 201);
  EXPECT_EQ(body(r)["code"].get<std::string>().size(), 12U);

  // A scan, so that the ticket shows its use.
  tbtest::TestClient scanner(broker_->url(), "scanner");
  scanner.subscribe("tickets/result/s");
  scanner.publish("tickets/scan",
                  R"({"scan_id":"h:1","code":"API1","scanner":"s","gate":"north"})");
  ASSERT_TRUE(scanner.next("tickets/result/s"));

  r = call("GET", "/api/v1/tickets/API1");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(body(r)["entries"], 1);
  ASSERT_EQ(body(r)["last_scans"].size(), 1U);
  EXPECT_EQ(body(r)["last_scans"][0]["status"], "admitted");

  r = call("DELETE", "/api/v1/tickets/API1");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(body(r)["state"], "revoked");
  scanner.publish("tickets/scan",
                  R"({"scan_id":"h:2","code":"API1","scanner":"s","gate":"north"})");
  auto m = scanner.next("tickets/result/s");
  ASSERT_TRUE(m);
  EXPECT_EQ(json::parse(m->payload)["reason"], "revoked");

  EXPECT_EQ(call("GET", "/api/v1/tickets/NOPE").status, 404);
  EXPECT_EQ(call("DELETE", "/api/v1/tickets/NOPE").status, 404);
}

TEST_F(HttpApi, InvalidTicketsAreRefusedAndNothingIsHalfWritten) {
  const std::vector<std::string> bad = {
      R"({})",
      R"({"uid":42})",
      R"({"uid":"a/b"})",
      R"({"uid":"42","code":"has space"})",
      R"({"uid":"42","code":"X1","max_entries":-1})",
      R"({"uid":"42","code":"X1","max_entries":"2"})",
      R"({"uid":"42","code":"X1","reentry":"yes"})",
      R"({"uid":"42","code":"X1","valid_from":"tomorrow"})",
      R"({"uid":"42","code":"X1","valid_from":"2026-02-01T00:00:00Z","valid_until":"2026-01-01T00:00:00Z"})",
      R"({"uid":"42","code":"X1","gates":"north"})",
      R"({"uid":"42","code":"X1","gates":[1]})",
  };
  for (const auto& b : bad) {
    const auto r = call("POST", "/api/v1/tickets", b);
    EXPECT_EQ(r.status, 422) << b << " -> " << r.body;
    EXPECT_EQ(body(r)["error"], "invalid") << b;
    EXPECT_TRUE(body(r)["detail"].is_string());
  }
  EXPECT_EQ(call("GET", "/api/v1/tickets/X1").status, 404);
}

// A target that is not UTF-8 gets a JSON 400 on a connection that stays usable, not a dropped
// connection and an error log line (issue #12).
TEST_F(HttpApi, ATargetThatIsNotUtf8GetsA400) {
  for (const std::string target : {"/nowhere/\xff", "/api/v1/tickets/\xc3\x28", "/healthz?x=\xfe",
                                   "/ticket/data/\xed\xa0\x80"}) {
    const auto r = call("GET", target);
    EXPECT_EQ(r.status, 400) << target;
    const json b = body(r);
    ASSERT_TRUE(b.is_object()) << r.body;
    EXPECT_EQ(b["error"], "bad_request");
  }
  EXPECT_EQ(call("GET", "/healthz").status, 200);  // the bridge serves on
  EXPECT_EQ(bridge_->log().find("handler failed"), std::string::npos) << bridge_->log();
}

// SIGHUP reloads the API key file (and the log level) and the bridge serves on; it used to end
// the process without a graceful stop (issue #12).
TEST_F(HttpApi, SighupReloadsTheApiKeyAndServesOn) {
  constexpr const char* kNewKey = "a-new-api-key-0123456789";
  std::ofstream(dir_.file("api-key")) << kNewKey << "\n";
  ASSERT_EQ(::kill(bridge_->pid(), SIGHUP), 0);
  ASSERT_TRUE(tbtest::wait_until(
      [&] { return bridge_->log().find("reloaded the API key") != std::string::npos; },
      std::chrono::seconds(10)))
      << bridge_->log();
  EXPECT_TRUE(bridge_->running());
  const std::string push = R"({"uid":"42","data":1})";
  EXPECT_EQ(call("POST", "/api/v1/push", push).status, 401) << "the old key still works";
  EXPECT_EQ(tbtest::http_request(bridge_->http_port(), "POST", "/api/v1/push", push,
                                 std::string("Authorization: Bearer ") + kNewKey + "\r\n")
                .status,
            202);
  EXPECT_NE(bridge_->log().find("needs a restart"), std::string::npos) << bridge_->log();
  // A reload that fails changes nothing.
  std::ofstream(dir_.file("api-key")) << "\n";
  ASSERT_EQ(::kill(bridge_->pid(), SIGHUP), 0);
  ASSERT_TRUE(
      tbtest::wait_until([&] { return bridge_->log().find("reload failed") != std::string::npos; },
                         std::chrono::seconds(10)))
      << bridge_->log();
  EXPECT_EQ(tbtest::http_request(bridge_->http_port(), "POST", "/api/v1/push", push,
                                 std::string("Authorization: Bearer ") + kNewKey + "\r\n")
                .status,
            202);
  EXPECT_EQ(bridge_->stop(), 0);  // and the stop is still graceful
}

TEST_F(HttpApi, ErrorsHaveTheRightStatus) {
  EXPECT_EQ(call("POST", "/api/v1/push", R"({"uid":"42","data":1})", false).status, 401);
  EXPECT_EQ(tbtest::http_request(bridge_->http_port(), "POST", "/api/v1/push", "{}",
                                 "Authorization: Bearer wrong-key\r\n")
                .status,
            401);
  EXPECT_EQ(tbtest::http_request(bridge_->http_port(), "POST", "/api/v1/push", "{}",
                                 std::string("Authorization: Basic ") + Bridge::kApiKey + "\r\n")
                .status,
            401);
  EXPECT_EQ(call("POST", "/api/v1/push", "{not json").status, 400);
  EXPECT_EQ(call("POST", "/api/v1/push", "[1,2]").status, 400);
  EXPECT_EQ(call("POST", "/api/v1/push", R"({"uid":"42"})").status, 422);
  EXPECT_EQ(call("POST", "/api/v1/push", R"({"uid":"4 2","data":1})").status, 422);
  EXPECT_EQ(call("GET", "/api/v1/push").status, 405);
  EXPECT_EQ(call("PUT", "/api/v1/tickets/X").status, 405);
  EXPECT_EQ(call("GET", "/nope").status, 404);
  const auto big =
      call("POST", "/api/v1/push", R"({"uid":"42","data":")" + std::string(70000, 'x') + "\"}");
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(body(big)["error"], "payload_too_large");
  // Health and metrics need no key.
  EXPECT_EQ(call("GET", "/healthz", "", false).status, 200);
  const auto metrics = call("GET", "/metrics", "", false);
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find(
                R"(ticket_bridge_http_requests_total{route="/api/v1/push",status="401"} 3)"),
            std::string::npos)
      << metrics.body;
}

TEST_F(HttpApi, TokensWork) {
  auto r = call("POST", "/api/v1/tokens", R"({"uid":"42","ttl_s":60})");
  ASSERT_EQ(r.status, 201) << r.body;
  const auto v =
      tb::verify_token(body(r)["token"].get<std::string>(), Bridge::kSecret, tb::now_ms() / 1000);
  ASSERT_TRUE(std::holds_alternative<tb::TokenClaims>(v));
  EXPECT_EQ(std::get<tb::TokenClaims>(v).uid, "42");
  EXPECT_LE(std::get<tb::TokenClaims>(v).exp, tb::now_ms() / 1000 + 61);
  r = call("POST", "/api/v1/tokens", R"({"uid":"42"})");  // default TTL: one hour
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(call("POST", "/api/v1/tokens", R"({"uid":"42","ttl_s":0})").status, 422);
  EXPECT_EQ(call("POST", "/api/v1/tokens", R"({"uid":"42","ttl_s":"1h"})").status, 422);
  EXPECT_EQ(call("POST", "/api/v1/tokens", R"({"ttl_s":60})").status, 422);
  EXPECT_EQ(call("POST", "/api/v1/tokens", R"({"uid":"42"})", false).status, 401);
}

// A ticket link is sent at purchase and opened at the gate days later: its token is scoped to
// the ticket and lives until the ticket's valid_until.
TEST_F(HttpApi, ATokenScopedToATicketLivesUntilTheTicketEnds) {
  ASSERT_EQ(call("POST", "/api/v1/tickets",
                 R"({"uid":"42","code":"SC1","valid_until":"2099-01-01T00:00:00Z"})")
                .status,
            201);
  ASSERT_EQ(call("POST", "/api/v1/tickets", R"({"uid":"42","code":"SC2"})").status, 201);
  const auto claims_of = [&](const tbtest::HttpReply& r) {
    return std::get<tb::TokenClaims>(tb::verify_token(body(r)["token"].get<std::string>(),
                                                      Bridge::kSecret, tb::now_ms() / 1000));
  };
  auto r = call("POST", "/api/v1/tokens", R"({"uid":"42","code":"SC1"})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(claims_of(r).code, "SC1");
  EXPECT_EQ(claims_of(r).exp, 4070908800);  // 2099-01-01T00:00:00Z
  EXPECT_EQ(body(r)["expires_at"], "2099-01-01T00:00:00.000Z");
  r = call("POST", "/api/v1/tokens", R"({"uid":"42","code":"SC1","ttl_s":60})");
  EXPECT_LE(claims_of(r).exp, tb::now_ms() / 1000 + 61);               // a shorter ttl_s is kept
  r = call("POST", "/api/v1/tokens", R"({"uid":"42","code":"SC2"})");  // no valid_until: 1 h
  EXPECT_NEAR(static_cast<double>(claims_of(r).exp),
              static_cast<double>(tb::now_ms() / 1000 + 3600), 5);
  EXPECT_EQ(call("POST", "/api/v1/tokens", R"({"uid":"43","code":"SC1"})").status, 404);
  EXPECT_EQ(call("POST", "/api/v1/tokens", R"({"uid":"42","code":"NOPE"})").status, 404);
  EXPECT_EQ(call("POST", "/api/v1/tokens", R"({"uid":"42","code":7})").status, 422);
  EXPECT_EQ(call("DELETE", "/api/v1/tickets/SC2").status, 200);
  EXPECT_EQ(call("POST", "/api/v1/tokens", R"({"uid":"42","code":"SC2"})").status, 422)
      << "a token for a revoked ticket";

  // The owner's view with a scoped token: its own ticket only.
  const std::string scoped = tb::sign_token("42", 60, Bridge::kSecret, tb::now_ms() / 1000, "SC1");
  const std::string bearer = "Authorization: Bearer " + scoped + "\r\n";
  EXPECT_EQ(
      tbtest::http_request(bridge_->http_port(), "GET", "/ticket/data/SC1", "", bearer).status,
      200);
  EXPECT_EQ(
      tbtest::http_request(bridge_->http_port(), "GET", "/ticket/data/SC2", "", bearer).status,
      404);
}

TEST_F(HttpApi, PushIsStoredWithASeqAndPublishedOverMqtt) {
  tbtest::TestClient app(broker_->url(), "native-app");
  app.subscribe("users/42/events");
  auto r = call("POST", "/api/v1/push", R"({"uid":"42","data":{"msg":"doors open at 19:00"}})");
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(body(r), (json{{"seq", 1}, {"delivered", 0}}));
  r = call("POST", "/api/v1/push", R"({"uid":"42","data":null})");
  EXPECT_EQ(body(r)["seq"], 2);
  const auto m = app.next("users/42/events");
  ASSERT_TRUE(m);
  const json e = json::parse(m->payload);
  EXPECT_EQ(e["type"], "push");
  EXPECT_EQ(e["seq"], 1);
  EXPECT_EQ(e["data"]["msg"], "doors open at 19:00");
}

TEST_F(HttpApi, KeepAliveServesSeveralRequestsOnOneConnection) {
  const int fd = tbtest_http::connect_raw(bridge_->http_port());
  ASSERT_GE(fd, 0);
  std::string got;
  for (int i = 0; i < 3; ++i) {
    const std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
    char buf[4096];
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    ASSERT_GT(n, 0) << "the connection was closed after request " << i;
    got.assign(buf, static_cast<std::size_t>(n));
    EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0U) << got;
  }
  close(fd);
}

// A bridge with a signing key (SPEC.md v1.1): the API issues signed codes, takes them wherever it
// takes a code, and a scan of one over MQTT is decided as its plain ticket, answered and told to
// the owner by the plain code. A code that is not the one issued (a flipped bit, another key) is
// refused online.
class SignedCodes : public HttpApi {
 protected:
  void SetUp() override {
    tbtest::write_file(dir_.file("signing-key.pem"), key_.private_pem());
    HttpApi::SetUp();
  }
  std::vector<std::string> extra_args() override {
    return {"--signing-key-file", dir_.file("signing-key.pem")};
  }
  tb::SigningKey key_ = tb::SigningKey::generate();
};

TEST_F(SignedCodes, TheApiIssuesThemAndAScanOfOneIsDecidedAsItsTicket) {
  auto r = call("POST", "/api/v1/tickets",
                R"({"uid":"42","gates":["north"],"valid_until":"2030-01-01T00:00:00Z"})");
  ASSERT_EQ(r.status, 201) << r.body;
  const json t = body(r);
  const std::string code = t["code"], signed_code = t["signed_code"];
  auto d = tb::decode_signed_code(signed_code);
  ASSERT_TRUE(std::holds_alternative<tb::DecodedCode>(d)) << signed_code;
  EXPECT_TRUE(tb::verify_signed_code(std::get<tb::DecodedCode>(d),
                                     {tb::VerifyKey{key_.key_id(), key_.public_key()}}));
  EXPECT_EQ(std::get<tb::DecodedCode>(d).claims.code, code);
  EXPECT_EQ(std::get<tb::DecodedCode>(d).claims.gates, std::vector<std::string>{"north"});

  r = call("GET", "/api/v1/tickets/" + signed_code);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body(r)["code"], code);
  EXPECT_EQ(call("GET", "/api/v1/tickets/TB1.AAAA").status, 404);
  EXPECT_EQ(call("POST", "/api/v1/tickets", R"({"uid":"1","code":"TB1.MINE"})").status, 422);
  r = call("POST", "/api/v1/tokens", json{{"uid", "42"}, {"code", signed_code}}.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  // The owner's page gets the plain code, and a QR code of the signed one.
  const std::string token = body(r)["token"];
  r = tbtest::http_request(bridge_->http_port(), "GET", "/ticket/data/" + signed_code, {},
                           "Authorization: Bearer " + token + "\r\n");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body(r)["code"], code);

  tbtest::TestClient app(broker_->url(), "app");
  app.subscribe("users/42/events");
  tbtest::TestClient gate(broker_->url(), "scanner-n1");
  gate.subscribe("tickets/result/n1");
  std::string flipped = signed_code;
  flipped[20] = flipped[20] == 'A' ? 'B' : 'A';
  const auto other = tb::SigningKey::generate();
  tb::CodeClaims c = std::get<tb::DecodedCode>(d).claims;
  const std::string other_signed = other.sign(c);
  const auto scan = [&](const std::string& id, const std::string& sent) {
    return json{{"scan_id", id}, {"code", sent}, {"scanner", "n1"}, {"gate", "north"}}.dump();
  };
  ASSERT_EQ(gate.publish("tickets/scan", scan("n1:1", flipped)), 0);
  ASSERT_EQ(gate.publish("tickets/scan", scan("n1:2", other_signed)), 0);
  ASSERT_EQ(gate.publish("tickets/scan", scan("n1:3", signed_code)), 0);
  std::vector<json> results;
  for (int i = 0; i < 3; ++i) {
    const auto m = gate.next("tickets/result/n1");
    ASSERT_TRUE(m) << "result " << i << "\n" << bridge_->log();
    results.push_back(json::parse(m->payload));
  }
  EXPECT_EQ(results[0]["status"], "rejected");
  EXPECT_NE(results[0]["reason"], "ok");
  EXPECT_EQ(results[1]["reason"], "unknown");
  EXPECT_EQ(results[1]["code"], code);
  EXPECT_EQ(results[2]["status"], "admitted");
  EXPECT_EQ(results[2]["code"], code);
  const auto e = app.next("users/42/events");
  ASSERT_TRUE(e);
  EXPECT_EQ(json::parse(e->payload)["type"], "ticket.admitted");  // the refused ones told nobody
  EXPECT_EQ(json::parse(e->payload)["code"], code);
  EXPECT_EQ(bridge_->metric("ticket_bridge_scans_signed_mismatch_total"),
            results[0]["reason"] == "unknown" ? 2 : 1);
}

// Rotating codes (SPEC.md v1.1, docs/offline.md): the API, the command line and the CSV import
// issue rotating tickets; the owner's page learns the rotating key's id; a scan is admitted only
// with the value of the moment, and a screenshot's value is refused as stale_code, with the owner
// told and the gate's text line saying what to do.
class RotatingCodes : public SignedCodes {
 protected:
  void SetUp() override {
    tbtest::write_file(dir_.file("rotating-key"), tb::rotating_key_text(rotation_));
    SignedCodes::SetUp();
  }
  tb::RotatingKey rotation_ = tb::generate_rotating_key();
};

TEST_F(RotatingCodes, OnlyTheValueOfTheMomentGetsIn) {
  auto r = call("POST", "/api/v1/tickets", R"({"uid":"42","rotating":true})");
  ASSERT_EQ(r.status, 201) << r.body;
  const json t = body(r);
  EXPECT_EQ(t["rotating"], true);
  const std::string code = t["code"], signed_code = t["signed_code"];
  auto d = tb::decode_signed_code(signed_code);
  ASSERT_TRUE(std::holds_alternative<tb::DecodedCode>(d));
  EXPECT_TRUE(std::get<tb::DecodedCode>(d).claims.rotating);  // a gate alone knows it too
  EXPECT_EQ(body(call("GET", "/api/v1/tickets/" + code))["rotating"], true);
  EXPECT_EQ(body(call("POST", "/api/v1/tickets", R"({"uid":"42"})"))["rotating"], false);
  EXPECT_EQ(call("POST", "/api/v1/tickets", R"({"uid":"42","rotating":"yes"})").status, 422);

  r = call("POST", "/api/v1/tokens", json{{"uid", "42"}, {"code", code}}.dump());
  const std::string token = body(r)["token"];
  r = tbtest::http_request(bridge_->http_port(), "GET", "/ticket/data/" + code, {},
                           "Authorization: Bearer " + token + "\r\n");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body(r)["rotating_key_id"], tb::rotating_key_id(rotation_));

  tbtest::TestClient app(broker_->url(), "app");
  app.subscribe("users/42/events");
  tbtest::TestClient gate(broker_->url(), "scanner-d1");
  gate.subscribe("tickets/result/d1/#");
  const auto secret = tb::ticket_rotating_secret(rotation_, code);
  const tb::Millis now = tb::now_ms();
  const auto shown = [&](tb::Millis at) {
    return signed_code + "." + tb::rotating_value(secret, tb::rotating_step(at));
  };
  ASSERT_EQ(gate.publish("tickets/scan/d1", shown(now - 40'000)), 0);  // a screenshot
  const auto text = gate.next("tickets/result/d1/text");
  ASSERT_TRUE(text) << bridge_->log();
  EXPECT_EQ(text->payload, "REJECT screenshot - ask for the live ticket");
  auto e = app.next("users/42/events");
  ASSERT_TRUE(e);
  EXPECT_EQ(json::parse(e->payload)["reason"], "stale_code");
  EXPECT_EQ(json::parse(e->payload)["code"], code);

  ASSERT_EQ(gate.publish("tickets/scan/d1", shown(now)), 0);
  const auto admitted = gate.next("tickets/result/d1/text");
  ASSERT_TRUE(admitted);
  EXPECT_EQ(admitted->payload.rfind("ADMIT", 0), 0U) << admitted->payload;
  e = app.next("users/42/events");
  ASSERT_TRUE(e);
  EXPECT_EQ(json::parse(e->payload)["type"], "ticket.admitted");
  EXPECT_EQ(bridge_->metric("ticket_bridge_scans_total{status=\"rejected\",reason=\"stale_code\"}"),
            1);

  // The command line and the CSV import, into the same store.
  auto add = bridge_->cli({"tickets", "add", "--uid", "43", "--rotating"});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  EXPECT_EQ(json::parse(add.out)["rotating"], true);
  const auto csv = dir_.file("rotating.csv");
  tbtest::write_file(csv, "uid,code,rotating\n44,CSV-R1,true\n44,CSV-R2,false\n");
  const auto imported = bridge_->cli({"tickets", "import", csv});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_EQ(body(call("GET", "/api/v1/tickets/CSV-R1"))["rotating"], true);
  EXPECT_EQ(body(call("GET", "/api/v1/tickets/CSV-R2"))["rotating"], false);
}

// A signing key without the rotating key: no rotating ticket either, since no bridge could check
// its codes.
TEST_F(SignedCodes, ARotatingTicketNeedsTheRotatingKey) {
  const auto r = call("POST", "/api/v1/tickets", R"({"uid":"42","rotating":true})");
  EXPECT_EQ(r.status, 422);
  EXPECT_NE(r.body.find("rotating key"), std::string::npos) << r.body;
  EXPECT_EQ(call("POST", "/api/v1/tickets", R"({"uid":"42"})").status, 201);
}

// Without a signing key no ticket can be rotating: refused, with the way out named.
TEST_F(HttpApi, ARotatingTicketNeedsASigningKey) {
  const auto r = call("POST", "/api/v1/tickets", R"({"uid":"42","rotating":true})");
  EXPECT_EQ(r.status, 422);
  EXPECT_NE(r.body.find("keys init"), std::string::npos) << r.body;
  const auto add = bridge_->cli({"tickets", "add", "--uid", "43", "--rotating"});
  EXPECT_EQ(add.exit_code, 2);
  EXPECT_NE(add.err.find("keys init"), std::string::npos) << add.err;
}

}  // namespace
