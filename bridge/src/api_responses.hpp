// What the API's route files share: JSON responses and errors, the body as an object, the bearer
// token. Private to api.cpp and api_tickets.cpp.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "http_server.hpp"

namespace tb {

using nlohmann::json;

inline HttpResponse json_response(int status, const json& body) {
  return HttpResponse{status, "application/json", body.dump(), ""};
}

inline HttpResponse error(int status, const char* code, const std::string& detail) {
  return json_response(status, {{"error", code}, {"detail", detail}});
}

inline HttpResponse method_not_allowed(const char* allow) {
  auto r = error(405, "method_not_allowed", std::string("use ") + allow);
  r.allow = allow;
  return r;
}

// The body as a JSON object, or the error response to send.
inline std::variant<json, HttpResponse> parse_object(const std::string& body) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_discarded()) return error(400, "bad_request", "the body is not valid JSON");
  if (!j.is_object()) return error(400, "bad_request", "the body must be a JSON object");
  return j;
}

// The credential of "Authorization: Bearer <credential>" (the API key, or an owner's token).
inline std::optional<std::string_view> bearer(const HttpRequest& req) {
  static constexpr std::string_view kBearer = "Bearer ";
  if (req.authorization.rfind(kBearer, 0) != 0) return std::nullopt;
  return std::string_view(req.authorization).substr(kBearer.size());
}

}  // namespace tb
