// The scan payload parser against valid and hostile input.
#include "scan.hpp"

#include <gtest/gtest.h>

#include "admission.hpp"
#include "signed_code.hpp"

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

namespace {

TEST(DeviceScanParser, TheCodeAsTextTrimmed) {
  for (const char* payload : {"TB7QK2M9XW4R", " TB7QK2M9XW4R\r\n", "\tTB7QK2M9XW4R\n"}) {
    const auto p = tb::parse_device_scan("gate-1", payload);
    ASSERT_TRUE(p.scan) << p.error;
    EXPECT_EQ(p.scan->code, "TB7QK2M9XW4R");
    EXPECT_EQ(p.scan->scanner, "gate-1");
    EXPECT_FALSE(p.scan->scan_id);
    EXPECT_FALSE(p.scan->gate);
    EXPECT_FALSE(p.scan->direction_named);
  }
  // Any valid id is a code: UTF-8 included.
  EXPECT_TRUE(tb::parse_device_scan("gate-1", "Z\u00f6e-1").scan);
}

TEST(DeviceScanParser, HostileTextIsMalformedButStillNamesTheScanner) {
  for (const std::string& payload :
       {std::string(), std::string(" \r\n"), std::string("TB\xff\xfe"), std::string("TB\x01X"),
        std::string("A/B"), std::string("A+B"), std::string("A B"), std::string(129, 'A'),
        std::string(tb::kMaxScanPayload + 1, 'A'), std::string("{not json"),
        std::string(R"({"code":17})"), std::string("{}")}) {
    const auto p = tb::parse_device_scan("gate-1", payload);
    EXPECT_FALSE(p.scan) << payload.substr(0, 20);
    EXPECT_FALSE(p.error.empty());
    EXPECT_EQ(p.scanner, "gate-1") << payload.substr(0, 20);
    EXPECT_FALSE(p.code) << payload.substr(0, 20);
  }
}

TEST(DeviceScanParser, AJsonObjectTakesTheScannerFromTheTopic) {
  const auto p = tb::parse_device_scan(
      "gate-1", R"({"scan_id":"s:1","code":"C1","scanner":"gate-2","gate":"g","direction":"out"})");
  ASSERT_TRUE(p.scan) << p.error;
  EXPECT_EQ(p.scan->scanner, "gate-1");
  EXPECT_EQ(p.scan->scan_id, "s:1");
  EXPECT_EQ(p.scan->gate, "g");
  EXPECT_EQ(p.scan->direction, tb::Direction::Out);
  EXPECT_TRUE(p.scan->direction_named);
  const auto bad = tb::parse_device_scan("gate-1", R"({"code":"C1","scanner":17,"scan_id":"s:2"})");
  EXPECT_TRUE(bad.scan) << "the payload's scanner is ignored: " << bad.error;
}

// SPEC.md v1.1: a scan the agent decided offline carries the gate's verdict.
TEST(ScanParser, TheGatesOfflineVerdictIsRead) {
  const auto p = tb::parse_scan(
      R"({"scan_id":"s:1","code":"C1","scanner":"g1","offline":{"status":"rejected",)"
      R"("reason":"already_used","decided_at":"2026-11-25T19:02:11.123Z"}})");
  ASSERT_TRUE(p.scan) << p.error;
  ASSERT_TRUE(p.scan->offline);
  EXPECT_EQ(p.scan->offline->status, tb::Status::Rejected);
  EXPECT_EQ(p.scan->offline->reason, tb::Reason::AlreadyUsed);
  EXPECT_EQ(p.scan->offline->decided_at, *tb::parse_rfc3339("2026-11-25T19:02:11.123Z"));
  const auto none = tb::parse_scan(R"({"code":"C1","scanner":"g1","offline":null})");
  ASSERT_TRUE(none.scan) << none.error;
  EXPECT_FALSE(none.scan->offline);
}

TEST(ScanParser, AnOfflineVerdictThatIsNoVerdictMakesTheScanMalformed) {
  const std::string at = R"("decided_at":"2026-11-25T19:02:11Z")";
  const std::vector<std::string> cases = {
      std::string("true"),
      std::string(R"("admitted")"),
      std::string(R"({})"),
      R"({"status":"admitted","reason":"ok"})",
      R"({"status":"admitted",)" + at + "}",
      R"({"status":"waved_through","reason":"ok",)" + at + "}",
      R"({"status":"admitted","reason":"because",)" + at + "}",
      R"({"status":"admitted","reason":"already_used",)" + at + "}",
      R"({"status":"rejected","reason":"ok",)" + at + "}",
      R"({"status":"rejected","reason":"malformed",)" + at + "}",
      R"({"status":"admitted","reason":"ok","decided_at":"soon"})",
      R"({"status":1,"reason":"ok",)" + at + "}",
  };
  for (const auto& offline : cases) {
    SCOPED_TRACE(offline);
    const auto p =
        tb::parse_scan(R"({"scan_id":"s:1","code":"C1","scanner":"g1","offline":)" + offline + "}");
    EXPECT_FALSE(p.scan);
    EXPECT_NE(p.error.find("offline"), std::string::npos) << p.error;
    EXPECT_EQ(p.scan_id, "s:1");  // still answered
  }
}

// An embedded scanner decides nothing alone, and a QR code can be made to read as JSON.
TEST(DeviceScanParser, AnOfflineVerdictFromADeviceIsIgnored) {
  const auto p = tb::parse_device_scan(
      "gate-1", R"({"code":"C1","offline":{"status":"admitted","reason":"ok",)"
                R"("decided_at":"2026-11-25T19:02:11Z"}})");
  ASSERT_TRUE(p.scan) << p.error;
  EXPECT_FALSE(p.scan->offline);
}

TEST(DeviceScanParser, AnInvalidTopicLevelCannotBeAnswered) {
  const auto p = tb::parse_device_scan("gate 1", "C1");
  EXPECT_FALSE(p.scan);
  EXPECT_FALSE(p.scanner);
}

// SPEC.md v1.1: a signed code of up to 512 characters is read as the plain code inside it; a
// damaged one is malformed, with no code to name.
TEST(ScanParser, ASignedCodeIsReadAsThePlainCodeInsideIt) {
  const auto key = tb::SigningKey::generate();
  tb::CodeClaims c;
  c.code = "TB7QK2M9XW4R";
  c.gates = {"north"};
  const std::string code = key.sign(c);
  std::string lower = code;
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (const auto& sent : {code, lower}) {
    const auto p = tb::parse_scan(R"({"code":")" + sent + R"(","scanner":"s"})");
    ASSERT_TRUE(p.scan) << p.error;
    EXPECT_EQ(p.scan->code, "TB7QK2M9XW4R");
    EXPECT_EQ(p.scan->signed_code, code);  // canonical: upper case
    EXPECT_EQ(p.code, "TB7QK2M9XW4R");
    const auto d = tb::parse_device_scan("gate-1", sent + "\r\n");
    ASSERT_TRUE(d.scan) << d.error;
    EXPECT_EQ(d.scan->code, "TB7QK2M9XW4R");
    EXPECT_EQ(d.scan->signed_code, code);
  }
  const auto plain = tb::parse_scan(R"({"code":"TB7QK2M9XW4R","scanner":"s"})");
  ASSERT_TRUE(plain.scan);
  EXPECT_FALSE(plain.scan->signed_code);

  const std::vector<std::string> damaged_codes = {code.substr(0, code.size() - 9), "TB1.AAAA",
                                                  "TB1.0000", "TB1." + std::string(600, 'A')};
  for (const auto& damaged : damaged_codes) {
    const auto p = tb::parse_scan(R"({"scan_id":"s:1","code":")" + damaged + R"(","scanner":"s"})");
    EXPECT_FALSE(p.scan) << damaged;
    EXPECT_FALSE(p.code);
    EXPECT_EQ(p.scanner, "s");  // still answerable, as malformed
    EXPECT_EQ(p.scan_id, "s:1");
    EXPECT_NE(p.error.find("signed code"), std::string::npos) << p.error;
    EXPECT_FALSE(tb::parse_device_scan("gate-1", damaged).scan);
  }
}

TEST(Presence, JsonAndPlainTextForms) {
  EXPECT_EQ(tb::parse_presence(R"({"state":"online","at":"2026-11-25T19:02:11.123Z"})"), true);
  EXPECT_EQ(tb::parse_presence(R"({"state":"offline"})"), false);
  EXPECT_EQ(tb::parse_presence("online"), true);
  EXPECT_EQ(tb::parse_presence("ONLINE\r\n"), true);
  EXPECT_EQ(tb::parse_presence("offline"), false);
  EXPECT_EQ(tb::parse_presence(""), false);
  EXPECT_EQ(tb::parse_presence("maybe"), std::nullopt);
  EXPECT_EQ(tb::parse_presence(R"({"state":1})"), std::nullopt);
  EXPECT_EQ(tb::parse_presence("{"), std::nullopt);
}

}  // namespace
