// Lines from a scanner: splitting, double reads, hostile lines and the --input spec.
#include "input.hpp"

#include <gtest/gtest.h>

#include "signed_code.hpp"

namespace sa {
namespace {

TEST(LineSplitter, CrLfAndCrlfAndOverlongLines) {
  LineSplitter s(8);
  EXPECT_EQ(s.feed("AB"), std::vector<std::string>{});
  EXPECT_EQ(s.feed("C\r\nD\rE\n\n"), (std::vector<std::string>{"ABC", "D", "E"}));
  const auto lines = s.feed("0123456789ABC\nOK\n");
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(lines[0], LineSplitter::kTooLong);
  EXPECT_EQ(lines[1], "OK");
}

TEST(Debouncer, SameCodeWithinTheWindowCountsOnce) {
  Debouncer d(std::chrono::milliseconds(1500));
  const auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  EXPECT_TRUE(d.accept("A", t0));
  EXPECT_FALSE(d.accept("A", t0 + std::chrono::milliseconds(200)));
  EXPECT_TRUE(d.accept("B", t0 + std::chrono::milliseconds(300)));
  EXPECT_FALSE(d.accept("A", t0 + std::chrono::milliseconds(1600)));  // 1400 ms after the last read
  EXPECT_TRUE(d.accept("A", t0 + std::chrono::milliseconds(3200)));
}

TEST(CheckCode, HostileLines) {
  EXPECT_FALSE(check_code("TB7QK2M9XW4R"));
  EXPECT_FALSE(check_code("é-ticket"));
  EXPECT_TRUE(check_code(std::string(129, 'A')));
  EXPECT_TRUE(
      check_code("A\x01"
                 "B"));
  EXPECT_TRUE(check_code("A\x7f"));
  EXPECT_TRUE(check_code("a/b"));
  EXPECT_TRUE(check_code("a b"));
  EXPECT_TRUE(check_code("#"));
  EXPECT_TRUE(check_code("\xff\xfe"));
  EXPECT_TRUE(check_code("\x1b[31mred"));
}

// A signed code (SPEC.md v1.1) may be up to 512 characters; a damaged one is refused at the gate
// with a reason, before it is published.
TEST(CheckCode, SignedCodesPassAndDamagedOnesAreRefused) {
  const auto key = tb::SigningKey::generate();
  tb::CodeClaims c;
  c.code = "TB7QK2M9XW4R";
  c.gates.assign(8, std::string(20, 'g'));
  const std::string code = key.sign(c);
  ASSERT_GT(code.size(), 128U);
  EXPECT_FALSE(check_code(code));
  const auto truncated = check_code(code.substr(0, code.size() - 7));
  ASSERT_TRUE(truncated);
  EXPECT_NE(truncated->find("signed code"), std::string::npos) << *truncated;
  EXPECT_TRUE(check_code("TB1." + std::string(600, 'A')));
  EXPECT_TRUE(check_code("TB1.!!"));
}

TEST(ParseInput, Specs) {
  std::string err;
  EXPECT_EQ(parse_input("stdin", err)->kind, InputSpec::Stdin);
  auto s = parse_input("serial:/dev/ttyACM0", err);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->path, "/dev/ttyACM0");
  EXPECT_EQ(s->baud, 9600);
  s = parse_input("serial:/dev/ttyUSB1:115200", err);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->baud, 115200);
  EXPECT_EQ(parse_input("evdev:/dev/input/event3", err)->kind, InputSpec::Evdev);
  EXPECT_FALSE(parse_input("serial:/dev/ttyS0:12345", err));
  EXPECT_FALSE(parse_input("keyboard", err));
  EXPECT_FALSE(parse_input("serial:", err));
}

}  // namespace
}  // namespace sa
