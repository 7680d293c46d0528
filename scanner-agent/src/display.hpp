// What gate staff see: one line per scan, ADMIT or REJECT with the reason in plain words.
// Pure formatting, no I/O.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

namespace sa {

// The string at `key`, or "" when it is absent or not a string (answers are untrusted input).
std::string text_field(const nlohmann::json& j, const char* key);

// The reason of an answer in words, e.g. "already used at north, 19:02:11".
std::string reason_words(const nlohmann::json& answer);

// The staff line for an answer: "ADMIT   TB7QK2M9XW4R  A. Example", with ANSI colour when
// `color` is set. `late` marks an answer that came after "NO ANSWER" was shown.
std::string answer_line(const nlohmann::json& answer, bool color, bool late = false);

// "NO ANSWER - check manually  TB7QK2M9XW4R".
std::string timeout_line(const std::string& code, bool color);

// Local wall-clock "HH:MM:SS" of an RFC 3339 time (the time as given when it cannot be read).
std::string local_clock(const std::string& rfc3339);

}  // namespace sa
