// What gate staff see: one line per scan, ADMIT, EXIT, REJECT or NO ANSWER with the reason in plain
// words and ANSI colours, or one JSON object per line (--json) for other programs. The formatting
// functions are pure; Presenter writes their lines to the agent's output.
#pragma once

#include <cstddef>
#include <nlohmann/json_fwd.hpp>
#include <ostream>
#include <string>

namespace sa {

// The string at `key`, or "" when it is absent or not a string (answers are untrusted input).
std::string text_field(const nlohmann::json& j, const char* key);
// Whether `key` is the boolean true (false when absent or of another type).
bool flag_field(const nlohmann::json& j, const char* key);

// The reason of an answer in words, e.g. "already used at north, 19:02:11".
std::string reason_words(const nlohmann::json& answer);

// The staff line for an answer: "ADMIT   TB7QK2M9XW4R  A. Example", with ANSI colour when
// `color` is set. `late` marks an answer that came after "NO ANSWER" was shown.
std::string answer_line(const nlohmann::json& answer, bool color, bool late = false);

// "NO ANSWER - check manually  TB7QK2M9XW4R".
std::string timeout_line(const std::string& code, bool color);

// Local wall-clock "HH:MM:SS" of an RFC 3339 time (the time as given when it cannot be read).
std::string local_clock(const std::string& rfc3339);

// Every line staff see, from the agent's one worker thread.
class Presenter {
 public:
  Presenter(std::ostream& out, bool json, bool color) : out_(out), json_(json), color_(color) {}

  // A line that is not a code (`why`): not sent. The line is shown shortened and made printable.
  void refused(const std::string& line, const std::string& why);
  // The journal could not take the scan: not sent, staff check by hand.
  void not_recorded(const std::string& code);
  void queue_full(const std::string& code, std::size_t limit);
  void answer(const std::string& scan_id, const nlohmann::json& answer, bool late);
  void no_answer(const std::string& scan_id, const std::string& code);

 private:
  void print(const std::string& line);

  std::ostream& out_;
  bool json_;
  bool color_;
};

}  // namespace sa
