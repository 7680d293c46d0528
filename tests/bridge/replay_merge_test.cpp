// The replay and the live events of one WebSocket client, merged: every event after `since`
// once, in seq order, whichever way it came.
#include "replay_merge.hpp"

#include <gtest/gtest.h>

namespace tb {
namespace {

std::shared_ptr<const StoredEvent> live(std::int64_t seq) {
  return std::make_shared<const StoredEvent>(StoredEvent{"42", seq, 0, "e" + std::to_string(seq)});
}

Replay replay_of(std::int64_t last_seq, std::vector<std::int64_t> seqs, bool recovered = true) {
  Replay r{last_seq, recovered, {}};
  for (const auto s : seqs) r.events.push_back(StoredEvent{"42", s, 0, "e" + std::to_string(s)});
  return r;
}

std::vector<std::string> texts(const std::vector<ReplayMerger::Text>& v) {
  std::vector<std::string> out;
  for (const auto& t : v) out.push_back(*t);
  return out;
}

TEST(ReplayMerger, LiveEventsDuringTheReplayComeAfterItOnce) {
  ReplayMerger m;
  EXPECT_EQ(m.on_live(live(4)), nullptr);  // held while the replay is read
  EXPECT_EQ(m.on_live(live(5)), nullptr);
  auto r = replay_of(4, {3, 4});  // 4 is in both
  EXPECT_EQ(texts(m.on_replay(r, 2)), (std::vector<std::string>{"e3", "e4", "e5"}));
  EXPECT_TRUE(m.live());
  EXPECT_EQ(m.last_sent(), 5);
  EXPECT_EQ(m.on_live(live(5)), nullptr);  // a second copy
  const auto next = m.on_live(live(6));
  ASSERT_NE(next, nullptr);
  EXPECT_EQ(*next, "e6");
}

TEST(ReplayMerger, WithoutSinceOnlyWhatComesNext) {
  ReplayMerger m;
  auto r = replay_of(9, {});
  EXPECT_TRUE(m.on_replay(r, std::nullopt).empty());
  EXPECT_EQ(m.last_sent(), 9);
  EXPECT_EQ(m.on_live(live(9)), nullptr);
  EXPECT_NE(m.on_live(live(10)), nullptr);
}

TEST(ReplayMerger, AClientAheadOfTheLogGetsEverythingFromNowOn) {
  ReplayMerger m;
  auto r = replay_of(3, {}, false);
  EXPECT_TRUE(m.on_replay(r, 50).empty());
  EXPECT_EQ(m.last_sent(), 3);
  EXPECT_NE(m.on_live(live(4)), nullptr);
}

TEST(ReplayMerger, TheLiveBodyIsSharedNotCopied) {
  ReplayMerger m;
  auto r = replay_of(0, {});
  m.on_replay(r, std::nullopt);
  const auto e = live(1);
  const auto text = m.on_live(e);
  EXPECT_EQ(text.get(), &e->body);
}

}  // namespace
}  // namespace tb
