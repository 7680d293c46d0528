// Reading the plugin's options.
#include "config.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <fstream>
#include <sstream>

namespace tbauth {

namespace {

std::string trimmed_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string s = ss.str();
  const auto a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return {};
  return s.substr(a, s.find_last_not_of(" \t\r\n") - a + 1);
}

// False only when nothing at all is at `path` (a file that is there but unreadable is an error
// for its reader to report).
bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 || errno != ENOENT;
}

}  // namespace

std::optional<Config> load_config(const Options& options, std::string& error) {
  Config c;
  for (const auto& [key, value] : options) {
    if ((key == "password_file" || key == "jwt_secret_file") && !exists(value)) {
      c.missing_files.push_back(value);
    } else if (key == "password_file") {
      c.passwords = PasswordFile::load(value, error);
      if (!c.passwords) return std::nullopt;
      if (c.passwords->empty()) {
        error = "the password file " + value + " holds no users";
        return std::nullopt;
      }
    } else if (key == "jwt_secret_file") {
      c.jwt_secret = trimmed_file(value);
      if (c.jwt_secret.empty()) {
        error = "cannot read the JWT secret in " + value;
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
        std::size_t used = 0;
        c.max_app_sessions = std::stoi(value, &used);
        if (used != value.size()) c.max_app_sessions = -1;  // "8x" is not 8
      } catch (const std::exception&) {
        c.max_app_sessions = -1;
      }
      if (c.max_app_sessions < 1 || c.max_app_sessions > 1000) {
        error = "plugin_opt_max_app_sessions must be 1 to 1000, not " + value;
        return std::nullopt;
      }
    } else if (key == "sessions_file") {
      c.sessions_file = value;
    } else {
      error = "unknown option plugin_opt_" + key;
      return std::nullopt;
    }
  }
  return c;
}

}  // namespace tbauth
