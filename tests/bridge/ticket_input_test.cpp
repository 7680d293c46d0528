// Ticket fields from the command line and CSV files.
#include "ticket_input.hpp"

#include <gtest/gtest.h>

namespace tb {
namespace {

TEST(TicketInput, AllFields) {
  TicketFields f;
  f.uid = "42";
  f.code = "TB7QK2M9XW4R";
  f.holder = "A. Example";
  f.max_entries = "3";
  f.reentry = "yes";
  f.valid_from = "2026-11-25T18:00:00Z";
  f.valid_until = "2026-11-26T02:00:00Z";
  f.gates = "north; south ;";
  const auto r = ticket_from_fields(f, 7, false);
  ASSERT_TRUE(std::holds_alternative<Ticket>(r)) << std::get<std::string>(r);
  const auto& t = std::get<Ticket>(r);
  EXPECT_EQ(t.code, "TB7QK2M9XW4R");
  EXPECT_EQ(t.max_entries, 3);
  EXPECT_TRUE(t.reentry);
  EXPECT_EQ(t.gates, (std::vector<std::string>{"north", "south"}));
  EXPECT_EQ(t.created_at, 7);
}

TEST(TicketInput, DefaultsAndRandomCode) {
  TicketFields f;
  f.uid = "42";
  const auto r = ticket_from_fields(f, 0, false);
  ASSERT_TRUE(std::holds_alternative<Ticket>(r));
  const auto& t = std::get<Ticket>(r);
  EXPECT_EQ(t.code.size(), 12U);
  EXPECT_TRUE(is_valid_id(t.code));
  EXPECT_EQ(t.max_entries, 1);
  EXPECT_FALSE(t.reentry);
  EXPECT_TRUE(t.gates.empty());
  EXPECT_NE(std::get<Ticket>(ticket_from_fields(f, 0, false)).code, t.code);
}

TEST(TicketInput, RotatingIsTheSettingUnlessTheTicketSays) {
  TicketFields f;
  f.uid = "42";
  EXPECT_FALSE(std::get<Ticket>(ticket_from_fields(f, 0, false)).rotating);
  EXPECT_TRUE(std::get<Ticket>(ticket_from_fields(f, 0, true)).rotating);
  f.rotating = "no";
  EXPECT_FALSE(std::get<Ticket>(ticket_from_fields(f, 0, true)).rotating);
  f.rotating = "true";
  EXPECT_TRUE(std::get<Ticket>(ticket_from_fields(f, 0, false)).rotating);
}

TEST(TicketInput, Errors) {
  const auto err = [](auto mutate) {
    TicketFields f;
    f.uid = "42";
    mutate(f);
    const auto r = ticket_from_fields(f, 0, false);
    return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : std::string();
  };
  EXPECT_NE(err([](TicketFields& f) { f.uid.reset(); }), "");
  EXPECT_NE(err([](TicketFields& f) { f.uid = "a/b"; }), "");
  EXPECT_NE(err([](TicketFields& f) { f.code = "has space"; }), "");
  EXPECT_NE(err([](TicketFields& f) { f.code = std::string(129, 'A'); }), "");
  EXPECT_NE(err([](TicketFields& f) { f.max_entries = "-1"; }), "");
  EXPECT_NE(err([](TicketFields& f) { f.max_entries = "two"; }), "");
  EXPECT_NE(err([](TicketFields& f) { f.max_entries = "2x"; }), "");
  EXPECT_NE(err([](TicketFields& f) { f.reentry = "maybe"; }), "");
  EXPECT_NE(err([](TicketFields& f) { f.rotating = "sometimes"; }), "");
  EXPECT_NE(err([](TicketFields& f) { f.valid_from = "tomorrow"; }), "");
  EXPECT_NE(err([](TicketFields& f) {
              f.valid_from = "2026-11-26T00:00:00Z";
              f.valid_until = "2026-11-25T00:00:00Z";
            }),
            "");
  EXPECT_NE(err([](TicketFields& f) { f.holder = std::string("A\nB"); }), "");
  EXPECT_EQ(err([](TicketFields& f) { f.max_entries = "0"; }), "");
}

}  // namespace
}  // namespace tb
