// The HTTP API's ticket routes: create, read (the backend's and the owner's view), revoke.
#include <spdlog/spdlog.h>

#include "api.hpp"
#include "api_responses.hpp"
#include "gate_sync.hpp"
#include "jwt.hpp"
#include "messages.hpp"
#include "qr.hpp"
#include "signed_code.hpp"
#include "ticket_input.hpp"

namespace tb {

namespace {

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

std::variant<Ticket, std::string> ticket_from_json(const json& body, Millis now,
                                                   bool rotating_default) {
  std::string err;
  std::optional<std::string> uid, code, holder, valid_from, valid_until;
  std::optional<std::int64_t> max_entries;
  std::optional<bool> reentry, rotating;
  if (!read_field(body, "uid", uid, err) || !read_field(body, "code", code, err) ||
      !read_field(body, "holder", holder, err) ||
      !read_field(body, "max_entries", max_entries, err) ||
      !read_field(body, "reentry", reentry, err) || !read_field(body, "rotating", rotating, err) ||
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
  t.rotating = rotating.value_or(rotating_default);
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

}  // namespace

void Api::create_ticket(const HttpRequest& req, const Responder& respond) {
  auto parsed = parse_object(req.body);
  if (auto* r = std::get_if<HttpResponse>(&parsed)) return respond(std::move(*r));
  auto made = ticket_from_json(std::get<json>(parsed), now_ms(), config_.rotating_default);
  if (auto* err = std::get_if<std::string>(&made)) return respond(error(422, "invalid", *err));
  const bool code_given =
      std::get<json>(parsed).contains("code") && !std::get<json>(parsed)["code"].is_null();
  auto ticket = std::make_shared<Ticket>(std::get<Ticket>(std::move(made)));
  const auto key = config_.signing_key;
  if (auto why = issue_signed_code(*ticket, key.get(), !config_.rotating_key_id.empty())) {
    return respond(error(422, "invalid", *why));
  }
  auto conflict = std::make_shared<bool>(false);
  writer_.submit(WriteTask{
      [ticket, conflict, code_given, key](Store& store, TaskOutcome&) {
        // A random code that is taken is drawn again; a chosen one is a conflict.
        for (int attempt = 0; store.find_ticket(ticket->code); ++attempt) {
          if (code_given || attempt == 5) {
            *conflict = true;
            return;
          }
          ticket->code = random_ticket_code();
          if (key) sign_ticket(*ticket, *key);  // the same fields, so it fits as before
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

void Api::owner_ticket(const HttpRequest& req, const std::string& named, const Responder& respond) {
  // The page's link may carry the signed code: it names the ticket inside it.
  const std::string code = plain_code_of(named).value_or("");
  // The owner's own view: authenticated by the owner's token, not the API key. A ticket of
  // another uid looks exactly like a missing one.
  std::string uid;
  std::string scope;  // the one ticket a scoped token may see
  if (const auto token = bearer(req)) {
    auto v = verify_token(*token, config_.jwt_secret, now_ms() / 1000);
    if (auto* claims = std::get_if<TokenClaims>(&v); claims && claims->role.empty()) {
      uid = claims->uid;
      scope = claims->code;
    }
  }
  if (uid.empty()) return respond(error(401, "unauthorized", "send Authorization: Bearer <token>"));
  if (!is_valid_id(code) || (!scope.empty() && scope != code)) {
    return respond(error(404, "not_found", "no such ticket"));
  }
  reader_.submit([code, uid, respond, key_id = config_.rotating_key_id](Store& store) {
    try {
      const auto t = store.find_ticket(code);
      if (!t || t->uid != uid) return respond(error(404, "not_found", "no such ticket"));
      json out = ticket_json(*t);
      // The QR code shows the signed code when the ticket has one: a gate can check it alone.
      // A rotating ticket's page draws its own, the signed code and the value of the moment.
      out["qr_svg"] = qr_svg(t->signed_code.value_or(t->code));
      if (t->rotating) out["rotating_key_id"] = key_id.empty() ? json() : json(key_id);
      respond(json_response(200, out));
    } catch (const std::exception& e) {
      respond(error(503, "unavailable", e.what()));
    }
  });
}

void Api::revoke_ticket(const std::string& code, const Responder& respond) {
  auto ticket = std::make_shared<std::optional<Ticket>>();
  writer_.submit(
      WriteTask{[code, ticket](Store& store, TaskOutcome& out) {
                  if (store.revoke_ticket(code)) *ticket = store.find_ticket(code);
                  // The gates hear of it at once (gate_sync.hpp).
                  const auto* t = ticket->has_value() ? &**ticket : nullptr;
                  if (t && t->signed_code) {
                    if (auto key = sync_key_of(*t->signed_code)) {
                      out.feed.push_back(
                          {std::move(*key), t->usage.entries, t->usage.inside, true, now_ms()});
                    }
                  }
                },
                [respond, code, ticket](TaskOutcome& out) {
                  if (!out.ok) return respond(error(503, "unavailable", out.error));
                  if (!*ticket)
                    return respond(error(404, "not_found", "no ticket with code " + code));
                  respond(json_response(200, ticket_json(**ticket)));
                }});
}

}  // namespace tb
