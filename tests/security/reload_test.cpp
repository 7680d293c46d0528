// `kill -HUP` of the broker (what docs/security.md and add-user.sh tell operators to do after
// adding or removing a scanner) re-reads the plugin's password file and JWT secret, and sends
// away clients whose user was removed or whose password changed.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>

#include "secure_broker.hpp"

namespace {

using tbtest::SecureBroker;

class BrokerReload : public SecureBroker {
 protected:
  // Mosquitto opens its ports before it installs its signal handlers: a SIGHUP in between ends
  // it. An MQTT exchange (a refused anonymous login) shows that its main loop runs.
  void hup() {
    sub("", "", "x", 1, 1);
    ASSERT_EQ(::kill(broker_.pid(), SIGHUP), 0);
  }
  void reload() {
    hup();
    ASSERT_TRUE(tbtest::wait_until(
        [&] { return broker_.log().find("tb_auth: reloaded") != std::string::npos; },
        std::chrono::seconds(5)))
        << broker_.log();
  }
  void passwd(std::vector<std::string> args) {
    args.insert(args.begin(), "mosquitto_passwd");
    ASSERT_EQ(tbtest::run(args).exit_code, 0);
  }
};

TEST_F(BrokerReload, AScannerAddedAfterStartCanLogInAfterAReload) {
  const auto before = sub("gate-3", "pw-3", "tickets/result/gate-3", 1, 1);
  EXPECT_TRUE(refused(before)) << before.err;
  ASSERT_EQ(tbtest::run({"bash", tbtest::source_dir() + "/broker-conf/add-user.sh",
                         etc_ + "/passwd", "gate-3", "pw-3"})
                .exit_code,
            0);
  reload();
  const auto after = sub("gate-3", "pw-3", "tickets/result/gate-3", 1, 1);
  EXPECT_FALSE(refused(after)) << after.err;
}

TEST_F(BrokerReload, ARemovedScannerIsDisconnectedAndCannotComeBack) {
  auto connected = listener("gate-1", "scan-pw", "tickets/result/gate-1", 0, 30, "gate-1.log");
  auto bridge_side = listener("bridge", "bridge-pw", "tickets/scan", 0, 30, "bridge.log");
  passwd({"-D", etc_ + "/passwd", "gate-1"});
  reload();
  EXPECT_TRUE(connected.wait_exit(std::chrono::seconds(5))) << "the removed scanner stayed on";
  EXPECT_TRUE(refused(sub("gate-1", "scan-pw", "tickets/result/gate-1", 1, 1)));
  EXPECT_TRUE(bridge_side.running()) << "a user that did not change was sent away";
  // gate-2 is untouched.
  EXPECT_FALSE(refused(sub("gate-2", "scan-pw-2", "tickets/result/gate-2", 1, 1)));
}

TEST_F(BrokerReload, AChangedPasswordSendsTheOldSessionAway) {
  auto connected = listener("gate-2", "scan-pw-2", "tickets/result/gate-2", 0, 30, "gate-2.log");
  passwd({"-b", etc_ + "/passwd", "gate-2", "new-pw-2"});
  reload();
  EXPECT_TRUE(connected.wait_exit(std::chrono::seconds(5))) << "the old password stayed on";
  EXPECT_TRUE(refused(sub("gate-2", "scan-pw-2", "tickets/result/gate-2", 1, 1)));
  EXPECT_FALSE(refused(sub("gate-2", "new-pw-2", "tickets/result/gate-2", 1, 1)));
}

TEST_F(BrokerReload, ANewJwtSecretTakesEffect) {
  const std::string fresh = "a-rotated-secret-0123456789abcdef";
  auto app = listener("42", token("42"), "users/42/events", 0, 30, "app.log");
  tbtest::write_file(etc_ + "/jwt-secret", fresh + "\n");
  reload();
  EXPECT_TRUE(app.wait_exit(std::chrono::seconds(5)))
      << "an app logged in with the old secret stayed on";
  EXPECT_TRUE(refused(sub("42", token("42"), "users/42/events", 1, 1)));
  EXPECT_FALSE(refused(sub("42", token("42", 3600, fresh), "users/42/events", 1, 1)));
}

TEST_F(BrokerReload, AnUnreadablePasswordFileKeepsTheOldOne) {
  std::filesystem::rename(etc_ + "/passwd", etc_ + "/passwd.moved");
  hup();
  ASSERT_TRUE(tbtest::wait_until(
      [&] { return broker_.log().find("keeping the previous") != std::string::npos; },
      std::chrono::seconds(5)))
      << broker_.log();
  EXPECT_FALSE(refused(sub("gate-1", "scan-pw", "tickets/result/gate-1", 1, 1)));
  EXPECT_TRUE(broker_.running());
}

// Debian's mosquitto with the ticket-bridge-mosquitto package, before `ticket-bridge init` wrote
// the plugin's files: the broker runs (the package does not break it) and lets nobody in; once the
// files are there a reload lets the bridge, the scanners and the apps in.
TEST_F(BrokerReload, FilesNotThereAtStartRefuseEveryoneUntilAReloadFindsThem) {
  stop_broker();
  std::filesystem::rename(etc_ + "/passwd", etc_ + "/passwd.later");
  std::filesystem::rename(etc_ + "/jwt-secret", etc_ + "/jwt-secret.later");
  start_broker();
  EXPECT_NE(broker_.log().find("passwd does not exist yet"), std::string::npos) << broker_.log();
  EXPECT_TRUE(refused(sub("bridge", "bridge-pw", "tickets/scan", 1, 1)));
  EXPECT_TRUE(refused(sub("42", token("42"), "users/42/events", 1, 1)));
  EXPECT_TRUE(refused(sub("", "", "tickets/scan", 1, 1)));

  std::filesystem::rename(etc_ + "/passwd.later", etc_ + "/passwd");
  std::filesystem::rename(etc_ + "/jwt-secret.later", etc_ + "/jwt-secret");
  reload();
  EXPECT_FALSE(refused(sub("bridge", "bridge-pw", "tickets/scan", 1, 1)));
  EXPECT_FALSE(refused(sub("gate-1", "scan-pw", "tickets/result/gate-1", 1, 1)));
  EXPECT_FALSE(refused(sub("42", token("42"), "users/42/events", 1, 1)));
}

}  // namespace
