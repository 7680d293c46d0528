// Ticket fields from the command line and CSV files, and the CSV reader.
#include "ticket_input.hpp"

#include <gtest/gtest.h>

#include <sstream>

#include "csv.hpp"

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
  const auto r = ticket_from_fields(f, 7);
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
  const auto r = ticket_from_fields(f, 0);
  ASSERT_TRUE(std::holds_alternative<Ticket>(r));
  const auto& t = std::get<Ticket>(r);
  EXPECT_EQ(t.code.size(), 12U);
  EXPECT_TRUE(is_valid_id(t.code));
  EXPECT_EQ(t.max_entries, 1);
  EXPECT_FALSE(t.reentry);
  EXPECT_TRUE(t.gates.empty());
  EXPECT_NE(std::get<Ticket>(ticket_from_fields(f, 0)).code, t.code);
}

TEST(TicketInput, Errors) {
  const auto err = [](auto mutate) {
    TicketFields f;
    f.uid = "42";
    mutate(f);
    const auto r = ticket_from_fields(f, 0);
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
  EXPECT_NE(err([](TicketFields& f) { f.valid_from = "tomorrow"; }), "");
  EXPECT_NE(err([](TicketFields& f) {
              f.valid_from = "2026-11-26T00:00:00Z";
              f.valid_until = "2026-11-25T00:00:00Z";
            }),
            "");
  EXPECT_NE(err([](TicketFields& f) { f.holder = std::string("A\nB"); }), "");
  EXPECT_EQ(err([](TicketFields& f) { f.max_entries = "0"; }), "");
}

TEST(Csv, QuotedFieldsAndLineNumbers) {
  std::istringstream in(
      "code,uid,holder\r\n"
      "A,1,\"Doe, Jane\"\r\n"
      "B,2,\"say \"\"hi\"\"\nsecond line\"\n"
      "C,3,\n");
  CsvReader r(in);
  auto h = r.next();
  ASSERT_TRUE(h);
  EXPECT_EQ(h->fields, (std::vector<std::string>{"code", "uid", "holder"}));
  auto a = r.next();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->line, 2U);
  EXPECT_EQ(a->fields[2], "Doe, Jane");
  auto b = r.next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->line, 3U);
  EXPECT_EQ(b->fields[2], "say \"hi\"\nsecond line");
  auto c = r.next();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->line, 5U);
  EXPECT_EQ(c->fields, (std::vector<std::string>{"C", "3", ""}));
  EXPECT_FALSE(r.next());
  EXPECT_TRUE(r.error().empty());
}

TEST(Csv, UnterminatedQuote) {
  std::istringstream in("a,b\n\"x,y\n");
  CsvReader r(in);
  ASSERT_TRUE(r.next());
  EXPECT_FALSE(r.next());
  EXPECT_NE(r.error(), "");
}

}  // namespace
}  // namespace tb
