// Offline decisions at the gate: the signed code's rules, the gate's record, and what it refuses
// to decide alone.
#include "offline_gate.hpp"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "journal.hpp"
#include "process.hpp"

namespace sa {
namespace {

constexpr tb::Millis kNow = 1'800'000'000'000;

struct Venue {
  tb::SigningKey key = tb::SigningKey::generate();
  tb::RotatingKey rotating = tb::generate_rotating_key();
  OfflineKeys keys() const {
    return OfflineKeys{{tb::VerifyKey{key.key_id(), key.public_key()}}, rotating};
  }
  std::string sign(tb::CodeClaims c) const { return key.sign(c); }
};

tb::CodeClaims claims(const std::string& code) {
  tb::CodeClaims c;
  c.code = code;
  c.valid_from = kNow - 3'600'000;
  c.valid_until = kNow + 3'600'000;
  c.gates = {"north"};
  return c;
}

tb::Scan scan_at(const std::string& gate, tb::Direction d = tb::Direction::In) {
  tb::Scan s;
  s.scanner = "gate-n-1";
  s.gate = gate;
  s.direction = d;
  return s;
}

// The record, as the agent keeps it: what the decisions changed.
struct Record {
  std::map<std::string, KnownUsage> known;
  std::map<std::string, tb::SyncEntry> heard;  // the feed's news, by key
  UsageLookup lookup() {
    return [this](const std::string& c, const std::string& key) -> std::optional<KnownUsage> {
      const auto it = known.find(c);
      std::optional<KnownUsage> own;
      if (it != known.end()) own = it->second;
      if (const auto h = heard.find(key); h != heard.end()) return merge_known(own, 0, h->second);
      return own;
    };
  }
  OfflineVerdict decide(const OfflineKeys& k, const std::string& text, const tb::Scan& s,
                        tb::Millis at = kNow) {
    auto d = decide_offline(k, text, s, at, lookup());
    EXPECT_TRUE(std::holds_alternative<OfflineVerdict>(d)) << std::get<std::string>(d);
    auto v = std::get<OfflineVerdict>(d);
    if (v.decision.new_usage) known[v.code].usage = *v.decision.new_usage;
    return v;
  }
};

TEST(OfflineGate, AValidSignedCodeGoesInOnceAtThisGate) {
  Venue venue;
  Record r;
  const std::string code = venue.sign(claims("OFF1"));
  const auto first = r.decide(venue.keys(), code, scan_at("north"));
  EXPECT_EQ(first.code, "OFF1");
  EXPECT_EQ(first.decision.status, tb::Status::Admitted);
  const auto second = r.decide(venue.keys(), code, scan_at("north"), kNow + 1000);
  EXPECT_EQ(second.decision.reason, tb::Reason::AlreadyUsed);
  const auto a = verdict_answer(second);
  EXPECT_EQ(a["offline"], true);
  EXPECT_EQ(a["reason"], "already_used");
  EXPECT_EQ(a["previous"]["gate"], "north");
  EXPECT_EQ(verdict_record(first)["status"], "admitted");
  EXPECT_EQ(verdict_record(first)["decided_at"], tb::format_rfc3339(kNow));
}

TEST(OfflineGate, TheCodesRulesAreTheBridges) {
  Venue venue;
  Record r;
  const std::string code = venue.sign(claims("OFF2"));
  EXPECT_EQ(r.decide(venue.keys(), code, scan_at("south")).decision.reason, tb::Reason::WrongGate);
  EXPECT_EQ(r.decide(venue.keys(), code, scan_at("north"), kNow + 7'200'000).decision.reason,
            tb::Reason::Expired);
  EXPECT_EQ(r.decide(venue.keys(), code, scan_at("north"), kNow - 7'200'000).decision.reason,
            tb::Reason::NotYetValid);
  EXPECT_EQ(r.decide(venue.keys(), code, scan_at("north", tb::Direction::Out)).decision.reason,
            tb::Reason::NotInside);
  r.known["OFF2"].revoked = true;
  EXPECT_EQ(r.decide(venue.keys(), code, scan_at("north")).decision.reason, tb::Reason::Revoked);
}

TEST(OfflineGate, AForgedOrDamagedCodeIsRefused) {
  Venue venue, other;
  Record r;
  const std::string code = venue.sign(claims("OFF3"));
  // Signed with another key: unknown here.
  EXPECT_EQ(r.decide(venue.keys(), other.sign(claims("OFF3")), scan_at("north")).decision.reason,
            tb::Reason::Unknown);
  // A flipped bit in the payload (a character of the base32 changed).
  std::string flipped = code;
  flipped[10] = flipped[10] == 'A' ? 'B' : 'A';
  const auto f = r.decide(venue.keys(), flipped, scan_at("north"));
  EXPECT_EQ(f.decision.status, tb::Status::Rejected);
  EXPECT_TRUE(f.decision.reason == tb::Reason::Unknown ||
              f.decision.reason == tb::Reason::Malformed);
  // Truncated, and garbage after the prefix.
  EXPECT_EQ(
      r.decide(venue.keys(), code.substr(0, code.size() / 2), scan_at("north")).decision.reason,
      tb::Reason::Malformed);
  EXPECT_EQ(r.decide(venue.keys(), "TB1.!!!!", scan_at("north")).decision.reason,
            tb::Reason::Malformed);
  EXPECT_TRUE(r.known.empty()) << "a refused code uses nothing";
}

TEST(OfflineGate, RotatingValuesAreJudgedAtTheScanAndNeedTheKey) {
  Venue venue;
  Record r;
  auto c = claims("OFF4");
  c.rotating = true;
  const std::string code = venue.sign(c);
  const auto secret = tb::ticket_rotating_secret(venue.rotating, "OFF4");
  const std::string old_value = tb::rotating_value(secret, tb::rotating_step(kNow - 40'000));
  EXPECT_EQ(r.decide(venue.keys(), code + "." + old_value, scan_at("north")).decision.reason,
            tb::Reason::StaleCode);
  EXPECT_EQ(r.decide(venue.keys(), code, scan_at("north")).decision.reason, tb::Reason::StaleCode);
  const std::string live = tb::rotating_value(secret, tb::rotating_step(kNow));
  EXPECT_EQ(r.decide(venue.keys(), code + "." + live, scan_at("north")).decision.status,
            tb::Status::Admitted);
  // Without the rotating key the gate cannot tell the live page from a copy: not decided here.
  OfflineKeys no_rotating = venue.keys();
  no_rotating.rotating.reset();
  EXPECT_TRUE(std::holds_alternative<std::string>(
      decide_offline(no_rotating, code + "." + live, scan_at("north"), kNow, r.lookup())));
}

// What the bridge's feed said other gates let in before the outage counts here: a used ticket
// is refused, a revoked one too; the feed's key of another ticket changes nothing.
TEST(OfflineGate, WhatTheFeedSaysOtherGatesDidCounts) {
  Venue venue;
  Record r;
  const std::string used = venue.sign(claims("FEED1"));
  const std::string revoked = venue.sign(claims("FEED2"));
  const std::string other = venue.sign(claims("FEED3"));
  r.heard[*tb::sync_key_of(used)] = tb::SyncEntry{*tb::sync_key_of(used), 1, true, false, kNow};
  r.heard[*tb::sync_key_of(revoked)] =
      tb::SyncEntry{*tb::sync_key_of(revoked), 0, false, true, kNow};
  EXPECT_EQ(r.decide(venue.keys(), used, scan_at("north")).decision.reason,
            tb::Reason::AlreadyUsed);
  EXPECT_EQ(r.decide(venue.keys(), revoked, scan_at("north")).decision.reason, tb::Reason::Revoked);
  EXPECT_EQ(r.decide(venue.keys(), other, scan_at("north")).decision.status, tb::Status::Admitted);
}

TEST(OfflineGate, TheOwnRecordAndTheFeedMerge) {
  KnownUsage own;
  own.usage.entries = 2;
  own.usage.inside = true;
  own.usage.last_entry = tb::EntryRecord{kNow, "north", "gate-n-1"};
  // Older news of fewer entries, out: the gate's own later record stands.
  auto m = merge_known(own, kNow, tb::SyncEntry{"k", 1, false, false, kNow - 1});
  EXPECT_EQ(m.usage.entries, 2);
  EXPECT_TRUE(m.usage.inside);
  EXPECT_FALSE(m.revoked);
  ASSERT_TRUE(m.usage.last_entry);
  EXPECT_EQ(m.usage.last_entry->gate, "north");
  // Later news: out since, more entries, revoked.
  m = merge_known(own, kNow, tb::SyncEntry{"k", 3, false, true, kNow + 1});
  EXPECT_EQ(m.usage.entries, 3);
  EXPECT_FALSE(m.usage.inside);
  EXPECT_TRUE(m.revoked);
  // Only the feed knows it.
  m = merge_known(std::nullopt, 0, tb::SyncEntry{"k", 1, true, false, 5});
  EXPECT_EQ(m.usage.entries, 1);
  EXPECT_TRUE(m.usage.inside);
}

TEST(OfflineGate, TheJournalMergesTheFeedAndHoldsABoundedNumber) {
  tbtest::TempDir dir;
  Journal j(dir.file("j.db"));
  const std::string a(32, 'a'), b(32, 'b'), c(32, 'c');
  EXPECT_EQ(j.apply_feed({{a, 1, true, false, 100}, {b, 0, false, true, 100}}, 2), 0U);
  // Stale news changes nothing; later news moves inside; entries never go down.
  EXPECT_EQ(j.apply_feed({{a, 0, false, false, 50}}, 2), 0U);
  auto k = j.known("NOCODE", a);
  ASSERT_TRUE(k);
  EXPECT_EQ(k->usage.entries, 1);
  EXPECT_TRUE(k->usage.inside);
  EXPECT_EQ(j.apply_feed({{a, 0, false, false, 200}}, 2), 0U);
  k = j.known("NOCODE", a);
  EXPECT_EQ(k->usage.entries, 1);
  EXPECT_FALSE(k->usage.inside);
  EXPECT_TRUE(j.known("NOCODE", b)->revoked);
  // Full at 2: a third ticket is left out, news of those held still counts.
  EXPECT_EQ(j.apply_feed({{c, 1, true, false, 300}, {a, 4, true, false, 300}}, 2), 1U);
  EXPECT_FALSE(j.known("NOCODE", c));
  EXPECT_EQ(j.known("NOCODE", a)->usage.entries, 4);
  // The gate's own record of the same ticket merges with it.
  auto q = j.add("gate-1", "X", 10, [](const std::string& id) { return id; });
  ASSERT_TRUE(q);
  tb::TicketUsage u;
  u.entries = 5;
  u.inside = true;
  j.decided_offline(q->scan_id, "{}", "OWN", u);
  k = j.known("OWN", a);
  ASSERT_TRUE(k);
  EXPECT_EQ(k->usage.entries, 5);
  EXPECT_TRUE(k->usage.inside);  // the own record is newer than the feed's 300 ms
  EXPECT_FALSE(j.known("OWN", std::nullopt)->revoked);
}

TEST(OfflineGate, APlainCodeIsLeftToTheBridge) {
  Venue venue;
  Record r;
  EXPECT_TRUE(std::holds_alternative<std::string>(
      decide_offline(venue.keys(), "TB7QK2M9XW4R", scan_at("north"), kNow, r.lookup())));
}

TEST(OfflineGate, TheJournalKeepsTheRecordAcrossRestarts) {
  tbtest::TempDir dir;
  {
    Journal j(dir.file("j.db"));
    auto q = j.add("gate-1", "X", 10, [](const std::string& id) { return id; });
    ASSERT_TRUE(q);
    tb::TicketUsage u;
    u.entries = 1;
    u.inside = true;
    u.last_entry = tb::EntryRecord{kNow, "north", "gate-1"};
    j.decided_offline(q->scan_id, "{\"offline\":1}", "OFF5", u);
    EXPECT_EQ(j.all().at(0).payload, "{\"offline\":1}");
    // An older answer never lowers the entries; an exit says the holder is out.
    tb::TicketUsage out;
    out.entries = 0;
    out.inside = false;
    j.answered(q->scan_id, "OFF5", out);
    EXPECT_EQ(j.size(), 0U);
  }
  Journal j(dir.file("j.db"));
  const auto k = j.known("OFF5");
  ASSERT_TRUE(k);
  EXPECT_EQ(k->usage.entries, 1);
  EXPECT_FALSE(k->usage.inside);
  ASSERT_TRUE(k->usage.last_entry);
  EXPECT_EQ(k->usage.last_entry->gate, "north");
  EXPECT_FALSE(j.known("NONE"));
}

}  // namespace
}  // namespace sa
