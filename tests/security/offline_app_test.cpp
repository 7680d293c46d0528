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
    auto app = client("42", token("42", 3), "app-42-1", /*clean=*/false);
    ASSERT_EQ(app->subscribe("users/42/events"), 1);
  }
  pub("bridge", "bridge-pw", "users/42/events", "before-expiry");
  std::this_thread::sleep_for(std::chrono::milliseconds(4000));
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

}  // namespace
