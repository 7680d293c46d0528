// `ticket-bridge init`: sets up a host in one step. It writes the bridge's config (every option
// of `serve`, commented, with its default), the JWT secret, the API key and the bridge's MQTT
// password, and the broker's side: the bridge's entry in the plugin's password file and the copy
// of the JWT secret the plugin checks customers' tokens with.
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "ids.hpp"
#include "secrets.hpp"

namespace tb {

namespace fs = std::filesystem;

namespace {

// Who a file or directory is given to. Only root can give files away; otherwise they stay the
// invoking user's.
struct Owner {
  std::string name;
  bool set = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

Owner owner_for(const std::string& name, bool explicitly) {
  Owner o;
  o.name = name;
  if (::geteuid() != 0) {
    if (explicitly) throw UsageError("--user and --broker-user need root (files are given away)");
    return o;
  }
  const passwd* pw = ::getpwnam(name.c_str());
  if (pw == nullptr) {
    if (explicitly) throw UsageError("there is no user " + name);
    return o;  // not installed from the package: the files stay root's (reported below)
  }
  o.set = true;
  o.uid = pw->pw_uid;
  o.gid = pw->pw_gid;
  return o;
}

void give(const fs::path& path, const Owner& owner) {
  if (owner.set && ::chown(path.c_str(), owner.uid, owner.gid) != 0) {
    throw std::runtime_error("cannot give " + path.string() + " to " + owner.name + ": " +
                             std::strerror(errno));
  }
}

void make_dir(const fs::path& dir, mode_t mode, const Owner& owner) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create " + dir.string() + ": " + ec.message());
  if (::chmod(dir.c_str(), mode) != 0) {
    throw std::runtime_error("cannot chmod " + dir.string() + ": " + std::strerror(errno));
  }
  give(dir, owner);
}

void write_file(const fs::path& path, const std::string& text, mode_t mode, const Owner& owner) {
  replace_file(
      path.string(), text, mode,
      owner.set ? std::optional<FileOwner>(FileOwner{owner.uid, owner.gid}) : std::nullopt);
}

std::string toml_value(const std::string& v) {
  if (v == "true" || v == "false") return v;
  if (!v.empty() && v.size() < 19 && v.find_first_not_of("0123456789") == std::string::npos &&
      (v == "0" || v[0] != '0')) {
    return v;
  }
  std::string out = "\"";
  for (const char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// `text` as comment lines of at most 100 columns.
std::string comment(const std::string& text) {
  std::string out, line = "#";
  std::istringstream words(text);
  std::string w;
  while (words >> w) {
    if (line.size() + 1 + w.size() > 100 && line != "#") {
      out += line + "\n";
      line = "#";
    }
    line += " " + w;
  }
  return out + line + "\n";
}

std::string config_text(const std::vector<Settings::Described>& options,
                        const std::map<std::string, std::string>& set) {
  std::string out =
      "# ticket-bridge's settings, written by `ticket-bridge init`.\n"
      "#\n"
      "# Every command reads this file: `serve` (the service) and what the operator types\n"
      "# (`tickets ...`, `scanners ...`, `token ...`, `backup ...`), so that they all use the "
      "same\n"
      "# database and secret. /etc/ticket-bridge/config.toml is read by itself; another file is\n"
      "# named with --config FILE or TICKET_BRIDGE_CONFIG=FILE (TICKET_BRIDGE_CONFIG= reads "
      "none).\n"
      "# Keys are the long options of `ticket-bridge serve --help` with '-' written as '_'. A\n"
      "# command-line option or an environment variable TICKET_BRIDGE_<KEY> overrides a key.\n"
      "# After a change run `ticket-bridge check-config`, then restart the service (SIGHUP\n"
      "# reloads api_key_file and log_level only).\n"
      "#\n"
      "# The options init set come first; after them every other option, commented out, with its\n"
      "# default.\n";
  std::string rest;
  for (const auto& o : options) {
    std::string key = o.name;
    for (auto& c : key) {
      if (c == '-') c = '_';
    }
    const auto it = set.find(o.name);
    std::string help = o.help;
    if (it != set.end()) {
      if (!o.default_value.empty()) help += " (default: " + o.default_value + ")";
      out += "\n" + comment(help) + key + " = " + toml_value(it->second) + "\n";
    } else {
      rest += "\n" + comment(help) + "# " + key + " = " + toml_value(o.default_value) + "\n";
    }
  }
  return out + rest;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The password file's lines without `user`'s entry; whether it had one.
std::pair<std::string, bool> passwd_without(const fs::path& file, const std::string& user) {
  std::istringstream in(read_text(file));
  std::string kept, line;
  bool had = false;
  while (std::getline(in, line)) {
    if (line.rfind(user + ":", 0) == 0) {
      had = true;
      continue;
    }
    if (!line.empty()) kept += line + "\n";
  }
  return {kept, had};
}

}  // namespace

int cmd_init(const InitOptions& o, const std::vector<Settings::Described>& serve_options) {
  if (!is_valid_id(o.bridge_user) || o.bridge_user.find(':') != std::string::npos) {
    throw UsageError("--bridge-user must be a user name without / + # : or spaces");
  }
  const bool own_dir = !o.dir.empty();
  const fs::path dir = fs::absolute(own_dir ? o.dir : "/etc/ticket-bridge");
  const fs::path state = fs::absolute(!o.state_dir.empty() ? o.state_dir
                                      : own_dir            ? (dir / "state").string()
                                                           : "/var/lib/ticket-bridge");
  const fs::path broker = fs::absolute(!o.broker_dir.empty() ? o.broker_dir
                                       : own_dir             ? (dir / "broker").string()
                                                             : "/etc/mosquitto/ticket-bridge");
  const Owner service = owner_for(o.user.empty() ? "ticket-bridge" : o.user, !o.user.empty());
  const Owner broker_owner =
      owner_for(o.broker_user.empty() ? "mosquitto" : o.broker_user, !o.broker_user.empty());
  const Owner root;  // the config and its directory: the invoking user's

  const fs::path config = dir / "config.toml", jwt = dir / "jwt-secret", api_key = dir / "api-key",
                 mqtt_password = dir / "mqtt-password", broker_jwt = broker / "jwt-secret",
                 passwd = broker / "passwd";
  const std::map<std::string, std::string> set = {
      {"db", (state / "ticket-bridge.db").string()},
      {"jwt-secret-file", jwt.string()},
      {"api-key-file", api_key.string()},
      {"mqtt", o.mqtt},
      {"mqtt-username", o.bridge_user},
      {"mqtt-password-file", mqtt_password.string()},
  };
  const std::string config_toml = config_text(serve_options, set);
  if (o.print_config) {
    std::cout << config_toml;
    return 0;
  }
  // Nothing is replaced without --force: a new secret makes every token handed out so far
  // invalid, and a new password locks the running bridge out. A config that says exactly what
  // init would write (the one the Debian package installs) is no conflict and stays as it is.
  const bool config_same = fs::exists(config) && read_text(config) == config_toml;
  std::vector<std::string> existing;
  if (fs::exists(config) && !config_same) {
    existing.push_back(config.string() + " (not what init would write)");
  }
  for (const auto& f : {jwt, api_key, mqtt_password, broker_jwt}) {
    if (fs::exists(f)) existing.push_back(f.string());
  }
  auto [passwd_kept, passwd_had_bridge] = passwd_without(passwd, o.bridge_user);
  if (passwd_had_bridge)
    existing.push_back(passwd.string() + " (its entry for " + o.bridge_user + ")");
  if (!existing.empty() && !o.force) {
    for (const auto& f : existing) std::cerr << "ticket-bridge init: " << f << " exists\n";
    std::cerr << "ticket-bridge init: nothing written. --force replaces them: new secrets, so "
                 "every token handed out so far stops working\n";
    return 1;
  }

  make_dir(dir, 0755, root);
  make_dir(state, 0750, service);
  make_dir(broker, 0750, broker_owner);
  const std::string secret = random_hex(32) + "\n";
  const std::string password = random_hex(16);
  write_file(jwt, secret, 0600, service);
  write_file(api_key, random_hex(32) + "\n", 0600, service);
  write_file(mqtt_password, password + "\n", 0600, service);
  write_file(broker_jwt, secret, 0600, broker_owner);
  write_file(passwd, passwd_kept + o.bridge_user + ":" + mosquitto_password_hash(password) + "\n",
             0600, broker_owner);
  if (!config_same) write_file(config, config_toml, 0644, root);

  const bool system_config = config.string() == kSystemConfig;
  const std::string tb =
      system_config ? "ticket-bridge" : "ticket-bridge --config " + config.string();
  std::cout << "ticket-bridge init: wrote\n"
            << "  " << config.string()
            << (config_same ? "  the bridge's settings (kept: already what init writes)\n"
                            : "  the bridge's settings, every option shown\n")
            << "  " << jwt.string() << ", " << api_key.string() << ", " << mqtt_password.string()
            << "  its secrets (0600" << (service.set ? ", " + service.name + "'s" : std::string())
            << ")\n"
            << "  " << state.string() << "/  its state (0750"
            << (service.set ? ", " + service.name + "'s" : std::string()) << ")\n"
            << "  " << passwd.string() << "  the broker's entry for user " << o.bridge_user
            << (passwd_kept.empty() ? "" : " (other entries kept)") << "\n"
            << "  " << broker_jwt.string() << "  the secret the broker checks app tokens with\n";
  if (!service.set || !broker_owner.set) {
    std::cout << "  (no user " << (service.set ? broker_owner.name : service.name)
              << " here: those files are yours; give them to the users the services run as)\n";
  }
  std::cout
      << "\nNext steps:\n"
      << "  1. Check it:            " << tb << " check-config\n"
      << "  2. Each scanner: its gate, then its broker password (prints nothing: you type it)\n"
      << "       " << tb << " scanners set gate-n-1 --gate north\n"
      << "       mosquitto_passwd " << passwd.string() << " gate-n-1\n"
      << "  3. TLS for scanners and apps: ca.crt, server.crt and server.key in " << broker.string()
      << "/\n"
      << "  4. Start the services:  systemctl restart mosquitto && systemctl enable --now "
         "ticket-bridge\n"
      << "  5. Phones need HTTPS: nginx in front, with the site in\n"
      << "       /usr/share/ticket-bridge/nginx/ and trusted_proxy set\n"
      << "       (docs/operations.md, \"HTTPS for phones\")\n"
      << "  6. A ticket:            " << tb << " tickets add --uid 42 --holder \"A. Example\"\n";
  return 0;
}

}  // namespace tb
