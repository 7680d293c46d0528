// The subcommands of `ticket-bridge`. Each returns the process exit code; a UsageError thrown
// from one means exit code 2, any other exception exit code 1.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rotating_code.hpp"
#include "settings.hpp"
#include "signed_code.hpp"
#include "store.hpp"
#include "ticket_input.hpp"

namespace tb {

// Defaults that make every command work out of the box in the current directory.
inline const std::string kDefaultDb = "var/ticket-bridge.db";
inline const std::string kDefaultJwtSecretFile = "var/jwt-secret";
inline const std::string kDefaultApiKeyFile = "var/api-key";

// Registers the settings every command shares (--db, --jwt-secret-file, --log-level,
// --log-format).
void add_common_settings(Settings& s);
// Applies --log-level and --log-format; a UsageError names a bad value.
void apply_log_settings(const Settings& s);
// Whether a missing database or secret may be created where the settings point: `serve` creates
// them at the default paths on first start; other commands create only what is named explicitly
// (--db, --jwt-secret-file, env or config file) and refuse a missing default, so that run from
// another directory they never start a second, empty venue.
enum class Create { Always, OnlyNamed };
std::unique_ptr<Store> open_store(const Settings& s, Create create);
// PostgreSQL: the password of --db-password-file, or nothing (libpq's own passfile then).
std::optional<std::string> db_password(const Settings& s);
std::string jwt_secret(const Settings& s, Create create);
// Signed ticket codes (keys_cmd.cpp): --signing-key-file, else signing-key.pem beside the JWT
// secret; its public key beside it as *.pub.pem. The key, or null when none is configured (the
// default file is missing); a named file that is missing or unreadable throws.
std::string signing_key_file(const Settings& s);
std::string public_key_file(const std::string& private_key_file);
std::shared_ptr<const SigningKey> signing_key(const Settings& s);
// The venue's rotating key (rotating_code.hpp), `rotating-key` beside the signing key, which
// `keys init` writes with it. Null when the file is missing; unreadable: throws.
std::string rotating_key_file(const Settings& s);
std::shared_ptr<const RotatingKey> rotating_key(const Settings& s);
int cmd_keys_init(const Settings& s, bool force);

// The plain ticket code a command line names: itself, or the code inside a signed one (SPEC.md
// v1.1). A damaged signed code: UsageError.
std::string named_ticket_code(const std::string& text);

int cmd_serve(const Settings& s);
int cmd_tickets_add(const Settings& s, const TicketFields& fields);
int cmd_tickets_import(const Settings& s, const std::string& file, bool skip_errors);
int cmd_tickets_revoke(const Settings& s, const std::string& code);
int cmd_tickets_show(const Settings& s, const std::string& code);
// The scanner table (store.hpp's ScannerConfig).
int cmd_scanners_set(const Settings& s, const std::string& id, const std::string& gate,
                     const std::string& direction);
int cmd_scanners_list(const Settings& s);
int cmd_scanners_remove(const Settings& s, const std::string& id);
// A consistent copy of the database in `file`, while `serve` runs; an existing file is replaced
// only with `force`.
int cmd_backup(const Settings& s, const std::string& file, bool force);
int cmd_import_sqlite(const Settings& s, const std::string& file);
// `code` empty: a token for the whole uid, `ttl` long. Else scoped to that ticket of the uid,
// until its valid-until (or `ttl`, when `ttl_given` and shorter).
// `ticket-bridge init`: see init_cmd.cpp. Empty fields take the defaults.
struct InitOptions {
  std::string dir;          // config and secrets: /etc/ticket-bridge
  std::string state_dir;    // the database: /var/lib/ticket-bridge (with --dir: DIR/state)
  std::string broker_dir;   // the plugin's files: /etc/mosquitto/ticket-bridge (DIR/broker)
  std::string user;         // owns the secrets and the state (root only): ticket-bridge
  std::string broker_user;  // owns the broker's files (root only): mosquitto
  std::string mqtt = "mqtt://127.0.0.1:1883";
  std::string bridge_user = "bridge";  // the bridge's MQTT user name
  bool force = false;
  bool print_config = false;  // print the config it would write, and write nothing
};
int cmd_init(const InitOptions& options, const std::vector<Settings::Described>& serve_options);
// `settings_problems`: what Settings::resolve_all() found. Exit code 1 when anything is wrong.
int cmd_check_config(const Settings& s, const std::vector<std::string>& settings_problems,
                     bool reach_broker);
// `as_operator`: a token with the operator role (jwt.hpp), for the operator page.
int cmd_token(const Settings& s, const std::string& uid, const std::string& ttl, bool ttl_given,
              const std::string& code, bool as_operator = false);

}  // namespace tb
