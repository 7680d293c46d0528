// The plugin's plugin_opt_ settings: every option read, and every wrong one refused with a reason
// (mosquitto then refuses to start, instead of running with a setting nobody asked for).
#include "config.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "process.hpp"

namespace tbauth {
namespace {

TEST(PluginConfig, EveryOptionIsRead) {
  tbtest::TempDir dir;
  std::ofstream(dir.file("secret")) << "  jwt-secret-of-the-venue \n";
  std::string error;
  const auto c = load_config({{"jwt_secret_file", dir.file("secret")},
                              {"bridge_users", "bridge,bridge-2,"},
                              {"max_app_sessions", "3"},
                              {"sessions_file", dir.file("sessions")}},
                             error);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->jwt_secret, "jwt-secret-of-the-venue");
  EXPECT_EQ(c->bridge_users, (std::set<std::string>{"bridge", "bridge-2"}));
  EXPECT_EQ(c->password_role("bridge-2"), Role::Bridge);
  EXPECT_EQ(c->password_role("gate-1"), Role::Scanner);
  EXPECT_EQ(c->max_app_sessions, 3);
  EXPECT_EQ(c->sessions_file, dir.file("sessions"));
}

TEST(PluginConfig, WrongOptionsAreRefusedWithAReason) {
  tbtest::TempDir dir;
  std::ofstream(dir.file("empty")) << "\n";
  for (const Options& bad : std::vector<Options>{{{"max_app_sessions", "0"}},
                                                 {{"max_app_sessions", "1001"}},
                                                 {{"max_app_sessions", "eight"}},
                                                 {{"max_app_sessions", "8x"}},
                                                 {{"max_app_sessions", ""}},
                                                 {{"jwt_secret_file", dir.file("empty")}},
                                                 {{"password_file", dir.file("empty")}},
                                                 {{"pasword_file", "x"}}}) {
    std::string error;
    EXPECT_FALSE(load_config(bad, error)) << bad[0].first << "=" << bad[0].second;
    EXPECT_FALSE(error.empty()) << bad[0].first;
  }
}

// A broker installed from the package before `ticket-bridge init` wrote the plugin's files starts,
// and refuses every login those files would allow, rather than not starting at all. A file that is
// there but empty is still refused (above).
TEST(PluginConfig, FilesNotThereYetStartABrokerThatLetsNobodyIn) {
  tbtest::TempDir dir;
  std::string error;
  const auto c = load_config(
      {{"password_file", dir.file("passwd")}, {"jwt_secret_file", dir.file("jwt-secret")}}, error);
  ASSERT_TRUE(c) << error;
  EXPECT_FALSE(c->passwords);
  EXPECT_TRUE(c->jwt_secret.empty());
  EXPECT_EQ(c->missing_files,
            (std::vector<std::string>{dir.file("passwd"), dir.file("jwt-secret")}));
}

}  // namespace
}  // namespace tbauth
