// The scanner agent's pure parts and its journal: key translation, line splitting, debounce,
// code checks, staff lines, and the on-disk queue.
#include <gtest/gtest.h>
#include <linux/input-event-codes.h>

#include <nlohmann/json.hpp>

#include "display.hpp"
#include "input.hpp"
#include "journal.hpp"
#include "keymap.hpp"
#include "process.hpp"

namespace sa {
namespace {

using nlohmann::json;

TEST(KeyDecoder, RecordedScannerStream) {
  // What a HID scanner sends for "Tb7-q" + Enter: shift press/release around capitals, key
  // releases and an autorepeat that must not double a character.
  const std::vector<std::pair<int, int>> events = {
      {KEY_LEFTSHIFT, 1},  {KEY_T, 1},     {KEY_T, 0},          {KEY_LEFTSHIFT, 0},
      {KEY_B, 1},          {KEY_B, 0},     {KEY_7, 1},          {KEY_7, 0},
      {KEY_MINUS, 1},      {KEY_MINUS, 0}, {KEY_Q, 1},          {KEY_Q, 0},
      {KEY_ENTER, 1},      {KEY_ENTER, 0}, {KEY_RIGHTSHIFT, 1}, {KEY_1, 1},
      {KEY_RIGHTSHIFT, 0}, {KEY_KP2, 1},   {KEY_KPENTER, 1}};
  KeyDecoder d;
  std::vector<std::string> codes;
  for (const auto& [code, value] : events) {
    if (auto c = d.feed(code, value)) codes.push_back(*c);
  }
  EXPECT_EQ(codes, (std::vector<std::string>{"Tb7-q", "!2"}));
}

TEST(KeyDecoder, UnknownKeysAreSkipped) {
  KeyDecoder d;
  d.feed(KEY_A, 1);
  d.feed(KEY_F1, 1);
  d.feed(KEY_LEFTCTRL, 1);
  EXPECT_EQ(d.feed(KEY_ENTER, 1), "a");
}

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

TEST(Journal, QueuesInOrderWithUniqueIdsAcrossRestartsAndABound) {
  tbtest::TempDir dir;
  std::vector<std::string> ids;
  {
    Journal j(dir.file("j.db"));
    for (int i = 0; i < 3; ++i) {
      auto q =
          j.add("gate-1", "C" + std::to_string(i), 3, [](const std::string& id) { return id; });
      ASSERT_TRUE(q);
      EXPECT_EQ(q->payload, q->scan_id);
      ids.push_back(q->scan_id);
    }
    EXPECT_FALSE(j.add("gate-1", "C3", 3, [](const std::string& id) { return id; }));  // full
    EXPECT_TRUE(j.remove(ids[1]));
    EXPECT_FALSE(j.remove(ids[1]));
  }
  Journal j(dir.file("j.db"));
  const auto left = j.all();
  ASSERT_EQ(left.size(), 2U);
  EXPECT_EQ(left[0].scan_id, ids[0]);
  EXPECT_EQ(left[1].scan_id, ids[2]);
  auto q = j.add("gate-1", "C4", 3, [](const std::string& id) { return id; });
  ASSERT_TRUE(q);
  for (const auto& id : ids) EXPECT_NE(q->scan_id, id);  // the counter survives the restart
  EXPECT_EQ(q->scan_id.rfind("gate-1:", 0), 0U);
  // Another journal (another machine with the same scanner id) makes other ids.
  Journal other(dir.file("other.db"));
  auto o = other.add("gate-1", "C0", 3, [](const std::string& id) { return id; });
  EXPECT_NE(o->scan_id, ids[0]);
}

}  // namespace
}  // namespace sa
