// Staff-facing lines, and the presenter that prints them.
#include "presenter.hpp"

#include <ctime>
#include <nlohmann/json.hpp>
#include <ostream>

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

bool flag_field(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
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
  if (reason == "stale_code") return "screenshot - ask for the live ticket";
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
  if (flag_field(a, "offline")) {
    line += "  [OFFLINE decision: no answer from the gate system]";
  }
  if (flag_field(a, "conflict")) {
    line += "  [CONFLICT with the offline decision: tell the supervisor]";
  }
  if (late) line += "  [late answer]";
  return line;
}

std::string timeout_line(const std::string& code, bool color) {
  return (color ? std::string(kYellow) + " NO ANSWER - check manually " + kReset
                : std::string("NO ANSWER - check manually")) +
         "  " + code;
}

void Presenter::print(const std::string& line) {
  out_ << line << std::endl;  // flushed: staff and other programs read it at once
}

void Presenter::refused(const std::string& line, const std::string& why) {
  std::string shown = line.substr(0, 40);
  for (auto& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
  }
  print(json_ ? json{{"event", "refused"}, {"code", shown}, {"reason", why}}.dump()
              : badge("REJECT", kRed, color_) + "  unreadable code, not sent (" + why + ")");
}

void Presenter::not_recorded(const std::string& code) {
  print(json_ ? json{{"event", "refused"}, {"code", code}, {"reason", "journal error"}}.dump()
              : "REJECT  " + code + "  could not be recorded - check manually");
}

void Presenter::queue_full(const std::string& code, std::size_t limit) {
  print(json_ ? json{{"event", "refused"}, {"code", code}, {"reason", "queue full"}}.dump()
              : (color_ ? std::string(kRed) + " QUEUE FULL " + kReset : std::string("QUEUE FULL")) +
                    "  " + code + "  " + std::to_string(limit) +
                    " scans wait for the network - check manually");
}

void Presenter::answer(const std::string& scan_id, const json& a, bool late) {
  if (!json_) return print(answer_line(a, color_, late));
  json line = {{"event", "answer"},
               {"scan_id", scan_id},
               {"late", late},
               {"message", reason_words(a)},
               {"offline", flag_field(a, "offline")},
               {"conflict", flag_field(a, "conflict")}};
  for (const char* k :
       {"code", "status", "reason", "holder", "entries", "max_entries", "previous", "decided_at"}) {
    line[k] = a.value(k, json());
  }
  print(line.dump());
}

void Presenter::no_answer(const std::string& scan_id, const std::string& code) {
  print(json_ ? json{{"event", "no_answer"},
                     {"scan_id", scan_id},
                     {"code", code},
                     {"message", "NO ANSWER - check manually"}}
                    .dump()
              : timeout_line(code, color_));
}

}  // namespace sa
