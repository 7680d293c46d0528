// ticket-bridge's Mosquitto plugin (plugin API version 5): authenticates scanners and the bridge
// against a mosquitto_passwd file, customers' native apps with their JWT (username = uid,
// password = the token the browser uses too), binds each identity to its client ids, and
// enforces the roles of policy.hpp on every publish, subscribe and delivery. SIGHUP of the broker
// re-reads the password file and the JWT secret.
//
// mosquitto.conf:
//   plugin /usr/lib/ticket-bridge/tb_auth_plugin.so
//   plugin_opt_password_file /etc/mosquitto/ticket-bridge/passwd
//   plugin_opt_jwt_secret_file /etc/mosquitto/ticket-bridge/jwt-secret
//   plugin_opt_bridge_users bridge
//   plugin_opt_max_app_sessions 8
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <openssl/x509.h>

#include <ctime>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "jwt.hpp"
#include "policy.hpp"
#include "topics.hpp"

namespace {

// What the plugin options say, read at start and again at every reload.
struct Config {
  std::optional<tbauth::PasswordFile> passwords;
  std::string jwt_secret;
  std::set<std::string> bridge_users{"bridge"};
  int max_app_sessions = tbauth::kDefaultAppSessions;
};

// An identity, kept by client id beyond its connection: Mosquitto checks READ access when it
// queues a message for an OFFLINE persistent session, and gives a plugin no event when a session
// ends. Replaced at the next login with that id; a customer's is dropped after its token's exp.
struct Session {
  tbauth::Identity who;
  std::string password_hash;              // scanners and the bridge: what the login matched
  const mosquitto* connection = nullptr;  // while connected, else null
  bool kicked = false;                    // sent away once already
};

struct State {
  mosquitto_plugin_id_t* id = nullptr;
  Config config;
  // The plugin_opt_ lines as given at start, read again at a reload that passes none.
  std::vector<std::pair<std::string, std::string>> start_options;
  // Mosquitto runs plugins on its one main thread, so no lock is needed.
  std::unordered_map<std::string, Session> sessions;  // by client id
  std::int64_t next_purge_s = 0;
};

std::unique_ptr<State> g_state;

std::int64_t now_s() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

std::string trimmed_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  const auto a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return {};
  return s.substr(a, s.find_last_not_of(" \t\r\n") - a + 1);
}

using Options = std::vector<std::pair<std::string, std::string>>;

Options copy_options(const mosquitto_opt* options, int option_count) {
  Options out;
  for (int i = 0; i < option_count; ++i) {
    out.emplace_back(options[i].key != nullptr ? options[i].key : "",
                     options[i].value != nullptr ? options[i].value : "");
  }
  return out;
}

// Reads the options into a config; nothing (and a log line) when one is wrong.
std::optional<Config> load_config(const Options& options) {
  Config c;
  for (const auto& [key, value] : options) {
    if (key == "password_file") {
      std::string error;
      c.passwords = tbauth::PasswordFile::load(value, error);
      if (!c.passwords) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "tb_auth: %s", error.c_str());
        return std::nullopt;
      }
    } else if (key == "jwt_secret_file") {
      c.jwt_secret = trimmed_file(value);
      if (c.jwt_secret.empty()) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "tb_auth: cannot read the JWT secret in %s",
                             value.c_str());
        return std::nullopt;
      }
    } else if (key == "bridge_users") {
      c.bridge_users.clear();
      std::stringstream ss(value);
      for (std::string u; std::getline(ss, u, ',');) {
        if (!u.empty()) c.bridge_users.insert(u);
      }
    } else if (key == "max_app_sessions") {
      try {
        c.max_app_sessions = std::stoi(value);
      } catch (const std::exception&) {
        c.max_app_sessions = -1;
      }
      if (c.max_app_sessions < 1 || c.max_app_sessions > 1000) {
        mosquitto_log_printf(MOSQ_LOG_ERR,
                             "tb_auth: plugin_opt_max_app_sessions must be 1 to 1000, not %s",
                             value.c_str());
        return std::nullopt;
      }
    } else {
      mosquitto_log_printf(MOSQ_LOG_ERR, "tb_auth: unknown option plugin_opt_%s", key.c_str());
      return std::nullopt;
    }
  }
  return c;
}

tbauth::Role password_role(const Config& c, const std::string& user) {
  return c.bridge_users.count(user) != 0 ? tbauth::Role::Bridge : tbauth::Role::Scanner;
}

const char* role_name(tbauth::Role r) {
  switch (r) {
    case tbauth::Role::Bridge:
      return "bridge";
    case tbauth::Role::Scanner:
      return "scanner";
    case tbauth::Role::Customer:
      return "customer";
  }
  return "?";
}

// Customers whose token expired keep nothing queued: their sessions are forgotten.
void purge_expired(State& st) {
  const auto now = now_s();
  if (now < st.next_purge_s) return;
  st.next_purge_s = now + 60;
  for (auto it = st.sessions.begin(); it != st.sessions.end();) {
    const auto& who = it->second.who;
    it = who.role == tbauth::Role::Customer && now >= who.exp ? st.sessions.erase(it)
                                                              : std::next(it);
  }
}

int on_basic_auth(int, void* event_data, void*) {
  auto* ed = static_cast<mosquitto_evt_basic_auth*>(event_data);
  auto& st = *g_state;
  purge_expired(st);
  const char* client_id = mosquitto_client_id(ed->client);
  if (ed->username == nullptr || ed->password == nullptr || client_id == nullptr) {
    return MOSQ_ERR_AUTH;
  }
  const std::string user = ed->username;
  Session session;
  if (st.config.passwords && st.config.passwords->contains(user)) {
    if (!st.config.passwords->check(user, ed->password)) {
      mosquitto_log_printf(MOSQ_LOG_NOTICE, "tb_auth: wrong password for %s", user.c_str());
      return MOSQ_ERR_AUTH;
    }
    session.who = tbauth::Identity{password_role(st.config, user), user, 0};
    session.password_hash = st.config.passwords->hash_of(user);
  } else {
    // A customer: the password is the owner's JWT, and its sub must be the user name.
    if (st.config.jwt_secret.empty()) return MOSQ_ERR_AUTH;
    const auto v = tb::verify_token(ed->password, st.config.jwt_secret, now_s());
    const auto* claims = std::get_if<tb::TokenClaims>(&v);
    if (claims == nullptr || claims->uid != user) {
      mosquitto_log_printf(
          MOSQ_LOG_NOTICE, "tb_auth: token refused for %s: %s", user.c_str(),
          claims == nullptr ? std::get<std::string>(v).c_str() : "sub is another uid");
      return MOSQ_ERR_AUTH;
    }
    session.who = tbauth::Identity{tbauth::Role::Customer, user, claims->exp};
  }
  // Refused here, before Mosquitto takes over an existing session with this id.
  if (!tbauth::client_id_allowed(session.who, client_id, st.config.max_app_sessions)) {
    mosquitto_log_printf(MOSQ_LOG_NOTICE,
                         "tb_auth: %s %s may not use client id %s (SPEC.md v1.1 patterns)",
                         role_name(session.who.role), user.c_str(), client_id);
    return MOSQ_ERR_AUTH;
  }
  session.connection = ed->client;
  st.sessions[client_id] = std::move(session);
  return MOSQ_ERR_SUCCESS;
}

// The identity behind a client, or nothing. Password and token logins are found by client id
// (also while their persistent session is offline). On a listener that authenticates by client
// certificate (require_certificate, use_identity_as_username) Mosquitto skips basic auth: the
// certificate's name is a scanner or a bridge user, and its client id must be that name
// (use_username_as_clientid), so it cannot take anyone else's session.
Session* identify(State& st, const mosquitto* client, const char* username) {
  const char* client_id = mosquitto_client_id(client);
  if (client_id == nullptr) return nullptr;
  const auto it = st.sessions.find(client_id);
  if (it != st.sessions.end() && it->second.who.name == username) return &it->second;
  void* cert = mosquitto_client_certificate(client);
  if (cert == nullptr) return nullptr;
  X509_free(static_cast<X509*>(cert));
  if (std::string_view(client_id) != username) {
    mosquitto_log_printf(MOSQ_LOG_WARNING,
                         "tb_auth: certificate client %s uses client id %s: set "
                         "use_username_as_clientid true on its listener",
                         username, client_id);
    return nullptr;
  }
  Session s;
  s.who = tbauth::Identity{password_role(st.config, username), username, 0};
  s.connection = client;
  return &(st.sessions[client_id] = std::move(s));
}

int on_acl_check(int, void* event_data, void*) {
  auto* ed = static_cast<mosquitto_evt_acl_check*>(event_data);
  auto& st = *g_state;
  const char* username = mosquitto_client_username(ed->client);
  if (username == nullptr || ed->topic == nullptr) return MOSQ_ERR_ACL_DENIED;
  Session* session = identify(st, ed->client, username);
  if (session == nullptr) return MOSQ_ERR_ACL_DENIED;
  const auto& who = session->who;
  if (!tbauth::allowed(who, ed->access, ed->topic, now_s())) {
    if (who.role == tbauth::Role::Customer && now_s() >= who.exp &&
        session->connection == ed->client && !session->kicked) {
      // The token expired while connected: nothing more is delivered, and the app is sent away
      // to log in again with a fresh token.
      mosquitto_log_printf(MOSQ_LOG_NOTICE, "tb_auth: token of %s expired; disconnecting",
                           who.name.c_str());
      session->kicked = true;
      mosquitto_kick_client_by_clientid(mosquitto_client_id(ed->client), false);
    }
    return MOSQ_ERR_ACL_DENIED;
  }
  if (ed->access == tbauth::kWrite && ed->topic == tb::topics::kScan) {
    const std::string_view payload(static_cast<const char*>(ed->payload), ed->payloadlen);
    if (const auto why = tbauth::scan_refusal(who, payload, ed->retain)) {
      mosquitto_log_printf(MOSQ_LOG_NOTICE, "tb_auth: scan from %s refused: %s", who.name.c_str(),
                           why->c_str());
      return MOSQ_ERR_ACL_DENIED;
    }
  }
  return MOSQ_ERR_SUCCESS;
}

int on_disconnect(int, void* event_data, void*) {
  auto* ed = static_cast<mosquitto_evt_disconnect*>(event_data);
  const char* client_id = mosquitto_client_id(ed->client);
  if (client_id == nullptr) return MOSQ_ERR_SUCCESS;
  const auto it = g_state->sessions.find(client_id);
  // Only this connection's own end: a refused login with the same id changes nothing.
  if (it != g_state->sessions.end() && it->second.connection == ed->client) {
    it->second.connection = nullptr;
  }
  return MOSQ_ERR_SUCCESS;
}

// SIGHUP: new passwords and secret take effect at once. A scanner or bridge user that was removed
// or whose password changed is sent away; so is every customer when the JWT secret changed (their
// tokens were signed with the old one). A config that cannot be read keeps the previous one.
int on_reload(int, void* event_data, void*) {
  auto* ed = static_cast<mosquitto_evt_reload*>(event_data);
  auto& st = *g_state;
  auto fresh = load_config(ed->option_count > 0 ? copy_options(ed->options, ed->option_count)
                                                : st.start_options);
  if (!fresh) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "tb_auth: reload failed; keeping the previous settings");
    return MOSQ_ERR_SUCCESS;
  }
  const bool secret_changed = fresh->jwt_secret != st.config.jwt_secret;
  st.config = std::move(*fresh);
  std::vector<std::string> away;
  for (auto it = st.sessions.begin(); it != st.sessions.end();) {
    const auto& s = it->second;
    bool gone = false;
    if (s.who.role == tbauth::Role::Customer) {
      gone = secret_changed;
    } else if (!s.password_hash.empty()) {  // a password login (certificates are not in the file)
      gone = !st.config.passwords || st.config.passwords->hash_of(s.who.name) != s.password_hash;
    }
    if (!gone) {
      ++it;
      continue;
    }
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "tb_auth: %s %s no longer valid; disconnecting %s",
                         role_name(s.who.role), s.who.name.c_str(), it->first.c_str());
    if (s.connection != nullptr) away.push_back(it->first);
    it = st.sessions.erase(it);
  }
  for (const auto& id : away) mosquitto_kick_client_by_clientid(id.c_str(), true);
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
  auto config = load_config(start_options);
  if (!config) return MOSQ_ERR_INVAL;
  g_state = std::make_unique<State>();
  g_state->id = identifier;
  g_state->start_options = std::move(start_options);
  g_state->config = std::move(*config);
  *userdata = g_state.get();
  mosquitto_callback_register(identifier, MOSQ_EVT_BASIC_AUTH, on_basic_auth, nullptr, nullptr);
  mosquitto_callback_register(identifier, MOSQ_EVT_ACL_CHECK, on_acl_check, nullptr, nullptr);
  mosquitto_callback_register(identifier, MOSQ_EVT_DISCONNECT, on_disconnect, nullptr, nullptr);
  mosquitto_callback_register(identifier, MOSQ_EVT_RELOAD, on_reload, nullptr, nullptr);
  const auto& c = g_state->config;
  mosquitto_log_printf(MOSQ_LOG_INFO, "tb_auth: ready (%s, %s, %d app sessions per uid)",
                       c.passwords ? "password file" : "no password file",
                       c.jwt_secret.empty() ? "no JWT secret" : "JWT for customers",
                       c.max_app_sessions);
  return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void*, struct mosquitto_opt*, int) {
  if (g_state) {
    mosquitto_callback_unregister(g_state->id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, nullptr);
    mosquitto_callback_unregister(g_state->id, MOSQ_EVT_ACL_CHECK, on_acl_check, nullptr);
    mosquitto_callback_unregister(g_state->id, MOSQ_EVT_DISCONNECT, on_disconnect, nullptr);
    mosquitto_callback_unregister(g_state->id, MOSQ_EVT_RELOAD, on_reload, nullptr);
    g_state.reset();
  }
  return MOSQ_ERR_SUCCESS;
}

}  // extern "C"
