// The plugin's settings, from its plugin_opt_ lines: read at start and again at every reload.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "policy.hpp"

namespace tbauth {

using Options =
    std::vector<std::pair<std::string, std::string>>;  // key (without plugin_opt_), value

struct Config {
  std::optional<PasswordFile> passwords;  // plugin_opt_password_file
  std::string jwt_secret;                 // the contents of plugin_opt_jwt_secret_file
  std::set<std::string> bridge_users{"bridge"};
  int max_app_sessions = kDefaultAppSessions;
  std::string sessions_file;  // where customers' identities are kept across restarts (optional)
  // The password file and JWT secret named but not there (yet): a broker installed before
  // `ticket-bridge init` ran. Until a reload finds them, every login they would allow is refused.
  std::vector<std::string> missing_files;

  Role password_role(const std::string& user) const {
    return bridge_users.count(user) != 0 ? Role::Bridge : Role::Scanner;
  }
};

// Nothing, and `error` set, when an option is unknown or wrong or a file cannot be read. A file
// that does not exist at all is no error (see missing_files); an empty or unreadable one is.
std::optional<Config> load_config(const Options& options, std::string& error);

}  // namespace tbauth
