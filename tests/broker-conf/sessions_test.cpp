// The plugin's table of identities by client id: offline entries, expiry, revocation, and the
// customers' file that carries them across a broker restart.
#include "sessions.hpp"

#include <gtest/gtest.h>

#include "process.hpp"

namespace tbauth {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;
int g_connection = 0;  // stands for a broker client

Session customer(const std::string& uid, std::int64_t exp, bool connected = false) {
  Session s;
  s.who = Identity{Role::Customer, uid, exp};
  if (connected) s.connection = &g_connection;
  return s;
}

TEST(Sessions, AnEntryOutlivesItsConnectionAndBelongsToOneUser) {
  SessionTable t;
  t.put("app-42-0", customer("42", kNow + 60, true));
  t.disconnected("app-42-0", nullptr);  // another connection's end (a refused login)
  ASSERT_NE(t.find("app-42-0", "42"), nullptr);
  EXPECT_NE(t.find("app-42-0", "42")->connection, nullptr);
  t.disconnected("app-42-0", &g_connection);
  ASSERT_NE(t.find("app-42-0", "42"), nullptr);  // offline, still known
  EXPECT_EQ(t.find("app-42-0", "42")->connection, nullptr);
  EXPECT_EQ(t.find("app-42-0", "43"), nullptr);
}

TEST(Sessions, PurgeDropsOnlyOfflineExpiredCustomersAndOldRevocations) {
  SessionTable t;
  t.put("app-1-0", customer("1", kNow - 1));        // expired, offline: dropped
  t.put("app-2-0", customer("2", kNow - 1, true));  // expired, still connected: kept (kicked)
  t.put("app-3-0", customer("3", kNow + 60));       // valid: kept
  Session scanner;
  scanner.who = Identity{Role::Scanner, "gate-1", 0};
  t.put("scanner-gate-1", scanner);
  t.purge(kNow);
  EXPECT_EQ(t.find("app-1-0", "1"), nullptr);
  EXPECT_NE(t.find("app-2-0", "2"), nullptr);
  EXPECT_NE(t.find("app-3-0", "3"), nullptr);
  EXPECT_NE(t.find("scanner-gate-1", "gate-1"), nullptr);
  const auto away = t.revoke_if([](const Session& s) { return s.who.role == Role::Scanner; }, kNow);
  EXPECT_TRUE(away.empty());  // gate-1 was offline: nobody to send away
  EXPECT_TRUE(t.find("scanner-gate-1", "gate-1")->revoked);
  t.purge(kNow + 30);
  EXPECT_NE(t.find("scanner-gate-1", "gate-1"), nullptr);  // kept a while for its Last Will
  t.purge(kNow + 61);
  EXPECT_EQ(t.find("scanner-gate-1", "gate-1"), nullptr);
}

TEST(Sessions, CustomersAreSavedAndRestored) {
  tbtest::TempDir dir;
  SessionTable t;
  t.put("app-42-0", customer("42", kNow + 3600));
  t.put("app-43-7", customer("43", kNow + 10));
  t.put("app-44-0", customer("44", kNow - 5));  // expired by the time it is read
  Session scanner;
  scanner.who = Identity{Role::Scanner, "gate-1", 0};
  t.put("scanner-gate-1", scanner);  // not saved: it follows from the password file
  EXPECT_TRUE(t.dirty());
  std::string error;
  ASSERT_TRUE(t.save(dir.file("sessions"), error)) << error;
  EXPECT_FALSE(t.dirty());
  tbtest::write_file(dir.file("sessions"), tbtest::read_file(dir.file("sessions")) +
                                               "garbage\napp-45-9 45 9999999999\napp-4-0 46 " +
                                               std::to_string(kNow + 60) + "\n");
  SessionTable restored;
  EXPECT_EQ(restored.load(dir.file("sessions"), kNow, kDefaultAppSessions), 2U);
  ASSERT_NE(restored.find("app-42-0", "42"), nullptr);
  EXPECT_EQ(restored.find("app-42-0", "42")->who.exp, kNow + 3600);
  EXPECT_NE(restored.find("app-43-7", "43"), nullptr);
  EXPECT_EQ(restored.find("app-44-0", "44"), nullptr);
  EXPECT_EQ(restored.find("app-45-9", "45"), nullptr);  // beyond the app sessions allowed
  EXPECT_EQ(restored.find("app-4-0", "46"), nullptr);   // not that uid's client id
  EXPECT_EQ(restored.find("scanner-gate-1", "gate-1"), nullptr);
  EXPECT_EQ(SessionTable().load(dir.file("missing"), kNow, kDefaultAppSessions), 0U);
}

}  // namespace
}  // namespace tbauth
