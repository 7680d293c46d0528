// Validation of identifiers, labels and MQTT text.
#include "ids.hpp"

#include <array>
#include <cstdint>

namespace tb {

namespace {

// Decodes the code point at s[i]; returns its length in bytes, 0 when it is not UTF-8 (overlong
// forms, surrogates and values past U+10FFFF are not).
std::size_t next_code_point(std::string_view s, std::size_t i, std::uint32_t& cp) {
  const auto c = static_cast<unsigned char>(s[i]);
  std::size_t len = 0;
  if (c < 0x80) {
    cp = c;
    return 1;
  } else if ((c & 0xE0) == 0xC0) {
    len = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  static constexpr std::array<std::uint32_t, 5> kMin = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

}  // namespace

std::optional<std::size_t> utf8_length(std::string_view s) {
  std::size_t n = 0;
  std::uint32_t cp = 0;
  for (std::size_t i = 0; i < s.size(); ++n) {
    const auto len = next_code_point(s, i, cp);
    if (len == 0) return std::nullopt;
    i += len;
  }
  return n;
}

bool is_mqtt_text(std::string_view s) {
  std::uint32_t cp = 0;
  for (std::size_t i = 0; i < s.size();) {
    const auto len = next_code_point(s, i, cp);
    if (len == 0) return false;
    const bool control = cp <= 0x1F || (cp >= 0x7F && cp <= 0x9F);
    const bool nonchar = (cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE;
    if (control || nonchar) return false;
    i += len;
  }
  return true;
}

bool is_valid_label(std::string_view s, std::size_t max_chars) {
  const auto n = utf8_length(s);
  return n && *n > 0 && *n <= max_chars && is_mqtt_text(s);
}

bool is_valid_id(std::string_view s) {
  if (!is_valid_label(s, kMaxIdLength)) return false;
  for (const char ch : s) {
    if (ch == '/' || ch == '+' || ch == '#' || ch == ' ') return false;
  }
  // Unicode white space outside ASCII: NBSP, NEL and the U+2000 block, ideographic space.
  static constexpr std::array<std::string_view, 6> kSpaces = {
      "\xC2\xA0", "\xC2\x85", "\xE2\x80", "\xE2\x81\x9F", "\xE3\x80\x80", "\xE1\x9A\x80"};
  for (const auto sp : kSpaces) {
    std::size_t at = s.find(sp);
    while (at != std::string_view::npos) {
      if (sp != "\xE2\x80") return false;
      // U+2000..U+200A, U+2028, U+2029, U+202F are spaces; the rest of the block is not.
      if (at + 2 < s.size()) {
        const auto third = static_cast<unsigned char>(s[at + 2]);
        if (third <= 0x8A || third == 0xA8 || third == 0xA9 || third == 0xAF) return false;
      }
      at = s.find(sp, at + 1);
    }
  }
  return true;
}

}  // namespace tb
