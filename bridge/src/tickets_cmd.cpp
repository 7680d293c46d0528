// `ticket-bridge tickets ...` and `ticket-bridge token`: offline commands on the same database and
// secret as `serve`, safe to run while it runs (SQLite locking, short transactions).
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "commands.hpp"
#include "csv.hpp"
#include "jwt.hpp"
#include "logging.hpp"
#include "messages.hpp"
#include "pg.hpp"
#include "rotating_code.hpp"
#include "secrets.hpp"
#include "signed_code.hpp"

namespace tb {

void add_common_settings(Settings& s) {
  s.add("db",
        "the database: a SQLite file, or PostgreSQL as postgresql://USER@HOST:PORT/DB "
        "(several bridges share one)",
        kDefaultDb);
  s.add("db-password-file",
        "PostgreSQL: a file holding the password (else libpq's PGPASSFILE or ~/.pgpass; never "
        "in the URL)");
  s.add("jwt-secret-file",
        "file holding the token signing secret (generated when the default "
        "is missing)",
        kDefaultJwtSecretFile);
  s.add("signing-key-file",
        "the Ed25519 key new tickets' signed codes are made with (`keys init` writes it); "
        "default: signing-key.pem beside --jwt-secret-file, used when it exists");
  s.add("rotating-codes",
        "true: new tickets need a rotating code at the gate (the live ticket page, not a "
        "screenshot), unless they say otherwise; needs a signing key",
        "false");
  s.add("log-level", "trace, debug, info, warn, error or off", "info");
  s.add("log-format",
        "text (for people) or json (one object per line, with fields such as scan_id, scanner, "
        "gate and uid, for journald and log shippers)",
        "text");
}

void apply_log_settings(const Settings& s) {
  const auto level = spdlog::level::from_str(s.get("log-level"));
  if (level == spdlog::level::off && s.get("log-level") != "off") {
    throw UsageError("--log-level must be trace, debug, info, warn, error or off");
  }
  const auto format = logging::parse_format(s.get("log-format"));
  if (!format) throw UsageError("--log-format must be text or json");
  spdlog::set_level(level);
  logging::set_format(*format);
}

namespace {
void refuse_missing_default(const Settings& s, const std::string& name, const char* what) {
  const auto& path = s.get(name);
  if (s.source(name) != "default" || std::filesystem::exists(path)) return;
  throw UsageError(std::string("no ") + what + " at " + std::filesystem::absolute(path).string() +
                   " (the default path), and only `serve` creates one there. "
                   "Point this command at the server's with --config FILE (or "
                   "TICKET_BRIDGE_CONFIG; an installed host's " +
                   kSystemConfig + " is read by itself), --" + name + " PATH (or " +
                   Settings::env_name(name) + "), or run it in the server's working directory");
}
}  // namespace

std::optional<std::string> db_password(const Settings& s) {
  if (const auto file = s.get_opt("db-password-file")) {
    return load_secret(*file, false, "PostgreSQL password");
  }
  return std::nullopt;
}

std::unique_ptr<Store> open_store(const Settings& s, Create create) {
  const auto& where = s.get("db");
  const std::string sync = s.get_opt("db-sync").value_or("full");
  if (sync != "full" && sync != "normal") throw UsageError("--db-sync must be full or normal");
  const auto durability = sync == "full" ? Durability::Full : Durability::Normal;
  if (pg::is_url(where)) {
    if (pg::has_password(where)) {
      throw UsageError(
          "--db: no password in the URL (it is logged and shown by ps), and it must parse; put "
          "the password in --db-password-file or a passfile (PGPASSFILE, ?passfile=)");
    }
    return make_store(where, durability, db_password(s));
  }
  if (create == Create::OnlyNamed) refuse_missing_default(s, "db", "database");
  ensure_parent_dir(where);
  return make_store(where, durability);
}

std::string jwt_secret(const Settings& s, Create create) {
  if (create == Create::OnlyNamed) refuse_missing_default(s, "jwt-secret-file", "JWT secret");
  return load_secret(s.get("jwt-secret-file"), s.source("jwt-secret-file") == "default",
                     "JWT secret");
}

int cmd_tickets_add(const Settings& s, const TicketFields& fields) {
  auto parsed = ticket_from_fields(fields, now_ms(), s.get_bool("rotating-codes"));
  if (auto* err = std::get_if<std::string>(&parsed)) throw UsageError(*err);
  auto& ticket = std::get<Ticket>(parsed);
  if (auto why = issue_signed_code(ticket, signing_key(s).get(), rotating_key(s) != nullptr)) {
    throw UsageError(*why);
  }
  auto store = open_store(s, Create::OnlyNamed);
  try {
    store->insert_ticket(ticket);
  } catch (const DuplicateTicket& e) {
    std::cerr << "ticket-bridge: " << e.what() << "\n";
    return 1;
  }
  std::cout << ticket_json(ticket).dump() << "\n";
  return 0;
}

namespace {

const std::set<std::string> kCsvColumns = {"code",        "uid",         "holder",
                                           "max_entries", "reentry",     "valid_from",
                                           "gates",       "valid_until", "rotating"};

std::optional<std::string>* field_of(TicketFields& f, const std::string& column) {
  static const std::map<std::string, std::optional<std::string> TicketFields::*> kMembers = {
      {"code", &TicketFields::code},
      {"uid", &TicketFields::uid},
      {"holder", &TicketFields::holder},
      {"max_entries", &TicketFields::max_entries},
      {"reentry", &TicketFields::reentry},
      {"valid_from", &TicketFields::valid_from},
      {"valid_until", &TicketFields::valid_until},
      {"gates", &TicketFields::gates},
      {"rotating", &TicketFields::rotating}};
  return &(f.*kMembers.at(column));
}

}  // namespace

int cmd_tickets_import(const Settings& s, const std::string& file, bool skip_errors) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::cerr << "ticket-bridge: cannot read " << file << "\n";
    return 1;
  }
  CsvReader reader(in);
  auto header = reader.next();
  if (!header) {
    std::cerr << "ticket-bridge: " << file << ": "
              << (reader.error().empty() ? "empty file" : reader.error()) << "\n";
    return 1;
  }
  std::vector<std::string> columns;
  for (auto name : header->fields) {
    if (columns.empty() && name.rfind("\xEF\xBB\xBF", 0) == 0) name.erase(0, 3);  // UTF-8 BOM
    if (kCsvColumns.count(name) == 0) {
      std::cerr << "ticket-bridge: " << file << " line 1: unknown column '" << name
                << "' (known: code,uid,holder,max_entries,reentry,valid_from,valid_until,gates,"
                   "rotating)\n";
      return 1;
    }
    columns.push_back(name);
  }
  if (std::find(columns.begin(), columns.end(), "uid") == columns.end()) {
    std::cerr << "ticket-bridge: " << file << " line 1: the header has no uid column\n";
    return 1;
  }

  auto store = open_store(s, Create::OnlyNamed);
  const auto key = signing_key(s);
  const bool rotating_default = s.get_bool("rotating-codes");
  const bool has_rotating_key = rotating_key(s) != nullptr;
  const Millis now = now_ms();
  std::vector<std::string> errors;
  std::vector<Ticket> tickets;
  std::set<std::string> codes_in_file;
  while (auto row = reader.next()) {
    if (row->fields.size() == 1 && row->fields[0].empty()) continue;  // blank line
    const std::string where = "line " + std::to_string(row->line) + ": ";
    if (row->fields.size() != columns.size()) {
      errors.push_back(where + std::to_string(row->fields.size()) + " fields, the header has " +
                       std::to_string(columns.size()));
      continue;
    }
    TicketFields f;
    for (std::size_t i = 0; i < columns.size(); ++i) *field_of(f, columns[i]) = row->fields[i];
    auto parsed = ticket_from_fields(f, now, rotating_default);
    if (auto* err = std::get_if<std::string>(&parsed)) {
      errors.push_back(where + *err);
      continue;
    }
    auto& t = std::get<Ticket>(parsed);
    if (auto why = issue_signed_code(t, key.get(), has_rotating_key)) {
      errors.push_back(where + *why);
      continue;
    }
    if (!codes_in_file.insert(t.code).second) {
      errors.push_back(where + "code " + t.code + " appears twice in the file");
      continue;
    }
    if (store->find_ticket(t.code)) {
      errors.push_back(where + "a ticket with code " + t.code + " exists");
      continue;
    }
    tickets.push_back(std::move(t));
  }
  if (!reader.error().empty()) errors.push_back(reader.error());

  for (const auto& e : errors) std::cerr << file << " " << e << "\n";
  if (!errors.empty() && !skip_errors) {
    std::cerr << "ticket-bridge: " << errors.size()
              << " bad rows; nothing imported (use --skip-errors to import the good rows)\n";
    return 1;
  }
  {
    Store::Transaction tx(*store);
    for (const auto& t : tickets) store->insert_ticket(t);  // a code added meanwhile aborts all
    tx.commit();
  }
  std::cout << "imported " << tickets.size() << " tickets";
  if (!errors.empty()) std::cout << ", skipped " << errors.size() << " bad rows";
  std::cout << "\n";
  return 0;
}

std::string named_ticket_code(const std::string& text) {
  auto plain = plain_code_of(text);
  if (!plain)
    throw UsageError("a damaged signed code: " +
                     std::get<std::string>(decode_scanned_signed_code(text)));
  return std::move(*plain);
}

int cmd_tickets_revoke(const Settings& s, const std::string& named) {
  const std::string code = named_ticket_code(named);
  auto store = open_store(s, Create::OnlyNamed);
  if (!store->revoke_ticket(code)) {
    std::cerr << "ticket-bridge: no ticket with code " << code << "\n";
    return 1;
  }
  std::cout << "revoked " << code << "\n";
  return 0;
}

int cmd_tickets_show(const Settings& s, const std::string& named) {
  const std::string code = named_ticket_code(named);
  auto store = open_store(s, Create::OnlyNamed);
  const auto ticket = store->find_ticket(code);
  if (!ticket) {
    std::cerr << "ticket-bridge: no ticket with code " << code << "\n";
    return 1;
  }
  auto out = ticket_json(*ticket);
  out["last_scans"] = scans_json(store->recent_scans(code, 20));
  std::cout << out.dump(2) << "\n";
  return 0;
}

int cmd_token(const Settings& s, const std::string& given_uid, const std::string& ttl,
              bool ttl_given, const std::string& named, bool as_operator) {
  const std::string code = named.empty() ? named : named_ticket_code(named);
  if (as_operator && !code.empty()) {
    throw UsageError(
        "--operator and --code do not go together: an operator's token names no "
        "ticket");
  }
  if (!as_operator && given_uid.empty()) throw UsageError("--uid is required");
  const std::string uid = given_uid.empty() ? std::string("operator") : given_uid;
  if (!is_valid_id(uid))
    throw UsageError("--uid must be a valid uid (1-128 characters, no / + # or spaces)");
  const auto ttl_s = parse_duration_s(ttl_given || !as_operator ? ttl : "8h");
  if (!ttl_s || *ttl_s == 0)
    throw UsageError("--ttl must be a duration such as 3600, 90s, 15m, 1h or 2d");
  const std::string secret = jwt_secret(s, Create::OnlyNamed);
  const std::int64_t now = now_ms() / 1000;
  if (as_operator) {
    std::cout << sign_token(uid, *ttl_s, secret, now, {}, kOperatorRole) << "\n";
    return 0;
  }
  if (code.empty()) {
    std::cout << sign_token(uid, *ttl_s, secret, now) << "\n";
    return 0;
  }
  if (!is_valid_id(code)) throw UsageError("--code must be a ticket code");
  // Scoped to a ticket: the only case that needs the store, to read the ticket's validity.
  const auto store = open_store(s, Create::OnlyNamed);
  const auto t = store->find_ticket(code);
  if (!t || t->uid != uid) {
    std::cerr << "ticket-bridge: no ticket " << code << " of uid " << uid << " in " << s.get("db")
              << "\n";
    return 1;
  }
  const auto exp =
      scoped_token_expiry(*t, ttl_given ? ttl_s : std::nullopt, kDefaultTokenTtlS, now);
  if (const auto* why = std::get_if<std::string>(&exp)) {
    std::cerr << "ticket-bridge: no token: " << *why << "\n";
    return 1;
  }
  std::cout << sign_token(uid, std::get<std::int64_t>(exp) - now, secret, now, code) << "\n";
  return 0;
}

}  // namespace tb
