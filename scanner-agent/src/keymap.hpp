// Linux input key codes (evdev) to characters, for HID barcode scanners that type like a US
// keyboard. Pure: fed one key event at a time, it yields finished codes.
#pragma once

#include <optional>
#include <string>

namespace sa {

class KeyDecoder {
 public:
  // `code` is a KEY_* code, `value` 1 = press, 0 = release, 2 = autorepeat. Returns a finished
  // code when Enter is pressed.
  std::optional<std::string> feed(int code, int value);

 private:
  bool shift_ = false;
  std::string buffer_;
};

// The character for a key code with or without Shift (US layout), or '\0' for none.
char key_char(int code, bool shift);

}  // namespace sa
