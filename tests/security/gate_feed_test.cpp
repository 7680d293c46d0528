// The gates' feed on the production broker (gate_sync.hpp, docs/offline.md): the bridge's
// updates and snapshot reach every scanner, name no ticket code, and neither a ticket holder nor a
// stolen scanner's password can read or write what they may not.
#include <gtest/gtest.h>

#include "gate_sync.hpp"
#include "secure_broker.hpp"

namespace {

using nlohmann::json;
using tbtest::SecureBroker;

bool denied(const tbtest::RunResult& r) {
  return (r.out + r.err).find("denied") != std::string::npos;
}

TEST_F(SecureBroker, TheGatesFeedReachesScannersOnlyAndNamesNoCode) {
  auto bridge = make_bridge({"--gate-feed-interval", "1"});
  ASSERT_EQ(bridge->cli({"keys", "init"}).exit_code, 0);
  const auto add = bridge->cli({"tickets", "add", "--uid", "42", "--code", "FEEDCODE1"});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  const std::string signed_code = json::parse(add.out)["signed_code"];
  const auto key = tb::sync_key_of(signed_code);
  ASSERT_TRUE(key);
  ASSERT_TRUE(bridge->start()) << bridge->log();

  // Another gate listens to the feed; the holder of the ticket may not.
  auto listener = scanner("gate-2");
  ASSERT_EQ(listener->subscribe("tickets/sync/updates"), 1);
  ASSERT_EQ(listener->subscribe("tickets/sync/snapshot/+"), 1);
  for (const std::string filter :
       {"tickets/sync/updates", "tickets/sync/snapshot/+", "tickets/sync/#", "tickets/#"}) {
    const auto r = sub("42", token("42"), filter, 1, 1);
    EXPECT_TRUE(denied(r)) << "the ticket holder subscribed to " << filter << ": " << r.out
                           << r.err;
  }

  auto gate = scanner("gate-1");
  ASSERT_EQ(gate->subscribe("tickets/result/gate-1"), 1);
  gate->publish("tickets/scan", scan_payload("feed:1", signed_code));
  ASSERT_EQ(answer(*gate, "feed:1")["status"], "admitted") << bridge->log();

  const auto update = listener->next("tickets/sync/updates", std::chrono::seconds(5));
  ASSERT_TRUE(update) << "no update reached the other gate" << bridge->log();
  EXPECT_EQ(update->payload.find("FEEDCODE1"), std::string::npos) << update->payload;
  const auto parsed = tb::parse_sync_payload(update->payload);
  ASSERT_TRUE(std::holds_alternative<tb::SyncMessage>(parsed)) << update->payload;
  const auto& u = std::get<tb::SyncMessage>(parsed);
  ASSERT_EQ(u.entries.size(), 1U);
  EXPECT_EQ(u.entries[0].key, *key);
  EXPECT_EQ(u.entries[0].entries, 1);

  // The snapshot that follows says the same, retained: a gate subscribing later gets it.
  listener.reset();
  ASSERT_TRUE(tbtest::wait_until(
      [&] {
        auto late = scanner("gate-2");
        late->subscribe("tickets/sync/snapshot/+");
        const auto m = late->next("tickets/sync/snapshot/0", std::chrono::seconds(2));
        return m && m->retained && m->payload.find(*key) != std::string::npos;
      },
      std::chrono::seconds(15)))
      << bridge->log();

  // A stolen scanner's password cannot feed the gates a lie.
  EXPECT_EQ(
      gate->publish("tickets/sync/updates", tb::sync_payload({{*key, 0, false, false, 1}}, 1)),
      0x87);
  EXPECT_EQ(gate->publish("tickets/sync/snapshot/0", "{}", 1, {}, {}, true), 0x87);
}

}  // namespace
