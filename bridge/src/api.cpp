// The HTTP API's routing, /healthz, /metrics, pushes and tokens. Tickets: api_tickets.cpp.
#include "api.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <set>

#include "api_responses.hpp"
#include "ids.hpp"
#include "jwt.hpp"
#include "messages.hpp"
#include "signed_code.hpp"
#include "web_assets.hpp"

namespace tb {

bool Api::authorized(const HttpRequest& req) const {
  const auto credential = bearer(req);
  return credential && is_api_key(*credential);
}

std::variant<std::int64_t, std::string> Api::verify_operator(std::string_view credential) const {
  if (is_api_key(credential)) return std::int64_t{0};
  auto v = verify_token(credential, config_.jwt_secret, now_ms() / 1000);
  if (auto* why = std::get_if<std::string>(&v)) return "neither the API key nor a token: " + *why;
  const auto& claims = std::get<TokenClaims>(v);
  if (claims.role != kOperatorRole) {
    return std::string(claims.role.empty() ? "an owner's token is no operator's"
                                           : "a '" + claims.role + "' token is no operator's");
  }
  return claims.exp;
}

bool Api::is_api_key(std::string_view given) const {
  // Compare digests: constant time whatever the lengths.
  unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(given.data()), given.size(), a);
  const auto key = api_key_.load();
  SHA256(reinterpret_cast<const unsigned char*>(key->data()), key->size(), b);
  return CRYPTO_memcmp(a, b, sizeof a) == 0;
}

void Api::handle(HttpRequest req, Responder respond_raw) {
  // Refused before anything routes it or echoes it into JSON (which would throw).
  if (!utf8_length(req.target)) {
    metrics_.count_http("other", 400);
    return respond_raw(error(400, "bad_request", "the request target is not valid UTF-8"));
  }
  const std::string path = req.target.substr(0, req.target.find('?'));
  std::string route = path;
  // Count every answer under a fixed route label, so that /metrics stays small.
  static const std::string kTicketPrefix = "/api/v1/tickets/";
  if (path.rfind(kTicketPrefix, 0) == 0) route = "/api/v1/tickets/{code}";
  static const std::string kOwnerPrefix = "/ticket/data/";
  if (path.rfind(kOwnerPrefix, 0) == 0) route = "/ticket/data/{code}";
  static const std::set<std::string> kRoutes = {"/healthz",
                                                "/livez",
                                                "/readyz",
                                                "/metrics",
                                                "/api/v1/push",
                                                "/api/v1/tickets",
                                                "/api/v1/tickets/{code}",
                                                "/api/v1/tokens",
                                                "/ws",
                                                "/ticket",
                                                "/ticket-bridge.js",
                                                "/qrcode.js",
                                                "/ticket/data/{code}",
                                                "/operator",
                                                "/operator/ws",
                                                "/api/v1/stats"};
  if (kRoutes.count(route) == 0) route = "other";
  Responder respond = [this, route, respond_raw = std::move(respond_raw)](HttpResponse r) {
    metrics_.count_http(route, r.status);
    respond_raw(std::move(r));
  };
  const auto& m = req.method;

  // Readiness: the broker and the store answer. /healthz is the same, as it always was.
  if (route == "/healthz" || route == "/readyz") {
    return respond(m == "GET" || m == "HEAD" ? health() : method_not_allowed("GET"));
  }
  // Liveness: this process serves HTTP. A supervisor restarts on this one, never on readiness
  // (a restart does not bring a broker back).
  if (route == "/livez") {
    return respond(m == "GET" || m == "HEAD" ? json_response(200, {{"status", "ok"}})
                                             : method_not_allowed("GET"));
  }
  if (route == "/metrics") {
    if (m != "GET") return respond(method_not_allowed("GET"));
    std::string text = metrics_.render(health_);
    if (board_ != nullptr) board_->render_prometheus(text);
    return respond(HttpResponse{200, "text/plain; version=0.0.4", std::move(text), ""});
  }
  if (route == "/ws" || route == "/operator/ws") {
    return respond(error(400, "bad_request", route + " expects a WebSocket upgrade"));
  }
  if (route == "/operator") {
    if (m != "GET" && m != "HEAD") return respond(method_not_allowed("GET"));
    return respond(
        HttpResponse{200, "text/html; charset=utf-8", std::string(kOperatorPageHtml), ""});
  }
  if (route == "other") return respond(error(404, "not_found", "no route " + path));
  if (route == "/ticket" || route == "/ticket-bridge.js" || route == "/qrcode.js") {
    if (m != "GET" && m != "HEAD") return respond(method_not_allowed("GET"));
    if (route == "/ticket") {
      return respond(
          HttpResponse{200, "text/html; charset=utf-8", std::string(kTicketPageHtml), ""});
    }
    const auto& js = route == "/qrcode.js" ? kQrcodeJs : kTicketBridgeJs;
    return respond(HttpResponse{200, "text/javascript; charset=utf-8", std::string(js), ""});
  }
  if (route == "/ticket/data/{code}") {
    if (m != "GET") return respond(method_not_allowed("GET"));
    return owner_ticket(req, path.substr(kOwnerPrefix.size()), respond);
  }

  // The API: method, then key, then body.
  const bool ticket_route = route == "/api/v1/tickets/{code}";
  const bool stats_route = route == "/api/v1/stats";
  const char* allow = ticket_route ? "GET, DELETE" : stats_route ? "GET" : "POST";
  const bool method_ok = ticket_route  ? (m == "GET" || m == "DELETE")
                         : stats_route ? m == "GET"
                                       : m == "POST";
  if (!method_ok) return respond(method_not_allowed(allow));
  if (!authorized(req)) {
    // An operator's token reads (the stats, a ticket's history) and changes nothing.
    const bool read_only = stats_route || (ticket_route && m == "GET");
    const auto credential = bearer(req);
    const auto as_operator =
        credential ? verify_operator(*credential) : std::variant<std::int64_t, std::string>("");
    if (!std::holds_alternative<std::int64_t>(as_operator)) {
      return respond(error(401, "unauthorized",
                           read_only ? "send Authorization: Bearer <api key or operator token>"
                                     : "send Authorization: Bearer <api key>"));
    }
    if (!read_only) {
      return respond(error(403, "forbidden",
                           "an operator token is read-only: it reads /api/v1/stats and tickets, "
                           "and changes nothing"));
    }
  }
  if (stats_route) return stats(respond);
  if (route == "/api/v1/push") return push(req, respond);
  if (route == "/api/v1/tokens") return create_token(req, respond);
  if (route == "/api/v1/tickets") return create_ticket(req, respond);
  // A signed code names the ticket inside it (SPEC.md v1.1).
  const std::string code = plain_code_of(path.substr(kTicketPrefix.size())).value_or("");
  if (!is_valid_id(code)) return respond(error(404, "not_found", "no ticket with that code"));
  if (m == "GET") return get_ticket(code, respond);
  return revoke_ticket(code, respond);
}

void Api::stats(const Responder& respond) const {
  if (board_ == nullptr) return respond(error(503, "unavailable", "no figures here"));
  respond(json_response(200, board_->snapshot(now_ms(), bridge_ ? bridge_() : BridgeInfo{})));
}

HttpResponse Api::health() const {
  const bool mqtt_up = health_.mqtt();
  const bool store_up = health_.store();
  return json_response(mqtt_up && store_up ? 200 : 503,
                       {{"status", mqtt_up && store_up ? "ok" : "unavailable"},
                        {"mqtt", mqtt_up ? "up" : "down"},
                        {"store", store_up ? "up" : "down"}});
}

void Api::push(const HttpRequest& req, const Responder& respond) {
  auto parsed = parse_object(req.body);
  if (auto* r = std::get_if<HttpResponse>(&parsed)) return respond(std::move(*r));
  auto body = std::get<json>(std::move(parsed));
  const auto uid = body.find("uid");
  if (uid == body.end() || !uid->is_string() || !is_valid_id(uid->get_ref<const std::string&>())) {
    return respond(error(422, "invalid",
                         "uid must be a string of 1-128 characters without / + # "
                         "or white space"));
  }
  if (!body.contains("data")) return respond(error(422, "invalid", "data is required"));
  auto event = std::make_shared<json>(json{{"type", "push"}, {"data", std::move(body["data"])}});
  auto seq = std::make_shared<std::int64_t>(0);
  writer_.submit(WriteTask{
      [uid = uid->get<std::string>(), event, seq](Store& store, TaskOutcome& out) {
        const Millis now = now_ms();
        (*event)["at"] = format_rfc3339(now);
        auto stored = std::make_shared<const StoredEvent>(store.append_event(uid, now, *event));
        *seq = stored->seq;
        out.events.push_back(std::move(stored));
      },
      [respond, seq](TaskOutcome& out) {
        if (!out.ok)
          return respond(error(503, "unavailable", "the push was not stored: " + out.error));
        respond(json_response(202, {{"seq", *seq}, {"delivered", out.delivered}}));
      }});
}

void Api::create_token(const HttpRequest& req, const Responder& respond) {
  auto parsed = parse_object(req.body);
  if (auto* r = std::get_if<HttpResponse>(&parsed)) return respond(std::move(*r));
  const auto& body = std::get<json>(parsed);
  const auto uid = body.find("uid");
  if (uid == body.end() || !uid->is_string() || !is_valid_id(uid->get_ref<const std::string&>())) {
    return respond(error(422, "invalid",
                         "uid must be a string of 1-128 characters without / + # "
                         "or white space"));
  }
  std::optional<std::int64_t> ttl;
  if (const auto it = body.find("ttl_s"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 1 ||
        it->get<std::int64_t>() > config_.max_token_ttl_s) {
      return respond(error(422, "invalid",
                           "ttl_s must be a whole number of seconds from 1 to " +
                               std::to_string(config_.max_token_ttl_s)));
    }
    ttl = it->get<std::int64_t>();
  }
  const auto issue = [secret = config_.jwt_secret, respond](
                         const std::string& uid, std::int64_t exp, const std::string& code) {
    const std::int64_t now = now_ms() / 1000;
    respond(json_response(201, {{"token", sign_token(uid, exp - now, secret, now, code)},
                                {"expires_at", format_rfc3339(exp * 1000)}}));
  };
  const auto code = body.find("code");
  if (code == body.end() || code->is_null()) {
    return issue(uid->get<std::string>(), now_ms() / 1000 + ttl.value_or(kDefaultTokenTtlS), "");
  }
  const auto plain =
      code->is_string() ? plain_code_of(code->get_ref<const std::string&>()) : std::nullopt;
  if (!plain || !is_valid_id(*plain)) {
    return respond(error(422, "invalid", "code must be a ticket code"));
  }
  // Scoped to one ticket: it must be the uid's, and the token lives as long as the ticket.
  reader_.submit([uid = uid->get<std::string>(), code = *plain, ttl, issue, respond](Store& store) {
    try {
      const auto t = store.find_ticket(code);
      if (!t || t->uid != uid) {
        return respond(error(404, "not_found", "no ticket " + code + " of uid " + uid));
      }
      auto exp = scoped_token_expiry(*t, ttl, kDefaultTokenTtlS, now_ms() / 1000);
      if (auto* why = std::get_if<std::string>(&exp)) {
        return respond(error(422, "invalid", *why));
      }
      issue(uid, std::get<std::int64_t>(exp), code);
    } catch (const std::exception& e) {
      respond(error(503, "unavailable", e.what()));
    }
  });
}

}  // namespace tb
