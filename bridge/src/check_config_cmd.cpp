// `ticket-bridge check-config`: reads the settings as `serve` would, and reaches what they name
// (the secret files, the database, the broker), naming every problem on a line of its own.
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "commands.hpp"
#include "mqtt_probe.hpp"
#include "pg.hpp"
#include "secrets.hpp"
#include "serve_options.hpp"
#include "sqlite.hpp"

namespace tb {

namespace fs = std::filesystem;

namespace {

// A secret file: read, or (at a default path) made by the first `serve`.
std::optional<std::string> check_secret(const Settings& s, const std::string& name,
                                        const char* what, Problems& problems,
                                        std::vector<std::string>& notes) {
  const auto path = s.get_opt(name);
  if (!path) return std::nullopt;
  if (s.source(name) == "default" && !fs::exists(*path)) {
    notes.push_back(std::string("the ") + what + " is made at " + fs::absolute(*path).string() +
                    " by the first `serve`");
    return std::nullopt;
  }
  std::optional<std::string> secret;
  problems.check([&] { secret = load_secret(*path, false, what); });
  return secret;
}

// The nearest directory of `path` that exists must be writable, for `serve` to create the rest.
void check_creatable(const fs::path& path, const char* what, Problems& problems) {
  fs::path dir = fs::absolute(path).parent_path();
  std::error_code ec;
  while (!dir.empty() && !fs::exists(dir, ec) && dir != dir.root_path()) dir = dir.parent_path();
  if (::access(dir.c_str(), W_OK) != 0) {
    problems.add(std::string("cannot create the ") + what + " " + path.string() + ": " +
                 dir.string() + " is not writable (for this user)");
  }
}

// PostgreSQL: it answers with the password the settings give, and holds the schema (or gets it
// from the first `serve`, which needs the right to create tables).
void check_postgresql(const Settings& s, Problems& problems, std::vector<std::string>& notes) {
  const std::string url = s.get("db");
  if (pg::has_password(url)) {
    problems.add("--db: no password in the URL; put it in --db-password-file or a passfile");
    return;
  }
  problems.check([&] {
    try {
      pg::Conn c(url, db_password(s));
      const auto tables = c.exec("SELECT to_regclass('tb_schema') IS NOT NULL");
      if (tables.text(0, 0) != "t") {
        notes.push_back("database " + url + ": empty, set up by the first `serve`");
        return;
      }
      const auto count = c.exec("SELECT count(*) FROM tickets");
      notes.push_back("database " + url + ": " + count.text(0, 0) + " tickets");
    } catch (const DbError& e) {
      throw std::runtime_error("database " + url + ": " + e.what());
    }
  });
}

void check_database(const Settings& s, Problems& problems, std::vector<std::string>& notes) {
  const std::string path = s.get("db");
  if (pg::is_url(path)) return check_postgresql(s, problems, notes);
  if (!fs::exists(path)) {
    check_creatable(path, "database", problems);
    notes.push_back("the database is made at " + fs::absolute(path).string() +
                    " by the first `serve`");
    return;
  }
  problems.check([&] {
    try {
      sql::Db db(path, false);
      sqlite3_busy_timeout(db.handle(), 5000);
      auto version = db.prepare("PRAGMA user_version");
      version.step();
      if (version.int64(0) == 0) {
        notes.push_back("database " + path + ": empty, set up by the first `serve`");
        return;
      }
      auto count = db.prepare("SELECT count(*) FROM tickets");
      count.step();
      notes.push_back("database " + path + ": " + std::to_string(count.int64(0)) + " tickets");
    } catch (const sql::Error& e) {
      throw std::runtime_error("database " + path + ": " + e.what());
    }
  });
  if (::access(path.c_str(), R_OK | W_OK) != 0) {
    problems.add("database " + path + ": not readable and writable (for this user)");
  }
}

}  // namespace

int cmd_check_config(const Settings& s, const std::vector<std::string>& settings_problems,
                     bool reach_broker) {
  Problems problems;
  for (const auto& line : settings_problems) problems.add(line);
  std::vector<std::string> notes;
  notes.push_back(s.config_path().empty()
                      ? std::string("no config file (defaults, environment "
                                    "and command line only)")
                      : "config file " + s.config_path() + " (" + s.config_origin() + ")");
  problems.check([&] { apply_log_settings(s); });
  ServeConfig config = read_serve_config(s, problems);
  check_secret(s, "jwt-secret-file", "JWT secret", problems, notes);
  check_secret(s, "api-key-file", "API key", problems, notes);
  const auto password = check_secret(s, "mqtt-password-file", "MQTT password", problems, notes);
  if (config.mqtt.username && !s.get_opt("mqtt-password-file")) {
    problems.add("--mqtt-username is set but no --mqtt-password-file");
  }
  check_database(s, problems, notes);
  problems.check([&] {
    if (signing_key(s)) {
      notes.push_back("signing key " + signing_key_file(s) + ": new tickets get signed codes");
    }
  });

  if (reach_broker && problems.empty()) {
    // A client id of the bridge's role that no bridge uses, and a clean session: a running bridge
    // keeps its connection and its queued scans.
    MqttSessionOptions probe;
    probe.uri = config.mqtt.uri;
    probe.client_id = "ticket-bridge-check-config-" + std::to_string(::getpid());
    probe.username = config.mqtt.username;
    probe.password = password;
    probe.tls = config.mqtt.tls;
    if (auto why = probe_broker(probe)) {
      problems.add(*why);
    } else {
      notes.push_back("broker " + probe.uri + ": connected" +
                      (probe.username ? " as " + *probe.username : std::string()));
    }
  } else if (reach_broker) {
    notes.push_back("broker not tried (fix the problems first)");
  }

  for (const auto& n : notes) std::cout << "  " << n << "\n";
  for (const auto& line : problems.lines())
    std::cerr << "ticket-bridge check-config: " << line << "\n";
  if (!problems.empty()) {
    std::cerr << "ticket-bridge check-config: " << problems.lines().size()
              << (problems.lines().size() == 1 ? " problem\n" : " problems\n");
    return 1;
  }
  std::cout << "config OK\n";
  return 0;
}

}  // namespace tb
