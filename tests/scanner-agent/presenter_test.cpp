// What gate staff see: the lines for answers and timeouts, in text and JSON.
#include "presenter.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

namespace sa {
namespace {

using nlohmann::json;

TEST(Display, StaffLines) {
  const json admitted = {{"code", "TB1"},          {"status", "admitted"}, {"reason", "ok"},
                         {"holder", "A. Example"}, {"entries", 1},         {"max_entries", 1}};
  EXPECT_EQ(answer_line(admitted, false), "ADMIT   TB1  A. Example  welcome");
  const json used = {{"code", "TB1"},
                     {"status", "rejected"},
                     {"reason", "already_used"},
                     {"holder", nullptr},
                     {"previous", {{"at", "2026-11-25T19:02:11.123Z"}, {"gate", "north"}}}};
  EXPECT_EQ(answer_line(used, false).rfind("REJECT  TB1  already used at north, ", 0), 0U);
  EXPECT_EQ(answer_line({{"code", "X"}, {"status", "rejected"}, {"reason", "unknown"}}, false),
            "REJECT  X  unknown ticket");
  EXPECT_NE(answer_line(admitted, true).find("\x1b["), std::string::npos);
  EXPECT_NE(answer_line(admitted, false, true).find("late"), std::string::npos);
  EXPECT_EQ(timeout_line("TB1", false), "NO ANSWER - check manually  TB1");
  const json multi = {
      {"code", "M"}, {"status", "admitted"}, {"reason", "ok"}, {"entries", 2}, {"max_entries", 3}};
  EXPECT_NE(answer_line(multi, false).find("entry 2 of 3"), std::string::npos);
}

TEST(Presenter, JsonLinesForEveryKindOfEvent) {
  std::ostringstream out;
  Presenter p(out, true, false);
  p.answer("g:1", {{"code", "TB1"}, {"status", "admitted"}, {"reason", "ok"}}, true);
  p.no_answer("g:2", "TB2");
  p.refused(std::string("BAD\x01"
                        "CODE"),
            "control character");
  p.queue_full("TB3", 10);
  std::istringstream lines(out.str());
  std::vector<json> got;
  for (std::string line; std::getline(lines, line);) got.push_back(json::parse(line));
  ASSERT_EQ(got.size(), 4U);
  EXPECT_EQ(got[0]["event"], "answer");
  EXPECT_EQ(got[0]["scan_id"], "g:1");
  EXPECT_EQ(got[0]["late"], true);
  EXPECT_EQ(got[0]["message"], "welcome");
  EXPECT_TRUE(got[0]["holder"].is_null());  // every key present, unknown values null
  EXPECT_EQ(got[1]["event"], "no_answer");
  EXPECT_EQ(got[1]["code"], "TB2");
  EXPECT_EQ(got[2]["event"], "refused");
  EXPECT_EQ(got[2]["code"], "BAD?CODE");  // made printable
  EXPECT_EQ(got[3]["reason"], "queue full");
}

TEST(Presenter, TextLinesAreColouredOnlyWhenAsked) {
  std::ostringstream plain, coloured;
  Presenter(plain, false, false).refused(std::string(60, 'X'), "too long");
  Presenter(coloured, false, true).no_answer("g:1", "TB1");
  EXPECT_EQ(plain.str(), "REJECT  unreadable code, not sent (too long)\n");
  EXPECT_NE(coloured.str().find("\x1b["), std::string::npos);
  EXPECT_NE(coloured.str().find("NO ANSWER - check manually"), std::string::npos);
  EXPECT_NE(coloured.str().find("  TB1"), std::string::npos);
}

}  // namespace
}  // namespace sa

namespace sa {
namespace {

// Answers are untrusted input: a field of the wrong type is not what the answer says, never a
// crash of the agent.
TEST(Presenter, AnOfflineFieldOfTheWrongTypeIsNotOffline) {
  std::ostringstream out;
  Presenter json_lines(out, true, false);
  const json a = {{"code", "TB1"}, {"status", "admitted"}, {"reason", "ok"}, {"offline", "yes"}};
  EXPECT_NO_THROW(json_lines.answer("g:1", a, false));
  EXPECT_EQ(json::parse(out.str())["offline"], false);
  EXPECT_EQ(answer_line(a, false).find("OFFLINE"), std::string::npos);
}

// The bridge's answer to a scan decided at the gate that clashes with it (docs/offline.md): staff
// are told to call the supervisor, and --json lines carry "conflict".
TEST(Presenter, AConflictWithTheOfflineDecisionIsToldToStaff) {
  const json a = {{"code", "TB1"},
                  {"status", "rejected"},
                  {"reason", "already_used"},
                  {"previous", {{"gate", "south"}}},
                  {"conflict", true}};
  const auto line = answer_line(a, false, true);
  EXPECT_EQ(line.rfind("REJECT  TB1  already used at south", 0), 0U) << line;
  EXPECT_NE(line.find("[CONFLICT with the offline decision: tell the supervisor]"),
            std::string::npos)
      << line;
  std::ostringstream out;
  Presenter json_lines(out, true, false);
  json_lines.answer("g:1", a, true);
  EXPECT_EQ(json::parse(out.str())["conflict"], true);
  json agreeing = a;
  agreeing["conflict"] = false;
  EXPECT_EQ(answer_line(agreeing, false).find("CONFLICT"), std::string::npos);
}

}  // namespace
}  // namespace sa
