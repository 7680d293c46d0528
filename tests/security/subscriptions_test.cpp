// What a scanner or a ticket holder may read or log in as: no broker internals, no shared
// subscription that would steal the bridge's scans, no role taken with another role's secret.
#include <gtest/gtest.h>

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

}  // namespace
