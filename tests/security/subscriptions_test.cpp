// What a scanner or a ticket holder may read or log in as: no broker internals, no shared
// subscription that would steal the bridge's scans, no role taken with another role's secret.
#include <gtest/gtest.h>

#include "jwt.hpp"
#include "secure_broker.hpp"

namespace {

using tbtest::SecureBroker;

bool denied(const tbtest::RunResult& r) {
  return (r.out + r.err).find("denied") != std::string::npos;
}

TEST_F(SecureBroker, NeitherAScannerNorACustomerMaySubscribeToInternalsOrSharedScans) {
  for (const auto& [user, password] : std::vector<std::pair<std::string, std::string>>{
           {"gate-1", "scan-pw"}, {"42", token("42")}}) {
    for (const std::string filter :
         {"$SYS/#", "$SYS/broker/clients/connected", "$share/x/tickets/scan", "$share/x/#",
          "$share/x/users/42/events", "$share/x/tickets/result/gate-1", "tickets/result/+",
          "tickets/scan/#", "#", "+/+/events"}) {
      const auto r = sub(user, password, filter, 1, 1);
      EXPECT_TRUE(denied(r)) << user << " subscribed to " << filter << ": " << r.out << r.err;
    }
  }
}

TEST_F(SecureBroker, ACustomersTokenIsNoScannerOrBridgePassword) {
  for (const std::string user : {"gate-1", "bridge"}) {
    const auto r = sub(user, token(user), "tickets/scan", 1, 1, {"-i", "scanner-" + user});
    EXPECT_NE(r.exit_code, 0) << user;
    EXPECT_NE(r.err.find("ot authori"), std::string::npos) << user << ": " << r.err;
  }
}

// A ticket page's token is scoped to one ticket, an operator's is read-only: neither may log in
// to the broker as the owner, where it would read every event of the uid.
TEST_F(SecureBroker, ATicketScopedOrOperatorTokenIsNoAppPassword) {
  const auto now = tb::now_ms() / 1000;
  const std::string exp = std::to_string(now + 3600);
  for (const auto& [name, password] : std::vector<std::pair<std::string, std::string>>{
           {"scoped", tb::sign_token("42", 3600, kSecret, now, "T1")},
           {"operator",
            tb::sign_jwt(R"({"alg":"HS256"})",
                         R"({"sub":"42","role":"operator","exp":)" + exp + "}", kSecret)}}) {
    const auto r = sub("42", password, "users/42/events", 1, 1, {"-i", app_client_id("42")});
    EXPECT_NE(r.exit_code, 0) << name;
    EXPECT_NE(r.err.find("ot authori"), std::string::npos) << name << ": " << r.err;
  }
  // The owner's own token still logs in (the same call that was refused above).
  const auto ok = sub("42", token("42"), "users/42/events", 1, 1, {"-i", app_client_id("42")});
  EXPECT_EQ(ok.err.find("ot authori"), std::string::npos) << ok.err;
}

}  // namespace
