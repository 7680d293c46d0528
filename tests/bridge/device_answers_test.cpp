// The text line and the light of an embedded scanner's answer.
#include "device_answers.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include <nlohmann/json.hpp>

namespace {

using nlohmann::json;

json result(const std::string& status, const std::string& reason) {
  return {
      {"scan_id", nullptr},     {"code", "C1"},        {"status", status},
      {"reason", reason},       {"entries", 1},        {"max_entries", 1},
      {"holder", "A. Example"}, {"previous", nullptr}, {"decided_at", "2026-11-25T19:05:00.000Z"}};
}

// The process's TZ for one test.
class InZone : public ::testing::Test {
 protected:
  void zone(const char* tz) {
    setenv("TZ", tz, 1);
    tzset();
  }
  void TearDown() override {
    unsetenv("TZ");
    tzset();
  }
};

TEST_F(InZone, EachStatusAndReasonReads) {
  zone("UTC");
  const tb::TextOptions o;
  EXPECT_EQ(tb::result_text(result("admitted", "ok"), o), "ADMIT A. Example");
  EXPECT_EQ(tb::result_text(result("exited", "ok"), o), "EXIT A. Example");
  EXPECT_EQ(tb::result_text(result("rejected", "not_yet_valid"), o), "REJECT not yet valid");
  EXPECT_EQ(tb::result_text(result("rejected", "wrong_gate"), o), "REJECT wrong gate");
  auto unknown = result("rejected", "unknown");
  unknown["holder"] = nullptr;
  EXPECT_EQ(tb::result_text(unknown, o), "REJECT unknown");
  auto used = result("rejected", "already_used");
  used["previous"] = {{"at", "2026-11-25T19:02:11.123Z"}, {"gate", "north"}, {"scanner", "g"}};
  EXPECT_EQ(tb::result_text(used, o), "REJECT already used north 19:02");
  used["previous"]["at"] = "2026-11-24T08:00:00.000Z";  // the day before
  EXPECT_EQ(tb::result_text(used, o), "REJECT already used north 11-24 08:00");
  used["previous"]["gate"] = nullptr;
  EXPECT_EQ(tb::result_text(used, o), "REJECT already used 11-24 08:00");
  // A ticket for several entries says which one this was.
  auto group = result("admitted", "ok");
  group["entries"] = 2;
  group["max_entries"] = 5;
  EXPECT_EQ(tb::result_text(group, o), "ADMIT A. Example 2/5");
  // Whatever else comes (a stored result that is not an object) still reads as a rejection.
  EXPECT_EQ(tb::result_text(json("garbage"), o), "REJECT malformed");
}

TEST_F(InZone, TimesAreInTheVenuesZone) {
  auto used = result("rejected", "already_used");
  used["previous"] = {{"at", "2026-11-25T19:02:11.123Z"}, {"gate", "north"}, {"scanner", "g"}};
  zone("Europe/Berlin");  // UTC+1 in November
  EXPECT_EQ(tb::result_text(used, {}), "REJECT already used north 20:02");
  zone("Asia/Kolkata");  // UTC+05:30: 00:32 on the next local day, as is the decision
  EXPECT_EQ(tb::result_text(used, {}), "REJECT already used north 00:32");
}

TEST(DeviceAnswers, TheLightIsGreenOnlyForAdmittedAndExited) {
  EXPECT_EQ(tb::result_light(result("admitted", "ok")), "green");
  EXPECT_EQ(tb::result_light(result("exited", "ok")), "green");
  EXPECT_EQ(tb::result_light(result("rejected", "already_used")), "red");
  EXPECT_EQ(tb::result_light(json()), "red");
}

TEST(DeviceAnswers, AsciiOnlyDropsAccentsAndMarksTheRest) {
  EXPECT_EQ(tb::to_ascii("Zo\u00eb \u00dcnal-\u00d8ster Stra\u00dfe"), "Zoe Unal-Oster Strasse");
  EXPECT_EQ(tb::to_ascii("\u0141\u00f3d\u017a \u0160koda \u0152uvre"), "Lodz Skoda OEuvre");
  EXPECT_EQ(tb::to_ascii("\u201cA\u201d \u2013 B\u2026"), "\"A\" - B...");
  EXPECT_EQ(tb::to_ascii("\u5f20\u4f1f \xf0\x9f\x8e\x9f"), "?? ?");
  EXPECT_EQ(tb::to_ascii("bad \xff byte"), "bad ? byte");
  // Overlong forms of NUL and `/`, a surrogate, beyond U+10FFFF, truncated: never ASCII.
  EXPECT_EQ(tb::to_ascii("a\xc0\x80"
                         "b\xc0\xaf"
                         "c\xe0\x80\xaf"
                         "d"),
            "a??b??c???d");
  EXPECT_EQ(tb::to_ascii("\xed\xa0\x80"), "???");
  EXPECT_EQ(tb::to_ascii("\xf4\x90\x80\x80"), "????");
  EXPECT_EQ(tb::to_ascii("\xe2\x82"), "??");
  auto r = result("admitted", "ok");
  r["holder"] = "Ren\u00e9e";
  EXPECT_EQ(tb::result_text(r, {64, true}), "ADMIT Renee");
}

TEST(DeviceAnswers, TheLineIsCutAtItsLimitOnACharacterBoundary) {
  EXPECT_EQ(tb::cut_utf8("abc", 3), "abc");
  EXPECT_EQ(tb::cut_utf8("abcd", 3), "abc");
  EXPECT_EQ(tb::cut_utf8("ab\u00e9", 3), "ab");  // é is 2 bytes: it does not fit
  EXPECT_EQ(tb::cut_utf8("a\u20ac", 3), "a");    // € is 3 bytes
  EXPECT_EQ(tb::cut_utf8("\xf0\x9f\x8e\x9f!", 4), "\xf0\x9f\x8e\x9f");
  auto r = result("admitted", "ok");
  r["holder"] = std::string(200, 'x');
  EXPECT_EQ(tb::result_text(r, {16, false}), "ADMIT xxxxxxxxxx");
  r["holder"] = "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9";
  EXPECT_EQ(tb::result_text(r, {16, false}), "ADMIT \u00e9\u00e9\u00e9\u00e9\u00e9");
}

}  // namespace
