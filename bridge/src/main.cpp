// ticket-bridge: command-line entry point. Parses the command line and hands over to commands.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "commands.hpp"
#include "logging.hpp"
#include "serve_options.hpp"
#include "version.hpp"

namespace {

struct TicketsAddArgs {
  tb::TicketFields fields;
  bool reentry = false, rotating = false, no_rotating = false;
  std::string max_entries, uid, code, holder, valid_from, valid_until, gates;
};

std::optional<std::string> given(const std::string& s) {
  if (s.empty()) return std::nullopt;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  // Logs go to stderr: stdout carries command output (a token, a ticket as JSON).
  spdlog::set_default_logger(spdlog::stderr_color_mt("ticket-bridge"));
  tb::logging::set_format(tb::logging::Format::Text);

  CLI::App app{"ticket-bridge: decides gate admissions from MQTT scans and tells ticket owners."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("ticket-bridge ") + tb::kVersion,
                       "print the version and exit");
  app.footer("Every option also reads from TICKET_BRIDGE_<OPTION> and from the --config file.");

  // serve
  auto* serve = app.add_subcommand("serve", "Run the bridge: MQTT in, admission, HTTP out");
  tb::Settings serve_settings(*serve);
  tb::add_serve_settings(serve_settings);

  // tickets
  auto* tickets = app.add_subcommand("tickets", "Manage tickets in the database");
  tickets->require_subcommand(1);

  auto* add = tickets->add_subcommand("add", "Add one ticket; prints it as JSON");
  tb::Settings add_settings(*add);
  tb::add_common_settings(add_settings);
  TicketsAddArgs add_args;
  add->add_option("--uid", add_args.uid, "owner's user id")->required();
  add->add_option("--code", add_args.code, "ticket code (random when omitted)");
  add->add_option("--holder", add_args.holder, "holder's name, shown at the gate");
  add->add_option("--max-entries", add_args.max_entries, "entries allowed, 0 = no limit")
      ->default_str("1");
  add->add_flag("--reentry", add_args.reentry, "may come back in after an out scan");
  auto* rotating = add->add_flag("--rotating", add_args.rotating,
                                 "needs a rotating code at the gate (the live ticket page, not a "
                                 "screenshot); default: the rotating-codes setting");
  add->add_flag("--no-rotating", add_args.no_rotating,
                "needs no rotating code, whatever the rotating-codes setting says")
      ->excludes(rotating);
  add->add_option("--valid-from", add_args.valid_from, "RFC 3339 time, inclusive");
  add->add_option("--valid-until", add_args.valid_until, "RFC 3339 time, exclusive");
  add->add_option("--gates", add_args.gates, "allowed gates, separated by ';' (default: all)");

  auto* import =
      tickets->add_subcommand("import", "Import tickets from a CSV file, all or nothing");
  tb::Settings import_settings(*import);
  tb::add_common_settings(import_settings);
  std::string import_file;
  bool skip_errors = false;
  import
      ->add_option("FILE", import_file,
                   "CSV with a header: code,uid,holder,max_entries,reentry,valid_from,"
                   "valid_until,gates,rotating (uid required; gates separated by ';')")
      ->required();
  import->add_flag("--skip-errors", skip_errors, "import the good rows even when some are bad");

  auto* revoke = tickets->add_subcommand("revoke", "Revoke a ticket: its scans are rejected");
  tb::Settings revoke_settings(*revoke);
  tb::add_common_settings(revoke_settings);
  std::string revoke_code;
  revoke->add_option("CODE", revoke_code, "ticket code")->required();

  auto* show = tickets->add_subcommand("show", "Show a ticket, its usage and its last scans");
  tb::Settings show_settings(*show);
  tb::add_common_settings(show_settings);
  std::string show_code;
  show->add_option("CODE", show_code, "ticket code")->required();

  // scanners
  auto* scanners = app.add_subcommand(
      "scanners", "Manage the scanner table: the gate and direction of each scanner");
  scanners->require_subcommand(1);
  auto* scanner_set = scanners->add_subcommand(
      "set", "Add or change a scanner: its scans are decided at this gate; prints it as JSON");
  tb::Settings scanner_set_settings(*scanner_set);
  tb::add_common_settings(scanner_set_settings);
  std::string scanner_id, scanner_gate, scanner_direction = "in";
  scanner_set->add_option("ID", scanner_id, "scanner id (as in tickets/scan/<id>)")->required();
  scanner_set->add_option("--gate", scanner_gate, "the gate it stands at")->required();
  scanner_set
      ->add_option("--direction", scanner_direction,
                   "in or out: its scans' direction when they name none")
      ->default_str("in");
  auto* scanner_list =
      scanners->add_subcommand("list", "Print the scanner table as a JSON array, by id");
  tb::Settings scanner_list_settings(*scanner_list);
  tb::add_common_settings(scanner_list_settings);
  auto* scanner_remove = scanners->add_subcommand(
      "remove", "Remove a scanner: its scans then name their own gate (raw scans: none)");
  tb::Settings scanner_remove_settings(*scanner_remove);
  tb::add_common_settings(scanner_remove_settings);
  scanner_remove->add_option("ID", scanner_id, "scanner id")->required();

  // token
  auto* token = app.add_subcommand("token", "Print a JWT for a uid, signed with the secret");
  tb::Settings token_settings(*token);
  tb::add_common_settings(token_settings);
  std::string token_uid;
  std::string token_ttl = "1h";
  token->add_option("--uid", token_uid,
                    "the uid the token is for (with --operator: the operator's name, for the "
                    "logs; default 'operator')");
  std::string token_code;
  bool token_operator = false;
  auto* ttl_opt = token->add_option("--ttl", token_ttl,
                                    "lifetime: 3600, 90s, 15m, 1h, 2d (default 1h; 8h with "
                                    "--operator)");
  token->add_flag("--operator", token_operator,
                  "an operator's token (the operator page, GET /api/v1/stats and "
                  "GET /api/v1/tickets/CODE, read-only), refused on /ws and by the broker");
  token->add_option("--code", token_code,
                    "scope the token to this ticket of the uid (a ticket page's link); it then "
                    "lives until the ticket's valid-until unless --ttl is shorter");

  // keys
  auto* keys = app.add_subcommand("keys", "Signing keys for signed ticket codes");
  keys->require_subcommand(1);
  auto* keys_init = keys->add_subcommand(
      "init",
      "Make the Ed25519 key that new tickets' codes are signed with (0600, beside the JWT "
      "secret); prints the path of its public key, for the gates");
  tb::Settings keys_init_settings(*keys_init);
  tb::add_common_settings(keys_init_settings);
  bool keys_force = false;
  keys_init->add_flag("--force", keys_force,
                      "replace an existing key (its public key is kept, named by its key id: "
                      "tickets signed with it keep working)");

  // backup
  auto* backup = app.add_subcommand(
      "backup",
      "Copy the database, consistently, while the bridge serves (restore: stop the "
      "bridge, put the copy in the database's place)");
  tb::Settings backup_settings(*backup);
  tb::add_common_settings(backup_settings);
  std::string backup_file;
  bool backup_force = false;
  backup->add_option("FILE", backup_file, "where the copy goes (mode 0600; not the database)")
      ->required();
  backup->add_flag("--force", backup_force, "replace FILE when it exists");

  // import-sqlite
  auto* import_sqlite = app.add_subcommand(
      "import-sqlite",
      "Copy a SQLite database (tickets, scans, events, scanners) into the empty PostgreSQL "
      "store of --db, all or nothing: a venue moving to PostgreSQL. Stop its bridge first");
  tb::Settings import_sqlite_settings(*import_sqlite);
  tb::add_common_settings(import_sqlite_settings);
  std::string import_sqlite_file;
  import_sqlite->add_option("FILE", import_sqlite_file, "the SQLite database to copy")->required();

  // init
  auto* init = app.add_subcommand(
      "init", "Set up this host: the config, the secrets and the broker's side; prints what next");
  tb::InitOptions init_options;
  init->add_option("--dir", init_options.dir,
                   "put everything under DIR (config and secrets; state/ and broker/ in it) "
                   "instead of /etc/ticket-bridge, /var/lib/ticket-bridge and "
                   "/etc/mosquitto/ticket-bridge");
  init->add_option("--state-dir", init_options.state_dir, "where the database goes");
  init->add_option("--broker-dir", init_options.broker_dir,
                   "where the broker's password file and JWT secret go");
  init->add_option("--user", init_options.user,
                   "the user the bridge runs as, given the secrets and the state (default: "
                   "ticket-bridge, when it exists; root only)");
  init->add_option("--broker-user", init_options.broker_user,
                   "the user mosquitto runs as, given its files (default: mosquitto, when it "
                   "exists; root only)");
  init->add_option("--mqtt", init_options.mqtt, "the broker URL written into the config")
      ->default_str(init_options.mqtt);
  init->add_option("--bridge-user", init_options.bridge_user, "the bridge's MQTT user name")
      ->default_str(init_options.bridge_user);
  init->add_flag("--force", init_options.force,
                 "replace what exists (new secrets: tokens handed out so far stop working)");
  init->add_flag("--print-config", init_options.print_config,
                 "print the config.toml it would write (every option and its default), write "
                 "nothing");

  // check-config
  auto* check = app.add_subcommand(
      "check-config",
      "Check the settings as `serve` reads them, and reach the secrets, the database and the "
      "broker; one line per problem, exit 1 when there is one");
  tb::Settings check_settings(*check);
  tb::add_serve_settings(check_settings);
  bool check_offline = false;
  check->add_flag("--no-broker", check_offline, "do not connect to the broker");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }

  const auto run = [&](tb::Settings& settings, const auto& command) -> int {
    try {
      settings.resolve();
      tb::apply_log_settings(settings);
      return command(settings);
    } catch (const tb::UsageError& e) {
      std::cerr << "ticket-bridge: " << e.what() << "\n";
      return 2;
    } catch (const std::exception& e) {
      std::cerr << "ticket-bridge: " << e.what() << "\n";
      return 1;
    }
  };

  if (serve->parsed()) return run(serve_settings, tb::cmd_serve);
  if (init->parsed()) {
    try {
      return tb::cmd_init(init_options, serve_settings.described());
    } catch (const tb::UsageError& e) {
      std::cerr << "ticket-bridge init: " << e.what() << "\n";
      return 2;
    } catch (const std::exception& e) {
      std::cerr << "ticket-bridge init: " << e.what() << "\n";
      return 1;
    }
  }
  if (check->parsed()) {
    try {
      const auto problems = check_settings.resolve_all();
      return tb::cmd_check_config(check_settings, problems, !check_offline);
    } catch (const std::exception& e) {
      std::cerr << "ticket-bridge check-config: " << e.what() << "\n";
      return 1;
    }
  }
  if (add->parsed()) {
    auto& f = add_args.fields;
    f.uid = add_args.uid;
    f.code = given(add_args.code);
    f.holder = given(add_args.holder);
    f.max_entries = given(add_args.max_entries);
    if (add_args.reentry) f.reentry = "true";
    if (add_args.rotating) f.rotating = "true";
    if (add_args.no_rotating) f.rotating = "false";
    f.valid_from = given(add_args.valid_from);
    f.valid_until = given(add_args.valid_until);
    f.gates = given(add_args.gates);
    return run(add_settings, [&](const tb::Settings& s) { return tb::cmd_tickets_add(s, f); });
  }
  if (import->parsed()) {
    return run(import_settings, [&](const tb::Settings& s) {
      return tb::cmd_tickets_import(s, import_file, skip_errors);
    });
  }
  if (revoke->parsed()) {
    return run(revoke_settings,
               [&](const tb::Settings& s) { return tb::cmd_tickets_revoke(s, revoke_code); });
  }
  if (show->parsed()) {
    return run(show_settings,
               [&](const tb::Settings& s) { return tb::cmd_tickets_show(s, show_code); });
  }
  if (scanner_set->parsed()) {
    return run(scanner_set_settings, [&](const tb::Settings& s) {
      return tb::cmd_scanners_set(s, scanner_id, scanner_gate, scanner_direction);
    });
  }
  if (scanner_list->parsed()) return run(scanner_list_settings, tb::cmd_scanners_list);
  if (scanner_remove->parsed()) {
    return run(scanner_remove_settings,
               [&](const tb::Settings& s) { return tb::cmd_scanners_remove(s, scanner_id); });
  }
  if (keys_init->parsed()) {
    return run(keys_init_settings,
               [&](const tb::Settings& s) { return tb::cmd_keys_init(s, keys_force); });
  }
  if (backup->parsed()) {
    return run(backup_settings,
               [&](const tb::Settings& s) { return tb::cmd_backup(s, backup_file, backup_force); });
  }
  if (import_sqlite->parsed()) {
    return run(import_sqlite_settings,
               [&](const tb::Settings& s) { return tb::cmd_import_sqlite(s, import_sqlite_file); });
  }
  if (token->parsed()) {
    return run(token_settings, [&](const tb::Settings& s) {
      return tb::cmd_token(s, token_uid, token_ttl, ttl_opt->count() > 0, token_code,
                           token_operator);
    });
  }
  return 2;
}
