// ticket-bridge's Mosquitto plugin (plugin API version 5): authenticates scanners and the bridge
// against a mosquitto_passwd file, customers' native apps with their JWT (username = uid,
// password = the token the browser uses too), and enforces the roles of policy.hpp on every
// publish, subscribe and delivery.
//
// mosquitto.conf:
//   plugin /usr/lib/ticket-bridge/tb_auth_plugin.so
//   plugin_opt_password_file /etc/mosquitto/ticket-bridge.passwd
//   plugin_opt_jwt_secret_file /etc/ticket-bridge/jwt-secret
//   plugin_opt_bridge_users bridge
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include <ctime>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <variant>

#include "jwt.hpp"
#include "policy.hpp"

namespace {

struct State {
  mosquitto_plugin_id_t* id = nullptr;
  std::optional<tbauth::PasswordFile> passwords;
  std::string jwt_secret;
  std::set<std::string> bridge_users{"bridge"};
  // Identity of each authenticated client, by its connection. Mosquitto runs plugins on its one
  // main thread, so no lock is needed.
  std::unordered_map<const mosquitto*, tbauth::Identity> clients;
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

int on_basic_auth(int, void* event_data, void*) {
  auto* ed = static_cast<mosquitto_evt_basic_auth*>(event_data);
  auto& st = *g_state;
  st.clients.erase(ed->client);
  if (ed->username == nullptr || ed->password == nullptr) return MOSQ_ERR_AUTH;
  const std::string user = ed->username;
  if (st.passwords && st.passwords->contains(user)) {
    if (!st.passwords->check(user, ed->password)) {
      mosquitto_log_printf(MOSQ_LOG_NOTICE, "tb_auth: wrong password for %s", user.c_str());
      return MOSQ_ERR_AUTH;
    }
    const auto role =
        st.bridge_users.count(user) != 0 ? tbauth::Role::Bridge : tbauth::Role::Scanner;
    st.clients[ed->client] = tbauth::Identity{role, user, 0};
    return MOSQ_ERR_SUCCESS;
  }
  // A customer: the password is the owner's JWT, and its sub must be the user name.
  if (st.jwt_secret.empty()) return MOSQ_ERR_AUTH;
  const auto v = tb::verify_token(ed->password, st.jwt_secret, now_s());
  const auto* claims = std::get_if<tb::TokenClaims>(&v);
  if (claims == nullptr || claims->uid != user) {
    mosquitto_log_printf(
        MOSQ_LOG_NOTICE, "tb_auth: token refused for %s: %s", user.c_str(),
        claims == nullptr ? std::get<std::string>(v).c_str() : "sub is another uid");
    return MOSQ_ERR_AUTH;
  }
  st.clients[ed->client] = tbauth::Identity{tbauth::Role::Customer, user, claims->exp};
  return MOSQ_ERR_SUCCESS;
}

int on_acl_check(int, void* event_data, void*) {
  auto* ed = static_cast<mosquitto_evt_acl_check*>(event_data);
  auto& st = *g_state;
  const char* username = mosquitto_client_username(ed->client);
  if (username == nullptr || ed->topic == nullptr) return MOSQ_ERR_ACL_DENIED;
  tbauth::Identity who;
  const auto it = st.clients.find(ed->client);
  if (it != st.clients.end() && it->second.name == username) {
    who = it->second;
  } else {
    // Authenticated by a client certificate (use_identity_as_username): the bridge users by
    // name, everyone else as a scanner. Customers always come through the token.
    who = tbauth::Identity{
        st.bridge_users.count(username) != 0 ? tbauth::Role::Bridge : tbauth::Role::Scanner,
        username, 0};
  }
  if (tbauth::allowed(who, ed->access, ed->topic, now_s())) return MOSQ_ERR_SUCCESS;
  if (who.role == tbauth::Role::Customer && now_s() >= who.exp) {
    // The token expired while connected: nothing more is delivered, and the app is sent away to
    // log in again with a fresh token.
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "tb_auth: token of %s expired; disconnecting",
                         who.name.c_str());
    if (const char* id = mosquitto_client_id(ed->client))
      mosquitto_kick_client_by_clientid(id, false);
  }
  return MOSQ_ERR_ACL_DENIED;
}

int on_disconnect(int, void* event_data, void*) {
  auto* ed = static_cast<mosquitto_evt_disconnect*>(event_data);
  g_state->clients.erase(ed->client);
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
  g_state = std::make_unique<State>();
  g_state->id = identifier;
  *userdata = g_state.get();
  for (int i = 0; i < option_count; ++i) {
    const std::string key = options[i].key != nullptr ? options[i].key : "";
    const std::string value = options[i].value != nullptr ? options[i].value : "";
    if (key == "password_file") {
      std::string error;
      g_state->passwords = tbauth::PasswordFile::load(value, error);
      if (!g_state->passwords) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "tb_auth: %s", error.c_str());
        return MOSQ_ERR_INVAL;
      }
    } else if (key == "jwt_secret_file") {
      g_state->jwt_secret = trimmed_file(value);
      if (g_state->jwt_secret.empty()) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "tb_auth: cannot read the JWT secret in %s",
                             value.c_str());
        return MOSQ_ERR_INVAL;
      }
    } else if (key == "bridge_users") {
      g_state->bridge_users.clear();
      std::stringstream ss(value);
      for (std::string u; std::getline(ss, u, ',');) {
        if (!u.empty()) g_state->bridge_users.insert(u);
      }
    } else {
      mosquitto_log_printf(MOSQ_LOG_ERR, "tb_auth: unknown option plugin_opt_%s", key.c_str());
      return MOSQ_ERR_INVAL;
    }
  }
  mosquitto_callback_register(identifier, MOSQ_EVT_BASIC_AUTH, on_basic_auth, nullptr, nullptr);
  mosquitto_callback_register(identifier, MOSQ_EVT_ACL_CHECK, on_acl_check, nullptr, nullptr);
  mosquitto_callback_register(identifier, MOSQ_EVT_DISCONNECT, on_disconnect, nullptr, nullptr);
  mosquitto_log_printf(MOSQ_LOG_INFO, "tb_auth: ready (%s, %s)",
                       g_state->passwords ? "password file" : "no password file",
                       g_state->jwt_secret.empty() ? "no JWT secret" : "JWT for customers");
  return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void*, struct mosquitto_opt*, int) {
  if (g_state) {
    mosquitto_callback_unregister(g_state->id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, nullptr);
    mosquitto_callback_unregister(g_state->id, MOSQ_EVT_ACL_CHECK, on_acl_check, nullptr);
    mosquitto_callback_unregister(g_state->id, MOSQ_EVT_DISCONNECT, on_disconnect, nullptr);
    g_state.reset();
  }
  return MOSQ_ERR_SUCCESS;
}

}  // extern "C"
