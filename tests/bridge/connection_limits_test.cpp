// The listener's caps: in total and per source, and slots that come back when connections end.
#include "connection_limits.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace tb {
namespace {

TEST(ConnectionLimits, CapsInTotalAndPerSource) {
  ConnectionLimits limits(3, 2);
  std::vector<ConnectionLimits::Slot> held;
  for (const char* source : {"a", "a"}) {
    auto [slot, cap] = limits.admit(source);
    EXPECT_TRUE(slot);
    EXPECT_EQ(cap, Cap::None);
    held.push_back(std::move(slot));
  }
  auto [third_a, cap_a] = limits.admit("a");
  EXPECT_TRUE(third_a) << "a slot to refuse it with";
  EXPECT_EQ(cap_a, Cap::PerSource);
  auto [b, cap_b] = limits.admit("b");
  EXPECT_TRUE(b);
  auto [c, cap_c] = limits.admit("c");
  EXPECT_EQ(cap_c, Cap::Total);
  EXPECT_EQ(limits.open(), 3U);  // refusals are not connections served
  held.pop_back();               // one of a's connections ends
  EXPECT_EQ(limits.open(), 2U);
  auto [again, cap_again] = limits.admit("a");
  EXPECT_TRUE(again);
  EXPECT_EQ(cap_again, Cap::None);
}

TEST(ConnectionLimits, RefusalsAreBoundedToo) {
  ConnectionLimits limits(1, 1, 2);
  auto [served, none] = limits.admit("a");
  auto [r1, cap1] = limits.admit("a");
  auto [r2, cap2] = limits.admit("b");
  EXPECT_TRUE(r1);
  EXPECT_TRUE(r2);
  auto [r3, cap3] = limits.admit("c");
  EXPECT_FALSE(r3) << "too many refusals at once: closed without an answer";
  EXPECT_EQ(cap3, Cap::Total);
  r1 = ConnectionLimits::Slot();  // that refusal was answered
  EXPECT_TRUE(limits.admit("c").first);
  EXPECT_EQ(limits.open(), 1U);
}

TEST(ConnectionLimits, AMovedSlotIsGivenBackOnce) {
  ConnectionLimits limits(1, 1);
  {
    auto [slot, cap] = limits.admit("a");
    ConnectionLimits::Slot moved = std::move(slot);
    ConnectionLimits::Slot assigned;
    assigned = std::move(moved);
    EXPECT_EQ(limits.open(), 1U);
  }
  EXPECT_EQ(limits.open(), 0U);
  EXPECT_TRUE(limits.admit("a").first);
}

// A trusted proxy's connection counts against the total only, until the client it names is known.
TEST(ConnectionLimits, AProxiedSlotCountsAgainstTheClientItIsAttributedTo) {
  ConnectionLimits limits(10, 2);
  std::vector<ConnectionLimits::Slot> held;
  for (int i = 0; i < 4; ++i) {
    auto [slot, cap] = limits.admit("");  // four from the proxy: no per-source cap applies
    EXPECT_EQ(cap, Cap::None);
    held.push_back(std::move(slot));
  }
  EXPECT_EQ(limits.attribute(held[0], "client"), Cap::None);
  EXPECT_EQ(limits.attribute(held[1], "client"), Cap::None);
  EXPECT_EQ(limits.attribute(held[2], "client"), Cap::PerSource) << "the client is at its cap";
  EXPECT_EQ(limits.attribute(held[2], "other"), Cap::None);
  auto [direct, cap] = limits.admit("client");
  EXPECT_EQ(cap, Cap::PerSource) << "the same client, connecting directly, is at its cap too";
  EXPECT_EQ(limits.attribute(held[0], "other"), Cap::None) << "attributed once: a no-op";
  held.erase(held.begin());  // one of the client's connections ends
  auto [again, again_cap] = limits.admit("client");
  EXPECT_EQ(again_cap, Cap::None);
  EXPECT_EQ(limits.admit("client").second, Cap::PerSource);
  // Neither a refusal's slot nor a moved-from one is ever attributed.
  auto [refusal, refused_cap] = limits.admit("client");
  ASSERT_EQ(refused_cap, Cap::PerSource);
  EXPECT_EQ(limits.attribute(refusal, "third"), Cap::None);
  ConnectionLimits::Slot moved_to = std::move(held.back());
  EXPECT_EQ(limits.attribute(held.back(), "third"), Cap::None);
  auto [third1, cap1] = limits.admit("third");
  auto [third2, cap2] = limits.admit("third");
  EXPECT_EQ(cap2, Cap::None) << "\"third\" was counted by a slot that is not its";
  again = ConnectionLimits::Slot();
  refusal = ConnectionLimits::Slot();
  moved_to = ConnectionLimits::Slot();
  third1 = ConnectionLimits::Slot();
  third2 = ConnectionLimits::Slot();
  held.clear();
  direct = ConnectionLimits::Slot();
  EXPECT_EQ(limits.open(), 0U);
}

}  // namespace
}  // namespace tb
