// Admission rules: a table of (ticket, scan) -> (status, reason, entries after).
#include "admission.hpp"

#include <gtest/gtest.h>

namespace tb {
namespace {

constexpr Millis kT0 = 1'800'000'000'000;  // 2027-01-15T08:00:00Z

struct Case {
  const char* name;
  Ticket ticket;
  bool known = true;
  Direction direction = Direction::In;
  std::optional<std::string> gate = "north";
  Millis at = kT0;
  Status status;
  Reason reason;
  std::int64_t entries_after;
  bool inside_after;
};

Ticket base() {
  Ticket t;
  t.code = "C1";
  t.uid = "42";
  return t;
}

Ticket with(std::function<void(Ticket&)> f) {
  Ticket t = base();
  f(t);
  return t;
}

TEST(Admission, TableOfCases) {
  const std::vector<Case> cases = {
      {"fresh single entry", base(), true, Direction::In, "north", kT0, Status::Admitted,
       Reason::Ok, 1, true},
      {"unknown code", base(), false, Direction::In, "north", kT0, Status::Rejected,
       Reason::Unknown, 0, false},
      {"used single entry", with([](Ticket& t) {
         t.usage = {1, false, EntryRecord{kT0 - 1000, "north", "s1"}};
       }),
       true, Direction::In, "north", kT0, Status::Rejected, Reason::AlreadyUsed, 1, false},
      {"used, still inside", with([](Ticket& t) {
         t.usage = {1, true, EntryRecord{kT0 - 1000, "north", "s1"}};
       }),
       true, Direction::In, "north", kT0, Status::Rejected, Reason::AlreadyUsed, 1, true},
      {"revoked", with([](Ticket& t) { t.revoked = true; }), true, Direction::In, "north", kT0,
       Status::Rejected, Reason::Revoked, 0, false},
      {"revoked wins over used", with([](Ticket& t) {
         t.revoked = true;
         t.usage.entries = 1;
       }),
       true, Direction::In, "north", kT0, Status::Rejected, Reason::Revoked, 1, false},
      {"before valid_from", with([](Ticket& t) { t.valid_from = kT0 + 1; }), true, Direction::In,
       "north", kT0, Status::Rejected, Reason::NotYetValid, 0, false},
      {"at valid_from (inclusive)", with([](Ticket& t) { t.valid_from = kT0; }), true,
       Direction::In, "north", kT0, Status::Admitted, Reason::Ok, 1, true},
      {"at valid_until (exclusive)", with([](Ticket& t) { t.valid_until = kT0; }), true,
       Direction::In, "north", kT0, Status::Rejected, Reason::Expired, 0, false},
      {"just before valid_until", with([](Ticket& t) { t.valid_until = kT0 + 1; }), true,
       Direction::In, "north", kT0, Status::Admitted, Reason::Ok, 1, true},
      {"gate in list", with([](Ticket& t) {
         t.gates = {"south", "north"};
       }),
       true, Direction::In, "north", kT0, Status::Admitted, Reason::Ok, 1, true},
      {"gate not in list", with([](Ticket& t) { t.gates = {"south"}; }), true, Direction::In,
       "north", kT0, Status::Rejected, Reason::WrongGate, 0, false},
      {"no gate on scan, ticket has a list", with([](Ticket& t) { t.gates = {"south"}; }), true,
       Direction::In, std::nullopt, kT0, Status::Rejected, Reason::WrongGate, 0, false},
      {"no gate on scan, any gate", base(), true, Direction::In, std::nullopt, kT0,
       Status::Admitted, Reason::Ok, 1, true},
      {"expired checked before entries", with([](Ticket& t) {
         t.valid_until = kT0;
         t.usage.entries = 1;
       }),
       true, Direction::In, "north", kT0, Status::Rejected, Reason::Expired, 1, false},
      {"max 3, two used", with([](Ticket& t) { t.max_entries = 3, t.usage.entries = 2; }), true,
       Direction::In, "north", kT0, Status::Admitted, Reason::Ok, 3, true},
      {"max 3, three used", with([](Ticket& t) { t.max_entries = 3, t.usage.entries = 3; }), true,
       Direction::In, "north", kT0, Status::Rejected, Reason::AlreadyUsed, 3, false},
      {"unlimited", with([](Ticket& t) { t.max_entries = 0, t.usage.entries = 1000; }), true,
       Direction::In, "north", kT0, Status::Admitted, Reason::Ok, 1001, true},
      {"reentry after out uses no entry", with([](Ticket& t) {
         t.reentry = true;
         t.usage = {1, false, EntryRecord{kT0 - 1000, "north", "s1"}};
       }),
       true, Direction::In, "north", kT0, Status::Admitted, Reason::Ok, 1, true},
      {"reentry while inside is already used", with([](Ticket& t) {
         t.reentry = true;
         t.usage = {1, true, EntryRecord{kT0 - 1000, "north", "s1"}};
       }),
       true, Direction::In, "north", kT0, Status::Rejected, Reason::AlreadyUsed, 1, true},
      {"reentry first entry uses one", with([](Ticket& t) { t.reentry = true; }), true,
       Direction::In, "north", kT0, Status::Admitted, Reason::Ok, 1, true},
      {"out while inside", with([](Ticket& t) {
         t.usage = {1, true, std::nullopt};
       }),
       true, Direction::Out, "north", kT0, Status::Exited, Reason::Ok, 1, false},
      {"out while not inside", base(), true, Direction::Out, "north", kT0, Status::Rejected,
       Reason::NotInside, 0, false},
      {"out of unknown", base(), false, Direction::Out, "north", kT0, Status::Rejected,
       Reason::Unknown, 0, false},
      {"out of revoked", with([](Ticket& t) {
         t.revoked = true;
         t.usage = {1, true, std::nullopt};
       }),
       true, Direction::Out, "north", kT0, Status::Rejected, Reason::Revoked, 1, true},
      {"out ignores window and gates", with([](Ticket& t) {
         t.valid_until = kT0 - 1;
         t.gates = {"south"};
         t.usage = {1, true, std::nullopt};
       }),
       true, Direction::Out, "north", kT0, Status::Exited, Reason::Ok, 1, false},
  };

  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Scan scan;
    scan.code = "C1";
    scan.scanner = "s2";
    scan.gate = c.gate;
    scan.direction = c.direction;
    const Decision d = decide(c.known ? &c.ticket : nullptr, scan, c.at, true);
    EXPECT_EQ(to_string(d.status), to_string(c.status));
    EXPECT_EQ(to_string(d.reason), to_string(c.reason));
    const TicketUsage after = d.new_usage ? *d.new_usage : c.ticket.usage;
    EXPECT_EQ(after.entries, c.known ? c.entries_after : 0);
    EXPECT_EQ(after.inside, c.inside_after);
    // Only admissions and exits change a ticket.
    EXPECT_EQ(d.new_usage.has_value(), d.status != Status::Rejected);
    if (d.status == Status::Admitted) {
      ASSERT_TRUE(after.last_entry);
      EXPECT_EQ(after.last_entry->at, c.at);
      EXPECT_EQ(after.last_entry->gate, c.gate);
      EXPECT_EQ(after.last_entry->scanner, "s2");
    }
  }
}

TEST(Admission, SequenceSingleEntryWithReentry) {
  Ticket t = base();
  t.reentry = true;
  Scan in{std::nullopt, "C1", "s", "north", Direction::In, std::nullopt};
  Scan out = in;
  out.direction = Direction::Out;
  const std::vector<std::pair<const Scan*, Reason>> steps = {
      {&in, Reason::Ok},         {&in, Reason::AlreadyUsed}, {&out, Reason::Ok},
      {&out, Reason::NotInside}, {&in, Reason::Ok},          {&in, Reason::AlreadyUsed}};
  for (const auto& [scan, reason] : steps) {
    const Decision d = decide(&t, *scan, kT0, true);
    EXPECT_EQ(to_string(d.reason), to_string(reason));
    if (d.new_usage) t.usage = *d.new_usage;
  }
  EXPECT_EQ(t.usage.entries, 1);
}

// SPEC.md v1.1: a code that is not fresh is refused as stale_code before anything else about the
// ticket, in and out, and uses nothing; unknown and revoked still say so first.
TEST(Admission, AStaleCodeIsRefusedAndUsesNothing) {
  Ticket t = base();
  t.usage = {0, false, std::nullopt};
  Scan in{std::nullopt, "C1", "s", "north", Direction::In, std::nullopt};
  Scan out = in;
  out.direction = Direction::Out;
  for (const Scan* s : {&in, &out}) {
    const Decision d = decide(&t, *s, kT0, false);
    EXPECT_EQ(to_string(d.reason), "stale_code");
    EXPECT_EQ(d.status, Status::Rejected);
    EXPECT_FALSE(d.new_usage);
  }
  EXPECT_EQ(to_string(decide(nullptr, in, kT0, false).reason), "unknown");
  t.revoked = true;
  EXPECT_EQ(to_string(decide(&t, in, kT0, false).reason), "revoked");
}

}  // namespace
}  // namespace tb
