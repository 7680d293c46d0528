// The plugin's table of identities by client id.
#include "sessions.hpp"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "ids.hpp"

namespace tbauth {

Session* SessionTable::find(const std::string& client_id, std::string_view username) {
  const auto it = sessions_.find(client_id);
  return it != sessions_.end() && it->second.who.name == username ? &it->second : nullptr;
}

Session& SessionTable::put(const std::string& client_id, Session s) {
  if (s.who.role == Role::Customer) dirty_ = true;
  return sessions_[client_id] = std::move(s);
}

void SessionTable::disconnected(const std::string& client_id, const void* connection) {
  const auto it = sessions_.find(client_id);
  // Only this connection's own end: a refused login with the same id changes nothing.
  if (it != sessions_.end() && it->second.connection == connection) {
    it->second.connection = nullptr;
  }
}

void SessionTable::purge(std::int64_t now_s) {
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    const auto& s = it->second;
    const bool expired = s.who.role == Role::Customer && now_s >= s.who.exp;
    const bool revoked = s.revoked && now_s >= s.revoked_at + 60;
    if (s.connection == nullptr && (expired || revoked)) {
      if (s.who.role == Role::Customer) dirty_ = true;
      it = sessions_.erase(it);
    } else {
      ++it;
    }
  }
}

std::vector<std::string> SessionTable::revoke_if(const std::function<bool(const Session&)>& gone,
                                                 std::int64_t now_s) {
  std::vector<std::string> connected;
  for (auto& [id, s] : sessions_) {
    if (s.revoked || !gone(s)) continue;
    s.revoked = true;
    s.revoked_at = now_s;
    if (s.who.role == Role::Customer) dirty_ = true;
    if (s.connection != nullptr) connected.push_back(id);
  }
  return connected;
}

bool SessionTable::save(const std::string& path, std::string& error) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (const auto& [id, s] : sessions_) {
      if (s.who.role == Role::Customer && !s.revoked) {
        out << id << ' ' << s.who.name << ' ' << s.who.exp << '\n';
      }
    }
    out.flush();
    if (!out) {
      error = "cannot write " + tmp;
      return false;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    error = "cannot rename " + tmp + " to " + path;
    return false;
  }
  dirty_ = false;
  return true;
}

std::size_t SessionTable::load(const std::string& path, std::int64_t now_s, int max_app_sessions) {
  std::ifstream in(path);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string id, uid;
    std::int64_t exp = 0;
    if (!(fields >> id >> uid >> exp) || exp <= now_s || !tb::is_valid_id(uid)) continue;
    Session s;
    s.who = Identity{Role::Customer, uid, exp};
    if (!client_id_allowed(s.who, id, max_app_sessions)) continue;
    sessions_[id] = std::move(s);
    ++n;
  }
  return n;
}

}  // namespace tbauth
