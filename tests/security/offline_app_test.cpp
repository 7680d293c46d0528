// A native app with a persistent session gets what was published while it was away (SPEC.md:
// "events that arrive while the phone is offline are kept by the broker"), and nothing that was
// published after its token expired.
#include <gtest/gtest.h>

#include <thread>

#include "secure_broker.hpp"

namespace {

using tbtest::SecureBroker;

TEST_F(SecureBroker, AnOfflineAppReceivesWhatWasPublishedWhileItWasAway) {
  {
    auto app = client("42", token("42"), "app-42-0", /*clean=*/false);
    ASSERT_EQ(app->subscribe("users/42/events"), 1);
  }  // the phone goes offline; its session stays
  EXPECT_EQ(pub("bridge", "bridge-pw", "users/42/events", R"({"type":"push","seq":1})").exit_code,
            0);
  auto app = client("42", token("42"), "app-42-0", /*clean=*/false);
  const auto m = app->next("users/42/events", std::chrono::seconds(5));
  ASSERT_TRUE(m) << "the event published while the app was offline never arrived";
  EXPECT_EQ(m->payload, R"({"type":"push","seq":1})");
}

TEST_F(SecureBroker, NothingIsQueuedForAnOfflineAppAfterItsTokenExpired) {
  {
    // exp is in whole seconds: this token is valid for 3 to 4 s.
    auto app = client("42", token("42", 4), "app-42-1", /*clean=*/false);
    ASSERT_EQ(app->subscribe("users/42/events"), 1);
  }
  pub("bridge", "bridge-pw", "users/42/events", "before-expiry");
  std::this_thread::sleep_for(std::chrono::milliseconds(5000));
  pub("bridge", "bridge-pw", "users/42/events", "after-expiry");
  auto app = client("42", token("42"), "app-42-1", /*clean=*/false);  // a fresh token
  std::vector<std::string> got;
  while (const auto m = app->next("users/42/events", std::chrono::seconds(2))) {
    got.push_back(m->payload);
  }
  EXPECT_EQ(got, std::vector<std::string>{"before-expiry"});
}

// A failed login with the app's client id must not disturb the app's session either.
TEST_F(SecureBroker, AFailedLoginDoesNotForgetTheAppsIdentity) {
  {
    auto app = client("42", token("42"), "app-42-2", /*clean=*/false);
    ASSERT_EQ(app->subscribe("users/42/events"), 1);
  }
  const auto bad = sub("42", token("42", 3600, "a-forged-secret-0123456789abcdef"), "x", 1, 1,
                       {"-i", "app-42-2", "-c", "-x", "3600"});
  EXPECT_NE(bad.exit_code, 0);
  pub("bridge", "bridge-pw", "users/42/events", "while-away");
  auto app = client("42", token("42"), "app-42-2", /*clean=*/false);
  const auto m = app->next("users/42/events", std::chrono::seconds(5));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->payload, "while-away");
}

// The broker restarts (its persistent sessions are restored from disk) while the app is away: the
// app's identity comes back with them, and what is published after the restart is kept for it.
TEST_F(SecureBroker, AnOfflineAppStillGetsItsEventsAfterABrokerRestart) {
  {
    auto app = client("42", token("42"), "app-42-3", /*clean=*/false);
    ASSERT_EQ(app->subscribe("users/42/events"), 1);
  }
  stop_broker();
  start_broker();
  EXPECT_NE(broker_.log().find("1 customers restored"), std::string::npos) << broker_.log();
  EXPECT_EQ(pub("bridge", "bridge-pw", "users/42/events", "after-restart").exit_code, 0);
  auto app = client("42", token("42"), "app-42-3", /*clean=*/false);
  const auto m = app->next("users/42/events", std::chrono::seconds(5));
  ASSERT_TRUE(m) << "the event for the offline app was dropped after the broker restart";
  EXPECT_EQ(m->payload, "after-restart");
}

}  // namespace
