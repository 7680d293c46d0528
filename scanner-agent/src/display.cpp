// Staff-facing lines.
#include "display.hpp"

#include <ctime>
#include <nlohmann/json.hpp>

#include "timeutil.hpp"

namespace sa {

using nlohmann::json;

namespace {
constexpr const char* kGreen = "\x1b[1;97;42m";
constexpr const char* kRed = "\x1b[1;97;41m";
constexpr const char* kYellow = "\x1b[1;30;43m";
constexpr const char* kReset = "\x1b[0m";

std::string badge(const char* text, const char* color, bool use_color) {
  std::string word = text;
  word.resize(6, ' ');
  return use_color ? std::string(color) + " " + word + " " + kReset : word;
}
}  // namespace

std::string text_field(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string local_clock(const std::string& rfc3339) {
  const auto t = tb::parse_rfc3339(rfc3339);
  if (!t) return rfc3339;
  const std::time_t secs = static_cast<std::time_t>(*t / 1000);
  std::tm tm{};
  localtime_r(&secs, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

std::string reason_words(const json& a) {
  const std::string reason = text_field(a, "reason");
  if (reason == "ok") return text_field(a, "status") == "exited" ? "exit recorded" : "welcome";
  if (reason == "unknown") return "unknown ticket";
  if (reason == "revoked") return "ticket revoked";
  if (reason == "not_yet_valid") return "not valid yet";
  if (reason == "expired") return "ticket expired";
  if (reason == "wrong_gate") return "wrong gate";
  if (reason == "not_inside") return "not inside: no entry recorded";
  if (reason == "malformed") return "unreadable scan";
  if (reason == "already_used") {
    const auto prev = a.find("previous");
    if (prev != a.end() && prev->is_object()) {
      std::string words = "already used";
      if (const auto gate = text_field(*prev, "gate"); !gate.empty()) words += " at " + gate;
      if (const auto at = text_field(*prev, "at"); !at.empty()) words += ", " + local_clock(at);
      return words;
    }
    return "already used";
  }
  return reason.empty() ? "no reason given" : reason;
}

std::string answer_line(const json& a, bool color, bool late) {
  const std::string status = text_field(a, "status");
  std::string line;
  if (status == "admitted") {
    line = badge("ADMIT", kGreen, color);
  } else if (status == "exited") {
    line = badge("EXIT", kGreen, color);
  } else {
    line = badge("REJECT", kRed, color);
  }
  line += "  " + text_field(a, "code");
  if (const auto holder = text_field(a, "holder"); !holder.empty()) line += "  " + holder;
  line += "  " + reason_words(a);
  const auto max = a.find("max_entries");
  const auto entries = a.find("entries");
  if (status == "admitted" && max != a.end() && max->is_number_integer() &&
      max->get<long long>() > 1 && entries != a.end() && entries->is_number_integer()) {
    line += " (entry " + std::to_string(entries->get<long long>()) + " of " +
            std::to_string(a["max_entries"].get<long long>()) + ")";
  }
  if (late) line += "  [late answer]";
  return line;
}

std::string timeout_line(const std::string& code, bool color) {
  return (color ? std::string(kYellow) + " NO ANSWER - check manually " + kReset
                : std::string("NO ANSWER - check manually")) +
         "  " + code;
}

}  // namespace sa
