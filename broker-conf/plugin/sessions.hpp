// Who is behind each MQTT client id, kept beyond the connection: Mosquitto checks READ access when
// it queues a message for an OFFLINE persistent session, and tells a plugin nothing when such a
// session ends. An entry is replaced at the next login with that id, and a customer's is dropped
// once its token expired (and it is offline). Customers' entries are saved to a file, so that a
// broker restart, which restores the persistent sessions, does not forget who they belong to.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "policy.hpp"

namespace tbauth {

struct Session {
  Identity who;
  std::string password_hash;         // scanners and the bridge: the hash their login matched
  const void* connection = nullptr;  // the broker's client while connected, else null
  bool kicked = false;               // sent away once already (token expired)
  bool revoked = false;              // its user was removed, or its password or secret changed
  std::int64_t revoked_at = 0;
};

class SessionTable {
 public:
  // The entry of `client_id` when it belongs to `username`, else null.
  Session* find(const std::string& client_id, std::string_view username);
  Session& put(const std::string& client_id, Session s);
  // `connection` went away: the entry stays, offline.
  void disconnected(const std::string& client_id, const void* connection);
  // Drops offline customers whose token expired, and revoked entries offline for a minute.
  void purge(std::int64_t now_s);
  // Marks every entry for which `gone` holds as revoked; returns the client ids that are
  // connected (to be sent away).
  std::vector<std::string> revoke_if(const std::function<bool(const Session&)>& gone,
                                     std::int64_t now_s);
  std::size_t size() const { return sessions_.size(); }

  // Customers' entries, one "client-id uid exp" line each, written to a temp file and renamed.
  bool save(const std::string& path, std::string& error);
  // Reads what save() wrote, skipping expired and malformed lines and client ids beyond
  // `max_app_sessions`; returns how many were read.
  std::size_t load(const std::string& path, std::int64_t now_s, int max_app_sessions);
  bool dirty() const { return dirty_; }

 private:
  std::unordered_map<std::string, Session> sessions_;
  bool dirty_ = false;  // customers changed since the last save
};

}  // namespace tbauth
