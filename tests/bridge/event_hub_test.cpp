// The per-uid fan-out: every live subscriber of the uid, nobody else, and none that went away.
#include "event_hub.hpp"

#include <gtest/gtest.h>

namespace tb {
namespace {

struct Collector : EventSubscriber {
  std::vector<std::int64_t> seqs;
  std::vector<std::int64_t> hints;  // -1: a hint of no particular seq
  void deliver(const std::shared_ptr<const StoredEvent>& e) override { seqs.push_back(e->seq); }
  void hint(std::optional<std::int64_t> seq) override { hints.push_back(seq.value_or(-1)); }
};

std::shared_ptr<const StoredEvent> event(const std::string& uid, std::int64_t seq) {
  return std::make_shared<const StoredEvent>(StoredEvent{uid, seq, 0, "{}"});
}

TEST(EventHub, DeliversToEveryConnectionOfTheUidOnly) {
  EventHub hub;
  auto a1 = std::make_shared<Collector>(), a2 = std::make_shared<Collector>();
  auto b = std::make_shared<Collector>();
  hub.subscribe("a", a1);
  hub.subscribe("a", a2);
  hub.subscribe("b", b);
  EXPECT_EQ(hub.connections(), 3U);
  EXPECT_EQ(hub.publish(event("a", 1)), 2U);
  EXPECT_EQ(hub.publish(event("nobody", 1)), 0U);
  EXPECT_EQ(a1->seqs, std::vector<std::int64_t>{1});
  EXPECT_EQ(a2->seqs, std::vector<std::int64_t>{1});
  EXPECT_TRUE(b->seqs.empty());
}

TEST(EventHub, ACapPerUidCountsOnlyLiveSubscribers) {
  EventHub hub;
  auto a1 = std::make_shared<Collector>(), a2 = std::make_shared<Collector>();
  EXPECT_TRUE(hub.subscribe("a", a1, 2));
  EXPECT_TRUE(hub.subscribe("a", a2, 2));
  EXPECT_FALSE(hub.subscribe("a", std::make_shared<Collector>(), 2));
  EXPECT_TRUE(hub.subscribe("b", std::make_shared<Collector>(), 2));
  a2.reset();  // gone without unsubscribing
  EXPECT_TRUE(hub.subscribe("a", std::make_shared<Collector>(), 2));
}

TEST(EventHub, UnsubscribedAndDestroyedSubscribersGetNothing) {
  EventHub hub;
  auto stays = std::make_shared<Collector>(), leaves = std::make_shared<Collector>();
  auto dies = std::make_shared<Collector>();
  hub.subscribe("a", stays);
  hub.subscribe("a", leaves);
  hub.subscribe("a", dies);
  hub.unsubscribe("a", leaves.get());
  dies.reset();
  EXPECT_EQ(hub.publish(event("a", 1)), 1U);
  EXPECT_EQ(stays->seqs.size(), 1U);
  EXPECT_TRUE(leaves->seqs.empty());
  hub.unsubscribe("a", stays.get());  // the dead one is swept too
  EXPECT_EQ(hub.connections(), 0U);
  hub.unsubscribe("unknown", stays.get());  // harmless
}

TEST(EventHub, HintsGoToTheUidsSubscribersAndToEveryoneAfterALoss) {
  EventHub hub;
  auto a = std::make_shared<Collector>(), b = std::make_shared<Collector>();
  hub.subscribe("a", a);
  hub.subscribe("b", b);
  EXPECT_EQ(hub.hint("a", 7), 1U);
  EXPECT_EQ(hub.hint("nobody", 7), 0U);
  hub.hint_all();
  EXPECT_EQ(a->hints, (std::vector<std::int64_t>{7, -1}));
  EXPECT_EQ(b->hints, (std::vector<std::int64_t>{-1}));
  EXPECT_TRUE(a->seqs.empty()) << "a hint is not an event";
}

}  // namespace
}  // namespace tb
