// The paged replay and the live events of one WebSocket client, merged: every event after
// `since` once, in seq order, whichever way it came, with nothing held but one page.
#include "replay_merge.hpp"

#include <gtest/gtest.h>

namespace tb {
namespace {

std::shared_ptr<const StoredEvent> live(std::int64_t seq) {
  return std::make_shared<const StoredEvent>(StoredEvent{"42", seq, 0, "e" + std::to_string(seq)});
}

// A page as Store::replay reads it: `more` when it stopped at its bound.
Replay page_of(std::int64_t last_seq, std::vector<std::int64_t> seqs, bool more = false) {
  Replay r{last_seq, true, {}, more, more ? seqs.back() : last_seq};
  for (const auto s : seqs) r.events.push_back(StoredEvent{"42", s, 0, "e" + std::to_string(s)});
  return r;
}

std::vector<std::string> texts(const std::vector<ReplayMerger::Text>& v) {
  std::vector<std::string> out;
  for (const auto& t : v) out.push_back(*t);
  return out;
}

TEST(ReplayMerger, PagesThenLive) {
  ReplayMerger m;
  auto p1 = page_of(6, {3, 4}, /*more=*/true);
  EXPECT_EQ(texts(m.on_page(p1, 2)), (std::vector<std::string>{"e3", "e4"}));
  EXPECT_FALSE(m.live());
  EXPECT_EQ(m.next_since(), 4);
  auto p2 = page_of(6, {5, 6});
  EXPECT_EQ(texts(m.on_page(p2, 2)), (std::vector<std::string>{"e5", "e6"}));
  EXPECT_TRUE(m.live());
  EXPECT_EQ(m.on_live(live(6)), nullptr);  // a second copy
  const auto next = m.on_live(live(7));
  ASSERT_NE(next, nullptr);
  EXPECT_EQ(*next, "e7");
}

TEST(ReplayMerger, AnEventSeenLiveAfterThePageWasReadNeedsOneMorePage) {
  ReplayMerger m;
  EXPECT_EQ(m.on_live(live(4)), nullptr);  // committed while the page was read: in it
  EXPECT_EQ(m.on_live(live(5)), nullptr);  // committed after: not in it
  auto p1 = page_of(4, {3, 4});
  EXPECT_EQ(texts(m.on_page(p1, 2)), (std::vector<std::string>{"e3", "e4"}));
  EXPECT_FALSE(m.live()) << "5 was seen live but not read yet";
  EXPECT_EQ(m.next_since(), 4);
  auto p2 = page_of(5, {5});
  EXPECT_EQ(texts(m.on_page(p2, std::nullopt)), (std::vector<std::string>{"e5"}));
  EXPECT_TRUE(m.live());
  EXPECT_EQ(m.last_sent(), 5);
}

TEST(ReplayMerger, WithoutSinceOnlyWhatComesNext) {
  ReplayMerger m;
  auto r = page_of(9, {});
  EXPECT_TRUE(m.on_page(r, std::nullopt).empty());
  EXPECT_TRUE(m.live());
  EXPECT_EQ(m.last_sent(), 9);
  EXPECT_EQ(m.on_live(live(9)), nullptr);
  EXPECT_NE(m.on_live(live(10)), nullptr);
}

TEST(ReplayMerger, AClientAheadOfTheLogGetsEverythingFromNowOn) {
  ReplayMerger m;
  auto r = page_of(3, {});
  r.recovered = false;
  EXPECT_TRUE(m.on_page(r, 50).empty());
  EXPECT_TRUE(m.live());
  EXPECT_EQ(m.last_sent(), 3);
  EXPECT_NE(m.on_live(live(4)), nullptr);
}

TEST(ReplayMerger, TheLiveBodyIsSharedNotCopied) {
  ReplayMerger m;
  auto r = page_of(0, {});
  m.on_page(r, std::nullopt);
  const auto e = live(1);
  const auto text = m.on_live(e);
  EXPECT_EQ(text.get(), &e->body);
}

// Another bridge's event 7 has not reached us when our own 8 does: 8 is not sent ahead of it,
// pages are read again from 6, and both come in order from the store.
TEST(ReplayMerger, AGapLiveSendsItBackToThePages) {
  ReplayMerger m;
  auto r = page_of(6, {});
  m.on_page(r, std::nullopt);
  ASSERT_TRUE(m.live());
  EXPECT_EQ(m.on_live(live(8)), nullptr);
  EXPECT_FALSE(m.live());
  EXPECT_EQ(m.next_since(), 6);
  m.begin_page();
  auto p = page_of(8, {7, 8});
  EXPECT_EQ(texts(m.on_page(p, std::nullopt)), (std::vector<std::string>{"e7", "e8"}));
  EXPECT_TRUE(m.live());
  EXPECT_EQ(m.on_hint(7), false) << "the hint of what was read";
  EXPECT_TRUE(m.live());
  EXPECT_EQ(*m.on_live(live(9)), "e9");
}

TEST(ReplayMerger, AHintOfAnUnreadSeqReadsAgainAndAForgedOneCostsOnePage) {
  ReplayMerger m;
  auto r = page_of(2, {});
  m.on_page(r, std::nullopt);
  EXPECT_TRUE(m.on_hint(3));
  EXPECT_FALSE(m.live());
  m.begin_page();
  auto p = page_of(3, {3});
  EXPECT_EQ(texts(m.on_page(p, std::nullopt)), (std::vector<std::string>{"e3"}));
  EXPECT_TRUE(m.live());
  // A hint of a seq the store does not have (a forged one): one page, and live again.
  EXPECT_TRUE(m.on_hint(1'000'000));
  m.begin_page();
  auto none = page_of(3, {});
  EXPECT_TRUE(m.on_page(none, std::nullopt).empty());
  EXPECT_TRUE(m.live());
  // A hint during a page read (the read may have started before it was committed): one more.
  EXPECT_TRUE(m.on_hint(std::nullopt));
  m.begin_page();
  EXPECT_FALSE(m.on_hint(4)) << "already reading";
  auto before = page_of(3, {});
  m.on_page(before, std::nullopt);
  EXPECT_FALSE(m.live());
  m.begin_page();
  auto after = page_of(4, {4});
  EXPECT_EQ(texts(m.on_page(after, std::nullopt)), (std::vector<std::string>{"e4"}));
  EXPECT_TRUE(m.live());
}

// A ticket-scoped client: another ticket's events move it on unsent, and are no gap.
TEST(ReplayMerger, EventsOutOfScopeMoveItOnWithoutAGap) {
  ReplayMerger m;
  auto r = page_of(1, {});
  m.on_page(r, std::nullopt);
  EXPECT_EQ(m.on_live(live(2), /*in_scope=*/false), nullptr);
  EXPECT_TRUE(m.live());
  EXPECT_EQ(*m.on_live(live(3)), "e3");
  EXPECT_EQ(m.last_sent(), 3);
  EXPECT_EQ(m.next_since(), 3);
}

}  // namespace
}  // namespace tb
