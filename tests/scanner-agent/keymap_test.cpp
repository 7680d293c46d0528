// Key translation of evdev scanners: a recorded stream becomes the code it spelled.
#include "keymap.hpp"

#include <gtest/gtest.h>
#include <linux/input-event-codes.h>

namespace sa {
namespace {

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

}  // namespace
}  // namespace sa
