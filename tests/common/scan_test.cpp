// The scan payload parser against valid and hostile input.
#include "scan.hpp"

#include <gtest/gtest.h>

namespace tb {
namespace {

TEST(ScanParser, FullPayload) {
  const auto p = parse_scan(
      R"({"scan_id": "gate-n-1:000123", "code": "TB7QK2M9XW4R", "scanner": "gate-n-1",
          "gate": "north", "direction": "out", "scanned_at": "2026-11-25T19:02:11.123Z",
          "extra": {"ignored": [1,2,3]}})");
  ASSERT_TRUE(p.scan) << p.error;
  EXPECT_EQ(p.scan->scan_id, "gate-n-1:000123");
  EXPECT_EQ(p.scan->code, "TB7QK2M9XW4R");
  EXPECT_EQ(p.scan->scanner, "gate-n-1");
  EXPECT_EQ(p.scan->gate, "north");
  EXPECT_EQ(p.scan->direction, Direction::Out);
  EXPECT_EQ(p.scan->scanned_at, parse_rfc3339("2026-11-25T19:02:11.123Z"));
}

TEST(ScanParser, OnlyCodeAndScannerRequired) {
  const auto p = parse_scan(R"({"code":"A","scanner":"s"})");
  ASSERT_TRUE(p.scan) << p.error;
  EXPECT_FALSE(p.scan->scan_id);
  EXPECT_FALSE(p.scan->gate);
  EXPECT_EQ(p.scan->direction, Direction::In);
  EXPECT_FALSE(p.scan->scanned_at);
}

TEST(ScanParser, NullOptionalFieldsAreAbsent) {
  const auto p = parse_scan(
      R"({"code":"A","scanner":"s","scan_id":null,"gate":null,"direction":null,"scanned_at":null})");
  ASSERT_TRUE(p.scan) << p.error;
  EXPECT_FALSE(p.scan->scan_id);
}

struct Bad {
  const char* payload;
  bool scanner_known;
};

TEST(ScanParser, MalformedInputs) {
  const std::string long_code(129, 'A');
  const std::string huge = R"({"code":"A","scanner":"s","pad":")" + std::string(20000, 'x') + "\"}";
  const std::vector<std::pair<std::string, bool>> cases = {
      {"", false},
      {"not json", false},
      {"[1,2]", false},
      {"\"string\"", false},
      {"null", false},
      {"{", false},
      {R"({"code":"A"})", false},
      {R"({"scanner":"s"})", true},
      {R"({"code":5,"scanner":"s"})", true},
      {R"({"code":"A","scanner":5})", false},
      {R"({"code":"A","scanner":"a/b"})", false},
      {R"({"code":"A","scanner":"a+"})", false},
      {R"({"code":"A","scanner":"#"})", false},
      {R"({"code":"A","scanner":""})", false},
      {R"({"code":"","scanner":"s"})", true},
      {R"({"code":"A B","scanner":"s"})", true},
      {R"({"code":"A\tB","scanner":"s"})", true},
      {R"({"code":"A\u0000B","scanner":"s"})", true},
      {"{\"code\":\"" + long_code + "\",\"scanner\":\"s\"}", true},
      {R"({"code":"A","scanner":"s","direction":"sideways"})", true},
      {R"({"code":"A","scanner":"s","direction":1})", true},
      {R"({"code":"A","scanner":"s","scanned_at":"yesterday"})", true},
      {R"({"code":"A","scanner":"s","scanned_at":1732561331})", true},
      {R"({"code":"A","scanner":"s","scanned_at":"2026-02-30T00:00:00Z"})", true},
      {R"({"code":"A","scanner":"s","scan_id":7})", true},
      {R"({"code":"A","scanner":"s","scan_id":""})", true},
      {R"({"code":"A","scanner":"s","gate":["north"]})", true},
      {"{\"code\":\"A\",\"scanner\":\"s\",\"scan_id\":\"" + std::string(129, 'x') + "\"}", true},
      {"{\"code\":\"\xff\xfe\",\"scanner\":\"s\"}", false},  // invalid UTF-8: not JSON at all
      {"{\"code\":\"A\",\"scanner\":\"s\xc0\xaf\"}", false},
      {huge, false},
      {std::string(100000, '['), false},
  };
  for (const auto& [payload, scanner_known] : cases) {
    SCOPED_TRACE(payload.substr(0, 80));
    const auto p = parse_scan(payload);
    EXPECT_FALSE(p.scan);
    EXPECT_FALSE(p.error.empty());
    EXPECT_EQ(p.scanner.has_value(), scanner_known);
  }
}

TEST(ScanParser, ScanIdOf128CharactersIsAccepted) {
  const std::string id(128, 'x');
  const auto p = parse_scan("{\"code\":\"A\",\"scanner\":\"s\",\"scan_id\":\"" + id + "\"}");
  ASSERT_TRUE(p.scan) << p.error;
  EXPECT_EQ(p.scan->scan_id, id);
}

TEST(ScanParser, UnicodeCodesCountCharactersNotBytes) {
  std::string code;
  for (int i = 0; i < 128; ++i) code += "\xC3\xA9";  // 128 x 'é' = 256 bytes
  const auto p = parse_scan("{\"code\":\"" + code + "\",\"scanner\":\"s\"}");
  ASSERT_TRUE(p.scan) << p.error;
}

TEST(ScanParser, MalformedKeepsScanIdForTheAnswer) {
  const auto p = parse_scan(R"({"scan_id":"x:1","scanner":"s","direction":"up","code":"A"})");
  EXPECT_FALSE(p.scan);
  EXPECT_EQ(p.scan_id, "x:1");
  EXPECT_EQ(p.scanner, "s");
  EXPECT_EQ(p.code, "A");
}

TEST(ScanParser, EffectiveTime) {
  Scan s;
  const Millis now = 1'800'000'000'000;
  EXPECT_EQ(effective_scan_time(s, now), now);
  s.scanned_at = now - 3'600'000;  // an hour late: a delivery after an outage
  EXPECT_EQ(effective_scan_time(s, now), now - 3'600'000);
  s.scanned_at = now + 5 * 60'000;  // at most five minutes ahead is believed
  EXPECT_EQ(effective_scan_time(s, now), now + 5 * 60'000);
  s.scanned_at = now + 5 * 60'000 + 1;
  EXPECT_EQ(effective_scan_time(s, now), now);
}

}  // namespace
}  // namespace tb
