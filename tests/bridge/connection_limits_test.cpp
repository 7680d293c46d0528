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

}  // namespace
}  // namespace tb
