// The text line and the light of an embedded scanner's answer (device_answers.hpp).
#include "device_answers.hpp"

#include <ctime>
#include <iterator>
#include <nlohmann/json.hpp>

namespace tb {

namespace {

using nlohmann::json;

// U+00C0 to U+00FF.
constexpr const char* kLatin1[] = {
    "A", "A", "A", "A", "A", "A", "AE", "C", "E", "E", "E", "E", "I", "I", "I",  "I",
    "D", "N", "O", "O", "O", "O", "O",  "x", "O", "U", "U", "U", "U", "Y", "Th", "ss",
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",
    "d", "n", "o", "o", "o", "o", "o",  "/", "o", "u", "u", "u", "u", "y", "th", "y"};

// U+0100 to U+017F (Latin Extended-A), mostly capital and small pairs.
constexpr const char* kLatinExtendedA[] = {
    "A", "a", "A",  "a",  "A", "a", "C", "c", "C", "c", "C", "c", "C", "c", "D", "d",   // 10x
    "D", "d", "E",  "e",  "E", "e", "E", "e", "E", "e", "E", "e", "G", "g", "G", "g",   // 11x
    "G", "g", "G",  "g",  "H", "h", "H", "h", "I", "i", "I", "i", "I", "i", "I", "i",   // 12x
    "I", "i", "IJ", "ij", "J", "j", "K", "k", "k", "L", "l", "L", "l", "L", "l", "L",   // 13x
    "l", "L", "l",  "N",  "n", "N", "n", "N", "n", "n", "N", "n", "O", "o", "O", "o",   // 14x
    "O", "o", "OE", "oe", "R", "r", "R", "r", "R", "r", "S", "s", "S", "s", "S", "s",   // 15x
    "S", "s", "T",  "t",  "T", "t", "T", "t", "U", "u", "U", "u", "U", "u", "U", "u",   // 16x
    "U", "u", "U",  "u",  "W", "w", "Y", "y", "Y", "Z", "z", "Z", "z", "Z", "z", "s"};  // 17x

static_assert(std::size(kLatin1) == 0x100 - 0xC0);
static_assert(std::size(kLatinExtendedA) == 0x180 - 0x100);

const char* ascii_for(char32_t c) {
  if (c >= 0xC0 && c <= 0xFF) return kLatin1[c - 0xC0];
  if (c >= 0x100 && c <= 0x17F) return kLatinExtendedA[c - 0x100];
  switch (c) {
    case 0xA0:    // no-break space
    case 0x2002:  // en space
    case 0x2003:  // em space
    case 0x2009:  // thin space
      return " ";
    case 0x2010:  // hyphen
    case 0x2011:  // no-break hyphen
    case 0x2013:  // en dash
    case 0x2014:  // em dash
      return "-";
    case 0x2018:
    case 0x2019:
      return "'";
    case 0x201C:
    case 0x201D:
      return "\"";
    case 0x2026:
      return "...";
    case 0xB7:  // middle dot
      return ".";
    default:
      return "?";
  }
}

// Decodes one character of UTF-8 at `i`. A byte that starts no valid sequence (a stray
// continuation byte, C0, C1, F5-FF, a truncated, overlong or surrogate sequence, anything above
// U+10FFFF) is one character, U+FFFD: nothing such can become an ASCII NUL or `/`.
char32_t next_char(std::string_view s, std::size_t& i) {
  const auto b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) {
    ++i;
    return b;
  }
  std::size_t len = 0;
  char32_t c = 0;
  char32_t min = 0;
  if (b >= 0xC2 && b <= 0xDF) {
    len = 2;
    c = b & 0x1F;
    min = 0x80;
  } else if (b >= 0xE0 && b <= 0xEF) {
    len = 3;
    c = b & 0x0F;
    min = 0x800;
  } else if (b >= 0xF0 && b <= 0xF4) {
    len = 4;
    c = b & 0x07;
    min = 0x10000;
  }
  const auto bad = [&i] {
    ++i;
    return char32_t{0xFFFD};
  };
  if (len == 0 || i + len > s.size()) return bad();
  for (std::size_t k = 1; k < len; ++k) {
    const auto cont = static_cast<unsigned char>(s[i + k]);
    if ((cont & 0xC0) != 0x80) return bad();
    c = (c << 6) | (cont & 0x3F);
  }
  if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return bad();
  i += len;
  return c;
}

std::string text_of(const json& v) {
  return v.is_string() ? v.get<std::string>() : std::string();
}

void append_word(std::string& line, const std::string& word) {
  if (word.empty()) return;
  line += ' ';
  line += word;
}

}  // namespace

std::string to_ascii(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  for (std::size_t i = 0; i < utf8.size();) {
    const char32_t c = next_char(utf8, i);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      out += ascii_for(c);
    }
  }
  return out;
}

std::string_view cut_utf8(std::string_view s, std::size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  std::size_t end = max_bytes;
  // Back off continuation bytes (10xxxxxx) to the start of the character that does not fit.
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end);
}

std::string local_time(Millis at, Millis now) {
  const auto to_tm = [](Millis ms) {
    const std::time_t t = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    localtime_r(&t, &tm);
    return tm;
  };
  const std::tm then = to_tm(at);
  const std::tm today = to_tm(now);
  const bool same_day = then.tm_year == today.tm_year && then.tm_yday == today.tm_yday;
  char buf[32];
  std::strftime(buf, sizeof buf, same_day ? "%H:%M" : "%m-%d %H:%M", &then);
  return buf;
}

std::string result_text(const json& any, const TextOptions& options) {
  static const json kNone = json::object();
  const json& result = any.is_object() ? any : kNone;
  const std::string status = text_of(result.value("status", json()));
  const std::string reason = text_of(result.value("reason", json()));
  std::string line;
  if (status == "admitted" || status == "exited") {
    line = status == "admitted" ? "ADMIT" : "EXIT";
    append_word(line, text_of(result.value("holder", json())));
    const auto max = result.value("max_entries", json());
    const auto entries = result.value("entries", json());
    if (status == "admitted" && max.is_number_integer() && entries.is_number_integer() &&
        max.get<std::int64_t>() > 1) {
      append_word(line, std::to_string(entries.get<std::int64_t>()) + "/" +
                            std::to_string(max.get<std::int64_t>()));
    }
  } else {
    line = "REJECT";
    std::string words = reason.empty() ? "malformed" : reason;
    for (auto& c : words) {
      if (c == '_') c = ' ';
    }
    // What staff should do about it: the code was a copy of the page, not the live page.
    if (reason == "stale_code") words = "screenshot - ask for the live ticket";
    append_word(line, words);
    const auto previous = result.value("previous", json());
    if (reason == "already_used" && previous.is_object()) {
      append_word(line, text_of(previous.value("gate", json())));
      const auto at = parse_rfc3339(text_of(previous.value("at", json())));
      const auto now = parse_rfc3339(text_of(result.value("decided_at", json())));
      if (at) append_word(line, local_time(*at, now.value_or(*at)));
    }
  }
  if (options.ascii) line = to_ascii(line);
  return std::string(cut_utf8(line, options.max_bytes));
}

std::string_view result_light(const json& result) {
  const auto status = result.is_object() ? result.value("status", json()) : json();
  return status == "admitted" || status == "exited" ? "green" : "red";
}

}  // namespace tb
