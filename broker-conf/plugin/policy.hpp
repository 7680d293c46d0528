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

//   scanner S: write tickets/scan, tickets/scan/S (an embedded scanner's plain-text scans) and
//              scanners/S/status; subscribe to and read tickets/result/S and below it
//              (tickets/result/S/text, .../light, ...)
//   bridge:    subscribe to and read tickets/scan and tickets/scan/+ (also as
//              $share/<group>/...), scanners/+/status and users/+/events; write
//              tickets/result/<anything>, users/<uid>/events, bridge/...
//   customer U: subscribe to and read users/U/events only (while the token is valid); no writes
bool allowed(const Identity& who, int access, std::string_view topic, std::int64_t now_s);

// How many persistent sessions (client ids app-<uid>-0 ... app-<uid>-<N-1>) one ticket holder
// may have, unless plugin_opt_max_app_sessions says otherwise.
inline constexpr int kDefaultAppSessions = 8;

// The client id each identity must use (SPEC.md v1.1): the bridge `ticket-bridge-<instance>`, a
// scanner `scanner-<its user name>`, a customer's app `app-<uid>-<n>` with n from 0 to
// max_app_sessions - 1 in plain decimal. The three prefixes are disjoint and the whole id is
// matched, so no identity can ever use an id that belongs to another.
bool client_id_allowed(const Identity& who, std::string_view client_id, int max_app_sessions);

// Why a PUBLISH on tickets/scan or tickets/scan/<scanner> is refused, or nothing: a retained scan
// (it would be decided again at every subscribe), or, on tickets/scan, a scan whose `scanner` is
// not the publisher. The payload is read with the bridge's own parser; what it cannot read at all
// passes, for the bridge to answer as malformed. On tickets/scan/<scanner> the topic names the
// scanner (allowed() proved it is the publisher's own) and the payload's `scanner` is ignored.
std::optional<std::string> scan_refusal(const Identity& who, std::string_view topic,
                                        std::string_view payload, bool retain);
// tickets/scan, or tickets/scan/<one level>.
bool is_scan_topic(std::string_view topic);

// A password file in mosquitto_passwd's format ("user:$7$iterations$salt$hash" or "$6$").
class PasswordFile {
 public:
  // Nothing when the file cannot be read.
  static std::optional<PasswordFile> load(const std::string& path, std::string& error);
  bool contains(std::string_view user) const;
  bool empty() const { return hashes_.empty(); }
  bool check(std::string_view user, std::string_view password) const;
  // The stored hash of `user` (empty when absent): a changed hash means a changed password.
  std::string hash_of(std::string_view user) const;

 private:
  std::unordered_map<std::string, std::string> hashes_;
};

bool verify_mosquitto_hash(std::string_view encoded, std::string_view password);

}  // namespace tbauth
