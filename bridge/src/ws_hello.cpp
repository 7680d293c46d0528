// The WebSocket hello parser (ws_hello.hpp).
#include "ws_hello.hpp"

#include <nlohmann/json.hpp>

namespace tb {

std::variant<Hello, std::string> parse_hello(std::string_view text) {
  const auto hello = nlohmann::json::parse(text, nullptr, false);
  // Compared as JSON: a "type" that is not a string is simply not a hello (no exception).
  if (!hello.is_object() || !hello.contains("type") || hello["type"] != "hello") {
    return std::string("first message is not a hello");
  }
  if (!hello.contains("token") || !hello["token"].is_string()) return std::string("no token");
  Hello out{hello["token"].get<std::string>(), std::nullopt, false};
  if (const auto it = hello.find("rotating_secret"); it != hello.end() && !it->is_null()) {
    if (!it->is_boolean()) return std::string("rotating_secret must be true or false");
    out.rotating_secret = it->get<bool>();
  }
  if (hello.contains("since") && !hello["since"].is_null()) {
    const auto& since = hello["since"];
    // A number past INT64_MAX reads as negative here: refused too.
    if (!since.is_number_integer() || since.get<std::int64_t>() < 0) {
      return std::string("since must be a whole number >= 0");
    }
    out.since = since.get<std::int64_t>();
  }
  return out;
}

}  // namespace tb
