// The CSV reader of `tickets import`: quoted fields, doubled quotes, line numbers, errors.
#include "csv.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace tb {
namespace {

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
