// HTTP API routes.
#include "api.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <set>

#include "jwt.hpp"
#include "messages.hpp"
#include "qr.hpp"
#include "ticket_input.hpp"
#include "web_assets.hpp"

namespace tb {

using nlohmann::json;

namespace {

HttpResponse json_response(int status, const json& body) {
  return HttpResponse{status, "application/json", body.dump(), ""};
}

HttpResponse error(int status, const char* code, const std::string& detail) {
  return json_response(status, {{"error", code}, {"detail", detail}});
}

HttpResponse method_not_allowed(const char* allow) {
  auto r = error(405, "method_not_allowed", std::string("use ") + allow);
  r.allow = allow;
  return r;
}

// The body as a JSON object, or the error response to send.
std::variant<json, HttpResponse> parse_object(const std::string& body) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_discarded()) return error(400, "bad_request", "the body is not valid JSON");
  if (!j.is_object()) return error(400, "bad_request", "the body must be a JSON object");
  return j;
}

// A field of the ticket body: absent and null are both "not given"; a wrong type is an error.
template <typename T>
bool read_field(const json& body, const char* key, std::optional<T>& out, std::string& err) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return true;
  if constexpr (std::is_same_v<T, std::string>) {
    if (!it->is_string()) return err = std::string(key) + " must be a string", false;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!it->is_boolean()) return err = std::string(key) + " must be true or false", false;
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    if (!it->is_number_integer()) return err = std::string(key) + " must be a whole number", false;
  }
  out = it->get<T>();
  return true;
}

std::variant<Ticket, std::string> ticket_from_json(const json& body, Millis now) {
  std::string err;
  std::optional<std::string> uid, code, holder, valid_from, valid_until;
  std::optional<std::int64_t> max_entries;
  std::optional<bool> reentry;
  if (!read_field(body, "uid", uid, err) || !read_field(body, "code", code, err) ||
      !read_field(body, "holder", holder, err) ||
      !read_field(body, "max_entries", max_entries, err) ||
      !read_field(body, "reentry", reentry, err) ||
      !read_field(body, "valid_from", valid_from, err) ||
      !read_field(body, "valid_until", valid_until, err)) {
    return err;
  }
  if (!uid) return std::string("uid is required");
  Ticket t;
  t.created_at = now;
  t.uid = *uid;
  t.code = code ? *code : random_ticket_code();
  t.holder = holder;
  if (max_entries) t.max_entries = *max_entries;
  if (reentry) t.reentry = *reentry;
  if (valid_from && !(t.valid_from = parse_rfc3339(*valid_from))) {
    return std::string("valid_from must be an RFC 3339 time");
  }
  if (valid_until && !(t.valid_until = parse_rfc3339(*valid_until))) {
    return std::string("valid_until must be an RFC 3339 time");
  }
  if (const auto it = body.find("gates"); it != body.end() && !it->is_null()) {
    if (!it->is_array()) return std::string("gates must be a list of strings");
    for (const auto& g : *it) {
      if (!g.is_string()) return std::string("gates must be a list of strings");
      t.gates.push_back(g.get<std::string>());
    }
  }
  if (auto e = check_ticket(t)) return *e;
  return t;
}

json ticket_with_scans(const Ticket& t, const std::vector<ScanRecord>& scans) {
  json out = ticket_json(t);
  out["last_scans"] = scans_json(scans);
  return out;
}

// The credential of "Authorization: Bearer <credential>" (the API key, or an owner's token).
std::optional<std::string_view> bearer(const HttpRequest& req) {
  static constexpr std::string_view kBearer = "Bearer ";
  if (req.authorization.rfind(kBearer, 0) != 0) return std::nullopt;
  return std::string_view(req.authorization).substr(kBearer.size());
}

}  // namespace

bool Api::authorized(const HttpRequest& req) const {
  const auto credential = bearer(req);
  if (!credential) return false;
  const std::string_view given = *credential;
  // Compare digests: constant time whatever the lengths.
  unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(given.data()), given.size(), a);
  SHA256(reinterpret_cast<const unsigned char*>(config_.api_key.data()), config_.api_key.size(), b);
  return CRYPTO_memcmp(a, b, sizeof a) == 0;
}

void Api::handle(HttpRequest req, Responder respond_raw) {
  const std::string path = req.target.substr(0, req.target.find('?'));
  std::string route = path;
  // Count every answer under a fixed route label, so that /metrics stays small.
  static const std::string kTicketPrefix = "/api/v1/tickets/";
  if (path.rfind(kTicketPrefix, 0) == 0) route = "/api/v1/tickets/{code}";
  static const std::string kOwnerPrefix = "/ticket/data/";
  if (path.rfind(kOwnerPrefix, 0) == 0) route = "/ticket/data/{code}";
  static const std::set<std::string> kRoutes = {
      "/healthz",       "/metrics", "/api/v1/push", "/api/v1/tickets",   "/api/v1/tickets/{code}",
      "/api/v1/tokens", "/ws",      "/ticket",      "/ticket-bridge.js", "/ticket/data/{code}"};
  if (kRoutes.count(route) == 0) route = "other";
  Responder respond = [this, route, respond_raw = std::move(respond_raw)](HttpResponse r) {
    metrics_.count_http(route, r.status);
    respond_raw(std::move(r));
  };
  const auto& m = req.method;

  if (route == "/healthz") {
    return respond(m == "GET" || m == "HEAD" ? health() : method_not_allowed("GET"));
  }
  if (route == "/metrics") {
    if (m != "GET") return respond(method_not_allowed("GET"));
    return respond(HttpResponse{200, "text/plain; version=0.0.4", metrics_.render(health_), ""});
  }
  if (route == "/ws") {
    return respond(error(400, "bad_request", "/ws expects a WebSocket upgrade"));
  }
  if (route == "other") return respond(error(404, "not_found", "no route " + path));
  if (route == "/ticket" || route == "/ticket-bridge.js") {
    if (m != "GET" && m != "HEAD") return respond(method_not_allowed("GET"));
    return respond(route == "/ticket" ? HttpResponse{200, "text/html; charset=utf-8",
                                                     std::string(kTicketPageHtml), ""}
                                      : HttpResponse{200, "text/javascript; charset=utf-8",
                                                     std::string(kTicketBridgeJs), ""});
  }
  if (route == "/ticket/data/{code}") {
    if (m != "GET") return respond(method_not_allowed("GET"));
    return owner_ticket(req, path.substr(kOwnerPrefix.size()), respond);
  }

  // The API: method, then key, then body.
  const char* allow = route == "/api/v1/tickets/{code}" ? "GET, DELETE" : "POST";
  const bool method_ok =
      route == "/api/v1/tickets/{code}" ? (m == "GET" || m == "DELETE") : m == "POST";
  if (!method_ok) return respond(method_not_allowed(allow));
  if (!authorized(req)) {
    return respond(error(401, "unauthorized", "send Authorization: Bearer <api key>"));
  }
  if (route == "/api/v1/push") return push(req, respond);
  if (route == "/api/v1/tokens") return create_token(req, respond);
  if (route == "/api/v1/tickets") return create_ticket(req, respond);
  const std::string code = path.substr(kTicketPrefix.size());
  if (!is_valid_id(code)) return respond(error(404, "not_found", "no ticket with that code"));
  if (m == "GET") return get_ticket(code, respond);
  return revoke_ticket(code, respond);
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

void Api::create_ticket(const HttpRequest& req, const Responder& respond) {
  auto parsed = parse_object(req.body);
  if (auto* r = std::get_if<HttpResponse>(&parsed)) return respond(std::move(*r));
  auto made = ticket_from_json(std::get<json>(parsed), now_ms());
  if (auto* err = std::get_if<std::string>(&made)) return respond(error(422, "invalid", *err));
  const bool code_given =
      std::get<json>(parsed).contains("code") && !std::get<json>(parsed)["code"].is_null();
  auto ticket = std::make_shared<Ticket>(std::get<Ticket>(std::move(made)));
  auto conflict = std::make_shared<bool>(false);
  writer_.submit(WriteTask{
      [ticket, conflict, code_given](Store& store, TaskOutcome&) {
        // A random code that is taken is drawn again; a chosen one is a conflict.
        for (int attempt = 0; store.find_ticket(ticket->code); ++attempt) {
          if (code_given || attempt == 5) {
            *conflict = true;
            return;
          }
          ticket->code = random_ticket_code();
        }
        store.insert_ticket(*ticket);
      },
      [respond, ticket, conflict](TaskOutcome& out) {
        if (!out.ok)
          return respond(error(503, "unavailable", "the ticket was not stored: " + out.error));
        if (*conflict)
          return respond(error(409, "conflict", "a ticket with code " + ticket->code + " exists"));
        respond(json_response(201, ticket_json(*ticket)));
      }});
}

void Api::get_ticket(const std::string& code, const Responder& respond) {
  reader_.submit([code, respond](Store& store) {
    try {
      const auto t = store.find_ticket(code);
      if (!t) return respond(error(404, "not_found", "no ticket with code " + code));
      respond(json_response(200, ticket_with_scans(*t, store.recent_scans(code, 20))));
    } catch (const std::exception& e) {
      respond(error(503, "unavailable", e.what()));
    }
  });
}

void Api::owner_ticket(const HttpRequest& req, const std::string& code, const Responder& respond) {
  // The owner's own view: authenticated by the owner's token, not the API key. A ticket of
  // another uid looks exactly like a missing one.
  std::string uid;
  if (const auto token = bearer(req)) {
    auto v = verify_token(*token, config_.jwt_secret, now_ms() / 1000);
    if (auto* claims = std::get_if<TokenClaims>(&v)) uid = claims->uid;
  }
  if (uid.empty()) return respond(error(401, "unauthorized", "send Authorization: Bearer <token>"));
  if (!is_valid_id(code)) return respond(error(404, "not_found", "no such ticket"));
  reader_.submit([code, uid, respond](Store& store) {
    try {
      const auto t = store.find_ticket(code);
      if (!t || t->uid != uid) return respond(error(404, "not_found", "no such ticket"));
      json out = ticket_json(*t);
      out["qr_svg"] = qr_svg(t->code);
      respond(json_response(200, out));
    } catch (const std::exception& e) {
      respond(error(503, "unavailable", e.what()));
    }
  });
}

void Api::revoke_ticket(const std::string& code, const Responder& respond) {
  auto ticket = std::make_shared<std::optional<Ticket>>();
  writer_.submit(WriteTask{[code, ticket](Store& store, TaskOutcome&) {
                             if (store.revoke_ticket(code)) *ticket = store.find_ticket(code);
                           },
                           [respond, code, ticket](TaskOutcome& out) {
                             if (!out.ok) return respond(error(503, "unavailable", out.error));
                             if (!*ticket)
                               return respond(
                                   error(404, "not_found", "no ticket with code " + code));
                             respond(json_response(200, ticket_json(**ticket)));
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
  std::int64_t ttl = 3600;
  if (const auto it = body.find("ttl_s"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 1 ||
        it->get<std::int64_t>() > config_.max_token_ttl_s) {
      return respond(error(422, "invalid",
                           "ttl_s must be a whole number of seconds from 1 to " +
                               std::to_string(config_.max_token_ttl_s)));
    }
    ttl = it->get<std::int64_t>();
  }
  const std::int64_t now = now_ms() / 1000;
  respond(json_response(
      201, {{"token", sign_token(uid->get<std::string>(), ttl, config_.jwt_secret, now)},
            {"expires_at", format_rfc3339((now + ttl) * 1000)}}));
}

}  // namespace tb
