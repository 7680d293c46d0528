// ticket-bridge's Mosquitto plugin (plugin API version 5): authenticates scanners and the bridge
// against a mosquitto_passwd file, customers' native apps with their JWT (username = uid,
// password = the token the browser uses too), binds each identity to its client ids, and
// enforces the roles of policy.hpp on every publish, subscribe and delivery. SIGHUP of the broker
// re-reads the password file and the JWT secret. The rules live in policy.cpp, the identities in
// sessions.cpp, the options in config.cpp: this file is the glue to Mosquitto.
//
// mosquitto.conf:
//   plugin /usr/lib/ticket-bridge/tb_auth_plugin.so
//   plugin_opt_password_file /etc/mosquitto/ticket-bridge/passwd
//   plugin_opt_jwt_secret_file /etc/mosquitto/ticket-bridge/jwt-secret
//   plugin_opt_bridge_users bridge
//   plugin_opt_max_app_sessions 8
//   plugin_opt_sessions_file /var/lib/mosquitto/tb_auth_sessions
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <openssl/x509.h>

#include <ctime>
#include <memory>
#include <string>
#include <variant>

#include "config.hpp"
#include "ids.hpp"
#include "jwt.hpp"
#include "policy.hpp"
#include "sessions.hpp"
#include "topics.hpp"

namespace {

using tbauth::Role;
using tbauth::Session;

struct State {
  mosquitto_plugin_id_t* id = nullptr;
  tbauth::Config config;
  tbauth::Options start_options;  // read again at a reload that passes none
  // Mosquitto runs plugins on its one main thread, so no lock is needed.
  tbauth::SessionTable sessions;
  std::int64_t next_purge_s = 0, next_save_s = 0;
};

std::unique_ptr<State> g_state;

std::int64_t now_s() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

const char* role_name(Role r) {
  switch (r) {
    case Role::Bridge:
      return "bridge";
    case Role::Scanner:
      return "scanner";
    case Role::Customer:
      return "customer";
  }
  return "?";
}

tbauth::Options copy_options(const mosquitto_opt* options, int option_count) {
  tbauth::Options out;
  for (int i = 0; i < option_count; ++i) {
    out.emplace_back(options[i].key != nullptr ? options[i].key : "",
                     options[i].value != nullptr ? options[i].value : "");
  }
  return out;
}

void save_sessions(State& st) {
  if (st.config.sessions_file.empty() || !st.sessions.dirty()) return;
  std::string error;
  if (!st.sessions.save(st.config.sessions_file, error)) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "tb_auth: %s", error.c_str());
  }
}

int on_basic_auth(int, void* event_data, void*) {
  auto* ed = static_cast<mosquitto_evt_basic_auth*>(event_data);
  auto& st = *g_state;
  const char* client_id = mosquitto_client_id(ed->client);
  if (ed->username == nullptr || ed->password == nullptr || client_id == nullptr) {
    return MOSQ_ERR_AUTH;
  }
  const std::string user = ed->username;
  Session session;
  if (st.config.passwords && st.config.passwords->contains(user)) {
    if (!tb::is_valid_id(user)) {  // it becomes a topic level: no wildcards, no controls
      mosquitto_log_printf(MOSQ_LOG_WARNING, "tb_auth: user name %s is not a valid id; refused",
                           user.c_str());
      return MOSQ_ERR_AUTH;
    }
    if (!st.config.passwords->check(user, ed->password)) {
      mosquitto_log_printf(MOSQ_LOG_NOTICE, "tb_auth: wrong password for %s", user.c_str());
      return MOSQ_ERR_AUTH;
    }
    session.who = tbauth::Identity{st.config.password_role(user), user, 0};
    session.password_hash = st.config.passwords->hash_of(user);
  } else {
    // A customer: the password is the owner's JWT, and its sub (a valid uid) must be the user.
    if (st.config.jwt_secret.empty()) return MOSQ_ERR_AUTH;
    const auto v = tb::verify_token(ed->password, st.config.jwt_secret, now_s());
    const auto* claims = std::get_if<tb::TokenClaims>(&v);
    // A token scoped to one ticket (a ticket page's) or with a role (an operator's) may not
    // read every event of the uid.
    if (claims == nullptr || claims->uid != user || !claims->whole_uid()) {
      mosquitto_log_printf(MOSQ_LOG_NOTICE, "tb_auth: token refused for %s: %s", user.c_str(),
                           claims == nullptr     ? std::get<std::string>(v).c_str()
                           : claims->uid != user ? "sub is another uid"
                                                 : "a ticket-scoped or operator token");
      return MOSQ_ERR_AUTH;
    }
    session.who = tbauth::Identity{Role::Customer, user, claims->exp};
  }
  // Refused here, before Mosquitto takes over an existing session with this id.
  if (!tbauth::client_id_allowed(session.who, client_id, st.config.max_app_sessions)) {
    mosquitto_log_printf(MOSQ_LOG_NOTICE,
                         "tb_auth: %s %s may not use client id %s (SPEC.md v1.1 patterns)",
                         role_name(session.who.role), user.c_str(), client_id);
    return MOSQ_ERR_AUTH;
  }
  session.connection = ed->client;
  st.sessions.put(client_id, std::move(session));
  return MOSQ_ERR_SUCCESS;
}

// The identity behind a client, or nothing. Password and token logins are found by client id,
// also while their persistent session is offline. A password user's entry lost in a broker
// restart follows again from the password file and its id pattern (customers' entries are saved
// to plugin_opt_sessions_file). On a listener that authenticates by client certificate
// (require_certificate, use_identity_as_username) Mosquitto skips basic auth: the certificate's
// name is a scanner, whose client id must be that name (use_username_as_clientid).
Session* identify(State& st, const mosquitto* client, const char* username) {
  const char* id = mosquitto_client_id(client);
  if (id == nullptr) return nullptr;
  const std::string client_id = id;
  if (Session* s = st.sessions.find(client_id, username)) return s;
  const auto& pw = st.config.passwords;
  if (pw && pw->contains(username) && tb::is_valid_id(username)) {
    Session s;
    s.who = tbauth::Identity{st.config.password_role(username), username, 0};
    s.password_hash = pw->hash_of(username);
    if (tbauth::client_id_allowed(s.who, client_id, st.config.max_app_sessions)) {
      return &st.sessions.put(client_id, std::move(s));
    }
  }
  void* cert = mosquitto_client_certificate(client);
  if (cert == nullptr) return nullptr;
  X509_free(static_cast<X509*>(cert));
  if (client_id != username || !tb::is_valid_id(username) ||
      st.config.password_role(username) != Role::Scanner) {
    mosquitto_log_printf(MOSQ_LOG_WARNING,
                         "tb_auth: certificate client %s (client id %s) refused: a certificate "
                         "is a scanner whose client id is its name (use_username_as_clientid)",
                         username, id);
    return nullptr;
  }
  Session s;
  s.who = tbauth::Identity{Role::Scanner, username, 0};
  s.connection = client;
  return &st.sessions.put(client_id, std::move(s));
}

int on_acl_check(int, void* event_data, void*) {
  auto* ed = static_cast<mosquitto_evt_acl_check*>(event_data);
  auto& st = *g_state;
  const char* username = mosquitto_client_username(ed->client);
  if (username == nullptr || ed->topic == nullptr) return MOSQ_ERR_ACL_DENIED;
  Session* session = identify(st, ed->client, username);
  if (session == nullptr) return MOSQ_ERR_ACL_DENIED;
  const auto& who = session->who;
  const std::string_view topic = ed->topic;
  if (session->revoked) {
    // Sent away at a reload: only its Last Will still goes out.
    const bool will = ed->access == tbauth::kWrite && who.role != Role::Customer &&
                      (topic == tb::topics::scanner_status(who.name) ||
                       (who.role == Role::Bridge && topic.substr(0, 7) == "bridge/"));
    return will ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
  }
  if (!tbauth::allowed(who, ed->access, topic, now_s())) {
    if (who.role == Role::Customer && now_s() >= who.exp && session->connection == ed->client &&
        !session->kicked) {
      // The token expired while connected: nothing more is delivered, and the app is sent away
      // to log in again with a fresh token.
      mosquitto_log_printf(MOSQ_LOG_NOTICE, "tb_auth: token of %s expired; disconnecting",
                           who.name.c_str());
      session->kicked = true;
      mosquitto_kick_client_by_clientid(mosquitto_client_id(ed->client), false);
    }
    return MOSQ_ERR_ACL_DENIED;
  }
  if (ed->access == tbauth::kWrite && tbauth::is_scan_topic(topic)) {
    const std::string_view payload(static_cast<const char*>(ed->payload), ed->payloadlen);
    if (const auto why = tbauth::scan_refusal(who, topic, payload, ed->retain)) {
      mosquitto_log_printf(MOSQ_LOG_NOTICE, "tb_auth: scan from %s refused: %s", who.name.c_str(),
                           why->c_str());
      return MOSQ_ERR_ACL_DENIED;
    }
  }
  return MOSQ_ERR_SUCCESS;
}

int on_disconnect(int, void* event_data, void*) {
  auto* ed = static_cast<mosquitto_evt_disconnect*>(event_data);
  if (const char* id = mosquitto_client_id(ed->client))
    g_state->sessions.disconnected(id, ed->client);
  return MOSQ_ERR_SUCCESS;
}

// Housekeeping about once a second: forget expired customers, save customers' identities.
int on_tick(int, void*, void*) {
  auto& st = *g_state;
  const auto now = now_s();
  if (now >= st.next_purge_s) {
    st.next_purge_s = now + 60;
    st.sessions.purge(now);
  }
  if (now >= st.next_save_s) {
    st.next_save_s = now + 30;
    save_sessions(st);
  }
  return MOSQ_ERR_SUCCESS;
}

// SIGHUP: new passwords and secret take effect at once. A scanner or bridge user that was removed
// or whose password changed is sent away; so is every customer when the JWT secret changed (their
// tokens were signed with the old one). Settings that cannot be read keep the previous ones.
int on_reload(int, void* event_data, void*) {
  auto* ed = static_cast<mosquitto_evt_reload*>(event_data);
  auto& st = *g_state;
  std::string error;
  auto fresh = tbauth::load_config(
      ed->option_count > 0 ? copy_options(ed->options, ed->option_count) : st.start_options, error);
  // At a reload a file that went away is an error like an unreadable one: the previous
  // settings stay (only at start may a file not be there yet).
  if (fresh && !fresh->missing_files.empty()) {
    error = fresh->missing_files.front() + " does not exist";
    fresh.reset();
  }
  if (!fresh) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "tb_auth: reload failed (%s); keeping the previous settings",
                         error.c_str());
    return MOSQ_ERR_SUCCESS;
  }
  const bool secret_changed = fresh->jwt_secret != st.config.jwt_secret;
  st.config = std::move(*fresh);
  const auto& pw = st.config.passwords;
  const auto away = st.sessions.revoke_if(
      [&](const Session& s) {
        if (s.who.role == Role::Customer) return secret_changed;
        if (s.password_hash.empty()) return false;  // a certificate: not in the password file
        return !pw || pw->hash_of(s.who.name) != s.password_hash;
      },
      now_s());
  for (const auto& id : away) {
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "tb_auth: disconnecting %s: its login is no longer valid",
                         id.c_str());
    mosquitto_kick_client_by_clientid(id.c_str(), true);
  }
  mosquitto_log_printf(MOSQ_LOG_NOTICE, "tb_auth: reloaded (%zu clients sent away)", away.size());
  return MOSQ_ERR_SUCCESS;
}

}  // namespace

extern "C" {

int mosquitto_plugin_version(int supported_version_count, const int* supported_versions) {
  for (int i = 0; i < supported_version_count; ++i) {
    if (supported_versions[i] == 5) return 5;
  }
  return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t* identifier, void** userdata,
                          struct mosquitto_opt* options, int option_count) {
  auto start_options = copy_options(options, option_count);
  std::string error;
  auto config = tbauth::load_config(start_options, error);
  if (!config) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "tb_auth: %s", error.c_str());
    return MOSQ_ERR_INVAL;
  }
  g_state = std::make_unique<State>();
  auto& st = *g_state;
  st.id = identifier;
  st.config = std::move(*config);
  st.start_options = std::move(start_options);
  *userdata = g_state.get();
  std::size_t restored = 0;
  if (!st.config.sessions_file.empty()) {
    restored = st.sessions.load(st.config.sessions_file, now_s(), st.config.max_app_sessions);
  }
  mosquitto_callback_register(identifier, MOSQ_EVT_BASIC_AUTH, on_basic_auth, nullptr, nullptr);
  mosquitto_callback_register(identifier, MOSQ_EVT_ACL_CHECK, on_acl_check, nullptr, nullptr);
  mosquitto_callback_register(identifier, MOSQ_EVT_DISCONNECT, on_disconnect, nullptr, nullptr);
  mosquitto_callback_register(identifier, MOSQ_EVT_RELOAD, on_reload, nullptr, nullptr);
  mosquitto_callback_register(identifier, MOSQ_EVT_TICK, on_tick, nullptr, nullptr);
  for (const auto& f : st.config.missing_files) {
    mosquitto_log_printf(
        MOSQ_LOG_WARNING,
        "tb_auth: %s does not exist yet: the logins it allows are refused until "
        "it does (`ticket-bridge init` writes it; then reload or restart mosquitto)",
        f.c_str());
  }
  mosquitto_log_printf(MOSQ_LOG_NOTICE,
                       "tb_auth: ready (%s, %s, %d app sessions per uid, %zu customers restored)",
                       st.config.passwords ? "password file" : "no password file",
                       st.config.jwt_secret.empty() ? "no JWT secret" : "JWT for customers",
                       st.config.max_app_sessions, restored);
  return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void*, struct mosquitto_opt*, int) {
  if (g_state) {
    save_sessions(*g_state);
    mosquitto_callback_unregister(g_state->id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, nullptr);
    mosquitto_callback_unregister(g_state->id, MOSQ_EVT_ACL_CHECK, on_acl_check, nullptr);
    mosquitto_callback_unregister(g_state->id, MOSQ_EVT_DISCONNECT, on_disconnect, nullptr);
    mosquitto_callback_unregister(g_state->id, MOSQ_EVT_RELOAD, on_reload, nullptr);
    mosquitto_callback_unregister(g_state->id, MOSQ_EVT_TICK, on_tick, nullptr);
    g_state.reset();
  }
  return MOSQ_ERR_SUCCESS;
}

}  // extern "C"
