// The JSON the bridge sends (SPEC.md): every key of an answer always present, the owner's event
// only for known tickets, and `previous` only on already_used.
#include "messages.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace tb {
namespace {

using nlohmann::json;

Ticket ticket() {
  Ticket t;
  t.code = "TB1";
  t.uid = "42";
  t.holder = "A. Example";
  t.max_entries = 2;
  t.usage.entries = 1;
  t.usage.last_entry = EntryRecord{1'700'000'000'000, std::string("north"), std::string("g-1")};
  return t;
}

TEST(Messages, AnAnswerHasEveryKeyEvenForAnUnknownTicket) {
  const Decision d{Status::Rejected, Reason::Unknown, std::nullopt};
  const json r = make_result(std::string("s:1"), std::string("NOPE"), d, nullptr, 0);
  for (const char* key : {"scan_id", "code", "status", "reason", "entries", "max_entries", "holder",
                          "previous", "decided_at"}) {
    EXPECT_TRUE(r.contains(key)) << key;
  }
  EXPECT_EQ(r["status"], "rejected");
  EXPECT_EQ(r["reason"], "unknown");
  EXPECT_TRUE(r["holder"].is_null());
  EXPECT_EQ(r["decided_at"], "1970-01-01T00:00:00.000Z");
}

TEST(Messages, AlreadyUsedTellsWhereAndWhenBefore) {
  const Ticket t = ticket();
  const Decision d{Status::Rejected, Reason::AlreadyUsed, std::nullopt};
  const json r = make_result(std::nullopt, t.code, d, &t, 0);
  EXPECT_TRUE(r["scan_id"].is_null());
  EXPECT_EQ(r["previous"]["gate"], "north");
  EXPECT_EQ(r["previous"]["scanner"], "g-1");
  EXPECT_EQ(r["entries"], 1);
  Scan s;
  s.code = t.code;
  s.scanner = "g-2";
  const auto e = make_scan_event(s, d, t, 0);
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "ticket.rejected");
  EXPECT_EQ((*e)["previous"]["gate"], "north");
  EXPECT_FALSE(e->contains("seq"));  // the store assigns it
}

TEST(Messages, AnAdmissionCountsTheNewUsageAndHasNoPrevious) {
  const Ticket t = ticket();
  TicketUsage after = t.usage;
  after.entries = 2;
  const Decision d{Status::Admitted, Reason::Ok, after};
  const json r = make_result(std::nullopt, t.code, d, &t, 0);
  EXPECT_EQ(r["entries"], 2);
  EXPECT_EQ(r["max_entries"], 2);
  EXPECT_TRUE(r["previous"].is_null());
  Scan s;
  s.code = t.code;
  s.gate = "south";
  const auto e = make_scan_event(s, d, t, 0);
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "ticket.admitted");
  EXPECT_EQ((*e)["gate"], "south");
  EXPECT_FALSE(e->contains("reason"));
}

TEST(Messages, NoEventForUnknownOrMalformedScans) {
  const Ticket t = ticket();
  Scan s;
  EXPECT_FALSE(make_scan_event(s, Decision{Status::Rejected, Reason::Unknown, std::nullopt}, t, 0));
  EXPECT_FALSE(
      make_scan_event(s, Decision{Status::Rejected, Reason::Malformed, std::nullopt}, t, 0));
}

TEST(Messages, TheTicketAsTheApiShowsIt) {
  Ticket t = ticket();
  t.revoked = true;
  const json j = ticket_json(t);
  EXPECT_EQ(j["state"], "revoked");
  EXPECT_EQ(j["last_entry"]["gate"], "north");
  EXPECT_TRUE(j["valid_from"].is_null());
  EXPECT_TRUE(j["gates"].is_array());
}

}  // namespace
}  // namespace tb
