// The broker's access rules and password hashes, without a broker.
#include "policy.hpp"

#include <gtest/gtest.h>

#include "process.hpp"

namespace tbauth {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;

TEST(Policy, Scanner) {
  const Identity s{Role::Scanner, "gate-1", 0};
  EXPECT_TRUE(allowed(s, kWrite, "tickets/scan", kNow));
  EXPECT_TRUE(allowed(s, kWrite, "scanners/gate-1/status", kNow));
  EXPECT_TRUE(allowed(s, kSubscribe, "tickets/result/gate-1", kNow));
  EXPECT_TRUE(allowed(s, kRead, "tickets/result/gate-1", kNow));
  EXPECT_FALSE(allowed(s, kWrite, "scanners/gate-2/status", kNow));
  EXPECT_FALSE(allowed(s, kWrite, "users/42/events", kNow));
  EXPECT_FALSE(allowed(s, kWrite, "tickets/result/gate-1", kNow));
  EXPECT_FALSE(allowed(s, kSubscribe, "tickets/result/#", kNow));
  EXPECT_FALSE(allowed(s, kSubscribe, "tickets/result/+", kNow));
  EXPECT_FALSE(allowed(s, kSubscribe, "users/#", kNow));
  EXPECT_FALSE(allowed(s, kRead, "tickets/scan", kNow));
  EXPECT_TRUE(allowed(s, kUnsubscribe, "anything", kNow));
  // Its own answers' subtopics (a Response Topic of its own), never another scanner's.
  EXPECT_TRUE(allowed(s, kSubscribe, "tickets/result/gate-1/#", kNow));
  EXPECT_TRUE(allowed(s, kRead, "tickets/result/gate-1/replies", kNow));
  EXPECT_FALSE(allowed(s, kRead, "tickets/result/gate-10", kNow));
  EXPECT_FALSE(allowed(s, kSubscribe, "tickets/result/gate-1#", kNow));
  EXPECT_FALSE(allowed(s, kSubscribe, "tickets/result/gate-1+/x", kNow));
  // An embedded scanner's plain-text scans, under its own id only; the text and light answers.
  EXPECT_TRUE(allowed(s, kWrite, "tickets/scan/gate-1", kNow));
  EXPECT_FALSE(allowed(s, kWrite, "tickets/scan/gate-2", kNow));
  EXPECT_FALSE(allowed(s, kWrite, "tickets/scan/gate-10", kNow));
  EXPECT_FALSE(allowed(s, kWrite, "tickets/scan/gate-1/x", kNow));
  EXPECT_FALSE(allowed(s, kWrite, "tickets/scan/", kNow));
  EXPECT_FALSE(allowed(s, kSubscribe, "tickets/scan/+", kNow));
  EXPECT_FALSE(allowed(s, kRead, "tickets/scan/gate-1", kNow));
  EXPECT_TRUE(allowed(s, kRead, "tickets/result/gate-1/text", kNow));
  EXPECT_TRUE(allowed(s, kRead, "tickets/result/gate-1/light", kNow));
  EXPECT_FALSE(allowed(s, kRead, "tickets/result/gate-2/light", kNow));
  EXPECT_FALSE(allowed(s, kSubscribe, "tickets/result/+/light", kNow));
  EXPECT_FALSE(allowed(s, kSubscribe, "scanners/+/status", kNow));
}

TEST(Policy, TheBridgeReadsDeviceScansAndPresence) {
  const Identity b{Role::Bridge, "bridge", 0};
  for (const char* filter : {"tickets/scan/+", "$share/g/tickets/scan/+", "scanners/+/status"}) {
    EXPECT_TRUE(allowed(b, kSubscribe, filter, kNow)) << filter;
  }
  EXPECT_TRUE(allowed(b, kRead, "tickets/scan/gate-1", kNow));
  EXPECT_TRUE(allowed(b, kRead, "scanners/gate-1/status", kNow));
  EXPECT_TRUE(allowed(b, kWrite, "tickets/result/gate-1/text", kNow));
  EXPECT_FALSE(allowed(b, kSubscribe, "tickets/scan/#", kNow));
  EXPECT_FALSE(allowed(b, kSubscribe, "scanners/#", kNow));
  EXPECT_FALSE(allowed(b, kWrite, "tickets/scan/gate-1", kNow));
  EXPECT_FALSE(allowed(b, kWrite, "scanners/gate-1/status", kNow));
  EXPECT_FALSE(allowed(b, kRead, "tickets/scan/a/b", kNow));
}

TEST(Policy, CustomersNeitherScanNorWatchGates) {
  const Identity c{Role::Customer, "42", kNow + 60};
  EXPECT_FALSE(allowed(c, kWrite, "tickets/scan/gate-1", kNow));
  EXPECT_FALSE(allowed(c, kSubscribe, "tickets/result/gate-1/light", kNow));
  EXPECT_FALSE(allowed(c, kSubscribe, "scanners/+/status", kNow));
}

// The gates' feed (gate_sync.hpp): the bridge writes it, scanners read it, nobody else does.
TEST(Policy, TheGatesFeedGoesFromTheBridgeToScannersOnly) {
  const Identity s{Role::Scanner, "gate-1", 0};
  const Identity b{Role::Bridge, "bridge", 0};
  const Identity c{Role::Customer, "42", kNow + 60};
  EXPECT_TRUE(allowed(s, kSubscribe, "tickets/sync/updates", kNow));
  EXPECT_TRUE(allowed(s, kSubscribe, "tickets/sync/snapshot/+", kNow));
  EXPECT_TRUE(allowed(s, kRead, "tickets/sync/updates", kNow));
  EXPECT_TRUE(allowed(s, kRead, "tickets/sync/snapshot/0", kNow));
  EXPECT_TRUE(allowed(s, kRead, "tickets/sync/snapshot/63", kNow));
  EXPECT_FALSE(allowed(s, kWrite, "tickets/sync/updates", kNow));
  EXPECT_FALSE(allowed(s, kWrite, "tickets/sync/snapshot/0", kNow));
  EXPECT_FALSE(allowed(s, kSubscribe, "tickets/sync/#", kNow));
  EXPECT_FALSE(allowed(s, kSubscribe, "tickets/#", kNow));
  EXPECT_FALSE(allowed(s, kRead, "tickets/sync/snapshot/01", kNow));
  EXPECT_FALSE(allowed(s, kRead, "tickets/sync/snapshot/0/x", kNow));
  EXPECT_TRUE(allowed(b, kWrite, "tickets/sync/updates", kNow));
  EXPECT_TRUE(allowed(b, kWrite, "tickets/sync/snapshot/0", kNow));
  EXPECT_FALSE(allowed(b, kWrite, "tickets/sync/snapshot/+", kNow));
  EXPECT_FALSE(allowed(b, kWrite, "tickets/sync/other", kNow));
  for (int access : {kRead, kWrite, kSubscribe}) {
    EXPECT_FALSE(allowed(c, access, "tickets/sync/updates", kNow)) << access;
    EXPECT_FALSE(allowed(c, access, "tickets/sync/snapshot/0", kNow)) << access;
  }
  EXPECT_FALSE(allowed(c, kSubscribe, "tickets/sync/snapshot/+", kNow));
}

TEST(Policy, ClientIdsBelongToOneIdentity) {
  const Identity bridge{Role::Bridge, "bridge", 0};
  const Identity scanner{Role::Scanner, "gate-1", 0};
  const Identity customer{Role::Customer, "42", kNow + 60};
  EXPECT_TRUE(client_id_allowed(bridge, "ticket-bridge-main", kDefaultAppSessions));
  EXPECT_FALSE(client_id_allowed(bridge, "ticket-bridge-", kDefaultAppSessions));
  EXPECT_FALSE(client_id_allowed(bridge, "ticket-bridge-a/b", kDefaultAppSessions));
  EXPECT_FALSE(client_id_allowed(bridge, "scanner-gate-1", kDefaultAppSessions));
  EXPECT_TRUE(client_id_allowed(scanner, "scanner-gate-1", kDefaultAppSessions));
  EXPECT_FALSE(client_id_allowed(scanner, "scanner-gate-10", kDefaultAppSessions));
  EXPECT_FALSE(client_id_allowed(scanner, "ticket-bridge-main", kDefaultAppSessions));
  for (int n = 0; n < kDefaultAppSessions; ++n) {
    EXPECT_TRUE(client_id_allowed(customer, "app-42-" + std::to_string(n), kDefaultAppSessions));
  }
  for (const char* id : {"app-42-8", "app-42-01", "app-42--1", "app-42-", "app-42-1x", "app-420-0",
                         "app-4-0", "app-42-99999", "42", "scanner-42", "ticket-bridge-42"}) {
    EXPECT_FALSE(client_id_allowed(customer, id, kDefaultAppSessions)) << id;
  }
  EXPECT_FALSE(client_id_allowed(customer, "app-42-2", 2));
}

TEST(Policy, ScansAreRefusedWhenRetainedOrNamingAnotherScanner) {
  const Identity s{Role::Scanner, "gate-1", 0};
  EXPECT_FALSE(scan_refusal(s, "tickets/scan", R"({"code":"A","scanner":"gate-1"})", false));
  EXPECT_TRUE(scan_refusal(s, "tickets/scan", R"({"code":"A","scanner":"gate-1"})", true));
  EXPECT_TRUE(scan_refusal(s, "tickets/scan", R"({"code":"A","scanner":"gate-2"})", false));
  EXPECT_TRUE(scan_refusal(s, "tickets/scan", R"({"code":5,"scanner":"gate-2"})",
                           false));  // malformed, named
  EXPECT_FALSE(
      scan_refusal(s, "tickets/scan", "not json", false));  // for the bridge to answer as malformed
  EXPECT_FALSE(scan_refusal(s, "tickets/scan", R"({"code":"A","scanner":"a/b"})",
                            false));  // no valid scanner
  EXPECT_FALSE(scan_refusal(s, "tickets/scan", "", false));
  // On tickets/scan/<scanner> the topic names the scanner: only a retained scan is refused.
  EXPECT_FALSE(scan_refusal(s, "tickets/scan/gate-1", "C1", false));
  EXPECT_FALSE(scan_refusal(s, "tickets/scan/gate-1", R"({"code":"A","scanner":"gate-2"})", false));
  EXPECT_TRUE(scan_refusal(s, "tickets/scan/gate-1", "C1", true));
  EXPECT_TRUE(is_scan_topic("tickets/scan"));
  EXPECT_TRUE(is_scan_topic("tickets/scan/gate-1"));
  EXPECT_FALSE(is_scan_topic("tickets/scan/a/b"));
  EXPECT_FALSE(is_scan_topic("tickets/scanner"));
}

TEST(Policy, Bridge) {
  const Identity b{Role::Bridge, "bridge", 0};
  EXPECT_TRUE(allowed(b, kSubscribe, "tickets/scan", kNow));
  EXPECT_TRUE(allowed(b, kSubscribe, "$share/bridges/tickets/scan", kNow));
  EXPECT_TRUE(allowed(b, kRead, "tickets/scan", kNow));
  EXPECT_TRUE(allowed(b, kWrite, "tickets/result/gate-1", kNow));
  EXPECT_TRUE(allowed(b, kWrite, "users/42/events", kNow));
  EXPECT_TRUE(allowed(b, kWrite, "bridge/main/status", kNow));
  EXPECT_TRUE(allowed(b, kSubscribe, "users/+/events", kNow));
  EXPECT_FALSE(allowed(b, kWrite, "users/42/other", kNow));
  EXPECT_FALSE(allowed(b, kWrite, "users/42/events/x", kNow));
  EXPECT_FALSE(allowed(b, kWrite, "tickets/scan", kNow));
  EXPECT_FALSE(allowed(b, kWrite, "tickets/result/", kNow));
  EXPECT_FALSE(allowed(b, kSubscribe, "#", kNow));
  EXPECT_FALSE(allowed(b, kSubscribe, "$share/x/#", kNow));
}

TEST(Policy, CustomerReadsOnlyItsOwnEventsWhileTheTokenIsValid) {
  const Identity c{Role::Customer, "42", kNow + 10};
  EXPECT_TRUE(allowed(c, kSubscribe, "users/42/events", kNow));
  EXPECT_TRUE(allowed(c, kRead, "users/42/events", kNow));
  EXPECT_FALSE(allowed(c, kRead, "users/42/events", kNow + 10));  // expired
  EXPECT_FALSE(allowed(c, kSubscribe, "users/43/events", kNow));
  EXPECT_FALSE(allowed(c, kSubscribe, "users/+/events", kNow));
  EXPECT_FALSE(allowed(c, kSubscribe, "users/#", kNow));
  EXPECT_FALSE(allowed(c, kWrite, "users/42/events", kNow));
  EXPECT_FALSE(allowed(c, kWrite, "tickets/scan", kNow));
}

TEST(PasswordFile, VerifiesMosquittoPasswdHashes) {
  tbtest::TempDir dir;
  const std::string file = dir.file("passwd");
  ASSERT_EQ(tbtest::run({"mosquitto_passwd", "-c", "-b", file, "gate-1", "s3cret"}).exit_code, 0);
  std::string error;
  const auto pf = PasswordFile::load(file, error);
  ASSERT_TRUE(pf) << error;
  EXPECT_TRUE(pf->contains("gate-1"));
  EXPECT_TRUE(pf->check("gate-1", "s3cret"));
  EXPECT_FALSE(pf->check("gate-1", "s3cret "));
  EXPECT_FALSE(pf->check("gate-1", ""));
  EXPECT_FALSE(pf->check("gate-2", "s3cret"));
  EXPECT_FALSE(verify_mosquitto_hash("$7$x$y$z", "a"));
  EXPECT_FALSE(verify_mosquitto_hash("plain", "plain"));
  EXPECT_FALSE(PasswordFile::load(dir.file("missing"), error));
}

}  // namespace
}  // namespace tbauth
