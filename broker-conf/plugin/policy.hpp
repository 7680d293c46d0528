// Who may do what on the broker: the roles of ticket-bridge's MQTT clients and their access, as
// pure functions (the Mosquitto plugin in plugin.cpp is only glue around them).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace tbauth {

enum class Role { Scanner, Bridge, Customer };

struct Identity {
  Role role = Role::Scanner;
  std::string name;      // scanner id, bridge user, or the customer's uid
  std::int64_t exp = 0;  // customers: when their token expires (seconds since the epoch)
};

// Mosquitto's access bits.
inline constexpr int kRead = 0x01, kWrite = 0x02, kSubscribe = 0x04, kUnsubscribe = 0x08;

//   scanner S: write tickets/scan and scanners/S/status; subscribe to and read tickets/result/S
//   bridge:    subscribe to and read tickets/scan (also as $share/<group>/tickets/scan) and
//              users/+/events; write tickets/result/<anything>, users/<uid>/events, bridge/...
//   customer U: subscribe to and read users/U/events only (while the token is valid); no writes
bool allowed(const Identity& who, int access, std::string_view topic, std::int64_t now_s);

// A password file in mosquitto_passwd's format ("user:$7$iterations$salt$hash" or "$6$").
class PasswordFile {
 public:
  // Nothing when the file cannot be read.
  static std::optional<PasswordFile> load(const std::string& path, std::string& error);
  bool contains(std::string_view user) const;
  bool check(std::string_view user, std::string_view password) const;

 private:
  std::unordered_map<std::string, std::string> hashes_;
};

bool verify_mosquitto_hash(std::string_view encoded, std::string_view password);

}  // namespace tbauth
