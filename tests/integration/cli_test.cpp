// The ticket-bridge command line as a user runs it: exit codes, messages, the CSV import, tokens.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>

#include "brokers.hpp"
#include "jwt.hpp"
#include "rotating_code.hpp"
#include "signed_code.hpp"
#include "timeutil.hpp"

namespace {

using nlohmann::json;
using tbtest::run;

class Cli : public ::testing::Test {
 protected:
  tbtest::RunResult tb(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), tbtest::bridge_bin());
    if (args.size() > 2) {
      args.insert(args.end(),
                  {"--db", dir_.file("t.db"), "--jwt-secret-file", dir_.file("secret")});
    }
    return run(args, env);
  }
  void SetUp() override {
    tbtest::write_file(dir_.file("secret"), "  cli-test-secret-0123456789abcdef\n");
  }
  tbtest::TempDir dir_;
};

TEST_F(Cli, HelpEverywhere) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--help"},
                                               {"serve", "--help"},
                                               {"tickets", "--help"},
                                               {"tickets", "add", "--help"},
                                               {"tickets", "import", "--help"},
                                               {"token", "--help"}}) {
    std::vector<std::string> argv = {tbtest::bridge_bin()};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto r = run(argv);
    EXPECT_EQ(r.exit_code, 0) << args.back();
    EXPECT_NE(r.out.find("Usage"), std::string::npos);
  }
}

// Both programs print the project's version (CMakeLists.txt), and nothing else, on stdout.
TEST_F(Cli, BothProgramsTellTheirVersion) {
  for (const auto& [bin, name] : {std::pair{tbtest::bridge_bin(), "ticket-bridge"},
                                  std::pair{tbtest::agent_bin(), "scanner-agent"}}) {
    const auto r = run({bin, "--version"});
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
    EXPECT_EQ(r.out, std::string(name) + " " + TB_PROJECT_VERSION + "\n");
  }
}

// A backup never replaces a file by accident; --force does.
TEST_F(Cli, ABackupReplacesAnExistingFileOnlyWithForce) {
  ASSERT_EQ(tb({"tickets", "add", "--uid", "7", "--code", "BACKUP1"}).exit_code, 0);
  const auto copy = dir_.file("copy.db");
  tbtest::write_file(copy, "not a database");
  const auto refused = tb({"backup", copy});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("--force"), std::string::npos) << refused.err;
  EXPECT_EQ(tbtest::read_file(copy), "not a database");
  const auto forced = tb({"backup", copy, "--force"});
  ASSERT_EQ(forced.exit_code, 0) << forced.err;
  const auto shown = run({tbtest::bridge_bin(), "tickets", "show", "BACKUP1", "--db", copy});
  EXPECT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_FALSE(std::filesystem::exists(copy + ".tmp"));
}

// The backup never lands on the database it copies (a copy renamed over a serving bridge's
// database loses what it decides meanwhile), and never creates a database that is not there.
TEST_F(Cli, ABackupRefusesTheDatabaseItselfAndAMissingDatabase) {
  ASSERT_EQ(tb({"tickets", "add", "--uid", "7", "--code", "BACKUP2"}).exit_code, 0);
  const auto db = dir_.file("t.db");
  std::filesystem::create_symlink(db, dir_.file("link.db"));
  for (const auto& target : {db, dir_.file("link.db"), db + "-wal", dir_.file("./t.db")}) {
    const auto r = tb({"backup", target, "--force"});
    EXPECT_EQ(r.exit_code, 2) << target << ": " << r.err;
    EXPECT_NE(r.err.find("the database itself"), std::string::npos) << r.err;
  }
  EXPECT_EQ(tb({"tickets", "show", "BACKUP2"}).exit_code, 0);

  const auto missing = dir_.file("none.db");
  const auto r = run({tbtest::bridge_bin(), "backup", dir_.file("copy.db"), "--db", missing});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no database"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(missing));
  EXPECT_FALSE(std::filesystem::exists(dir_.file("copy.db")));
}

TEST_F(Cli, UsageErrorsExitTwo) {
  EXPECT_EQ(run({tbtest::bridge_bin()}).exit_code, 2);
  EXPECT_EQ(run({tbtest::bridge_bin(), "frobnicate"}).exit_code, 2);
  EXPECT_EQ(run({tbtest::bridge_bin(), "serve", "--no-such-option"}).exit_code, 2);
  EXPECT_EQ(tb({"tickets", "add", "--code", "X"}).exit_code, 2);  // --uid missing
  EXPECT_EQ(tb({"tickets", "add", "--uid", "a/b"}).exit_code, 2);
  EXPECT_EQ(tb({"tickets", "add", "--uid", "1", "--max-entries", "lots"}).exit_code, 2);
  EXPECT_EQ(tb({"token", "--uid", "42", "--ttl", "forever"}).exit_code, 2);
  EXPECT_EQ(tb({"serve", "--listen", "nowhere"}).exit_code, 2);
}

TEST_F(Cli, ServeFailsClearlyWithoutABroker) {
  const auto r = tb({"serve", "--mqtt", "mqtt://127.0.0.1:" + std::to_string(tbtest::free_port()),
                     "--listen", "127.0.0.1:0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("broker"), std::string::npos) << r.err;
}

// The TLS settings of the broker link, in each of their three forms, are checked before anything
// starts: a TLS option on a plain URL, a half client certificate, an unreadable CA file, a bad
// boolean.
TEST_F(Cli, TlsSettingsAreCheckedInEveryForm) {
  const std::string plain = "mqtt://127.0.0.1:1";
  const std::string tls = "ssl://127.0.0.1:1";
  const std::string ca = dir_.file("secret");  // any readable file
  struct Case {
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    std::string config, expect;
  };
  const std::vector<Case> cases = {
      {{"--mqtt", plain, "--mqtt-cafile", ca}, {}, "", "need an ssl:// or mqtts:// URL"},
      {{"--mqtt", tls, "--mqtt-cert", ca}, {}, "", "go together"},
      {{"--mqtt", tls}, {{"TICKET_BRIDGE_MQTT_CAFILE", dir_.file("none.pem")}}, "", "cannot read"},
      {{"--mqtt", tls}, {}, "mqtt_tls_check_hostname = \"maybe\"\n", "must be true or false"},
      {{"--mqtt", tls}, {}, "mqtt_key = \"" + ca + "\"\n", "go together"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"serve", "--listen", "127.0.0.1:0"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    if (!c.config.empty()) {
      tbtest::write_file(dir_.file("tls.toml"), c.config);
      args.insert(args.end(), {"--config", dir_.file("tls.toml")});
    }
    const auto r = tb(args, c.env);
    EXPECT_EQ(r.exit_code, 2) << c.expect << ": " << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
  }
}

TEST_F(Cli, ServeFailsClearlyWithoutADatabase) {
  const auto r = run({tbtest::bridge_bin(), "serve", "--db", "/proc/no/such/dir/t.db",
                      "--jwt-secret-file", dir_.file("secret")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_FALSE(r.err.empty());
}

TEST_F(Cli, AddShowRevoke) {
  auto r = tb({"tickets", "add", "--uid", "42", "--code", "TB1", "--holder", "A. Example",
               "--max-entries", "2", "--reentry", "--valid-from", "2026-11-25T18:00:00Z", "--gates",
               "north;south"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json added = json::parse(r.out);
  EXPECT_EQ(added["code"], "TB1");
  EXPECT_EQ(added["max_entries"], 2);
  EXPECT_EQ(added["reentry"], true);
  EXPECT_EQ(added["gates"], json::array({"north", "south"}));

  EXPECT_EQ(tb({"tickets", "add", "--uid", "42", "--code", "TB1"}).exit_code, 1);  // exists

  r = tb({"tickets", "show", "TB1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["state"], "valid");
  EXPECT_EQ(tb({"tickets", "revoke", "TB1"}).exit_code, 0);
  EXPECT_EQ(json::parse(tb({"tickets", "show", "TB1"}).out)["state"], "revoked");
  EXPECT_EQ(tb({"tickets", "show", "NOPE"}).exit_code, 1);
  EXPECT_EQ(tb({"tickets", "revoke", "NOPE"}).exit_code, 1);
}

TEST_F(Cli, ImportIsAllOrNothing) {
  tbtest::write_file(dir_.file("bad.csv"),
                     "code,uid,holder,max_entries,reentry,valid_from,valid_until,gates\n"
                     "A1,1,\"Doe, Jane\",1,false,,,north;south\n"
                     "A2,,nobody,1,false,,,\n"
                     "A3,3,x,many,false,,,\n"
                     "A1,4,dup,1,false,,,\n"
                     "A5,5,ok,1,false,,,\n");
  auto r = tb({"tickets", "import", dir_.file("bad.csv")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("line 3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 4"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 5"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("line 2:"), std::string::npos) << r.err;
  EXPECT_EQ(tb({"tickets", "show", "A1"}).exit_code, 1);  // nothing written

  r = tb({"tickets", "import", dir_.file("bad.csv"), "--skip-errors"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("imported 2"), std::string::npos) << r.out;
  const json a1 = json::parse(tb({"tickets", "show", "A1"}).out);
  EXPECT_EQ(a1["holder"], "Doe, Jane");
  EXPECT_EQ(a1["gates"], json::array({"north", "south"}));
}

// `keys init` writes the rotating key beside the signing key (0600), keeps it on --force, and on a
// host whose signing key came before rotating codes adds only the missing rotating key.
TEST_F(Cli, KeysInitWritesTheRotatingKeyAndKeepsIt) {
  ASSERT_EQ(tb({"keys", "init"}).exit_code, 0);
  const auto rotating = dir_.file("rotating-key");
  struct stat st {};
  ASSERT_EQ(::stat(rotating.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  const std::string first = tbtest::read_file(rotating);
  EXPECT_NO_THROW(tb::rotating_key_from_text(first));
  ASSERT_EQ(tb({"keys", "init", "--force"}).exit_code, 0);
  EXPECT_EQ(tbtest::read_file(rotating), first);  // phones keep their secrets
  EXPECT_EQ(tb({"keys", "init"}).exit_code, 1);   // both exist: refused, as before

  std::filesystem::remove(rotating);
  const std::string signing = tbtest::read_file(dir_.file("signing-key.pem"));
  const auto r = tb({"keys", "init"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, std::filesystem::absolute(dir_.file("signing-key.pub.pem")).string() + "\n");
  EXPECT_EQ(tbtest::read_file(dir_.file("signing-key.pem")), signing);  // not replaced
  EXPECT_NE(tbtest::read_file(rotating), first);

  // A rotating ticket by default, and one that says otherwise.
  auto add = tb({"tickets", "add", "--uid", "42", "--rotating-codes", "true"});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  EXPECT_EQ(json::parse(add.out)["rotating"], true);
  add = tb({"tickets", "add", "--uid", "42", "--rotating-codes", "true", "--no-rotating"});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  EXPECT_EQ(json::parse(add.out)["rotating"], false);
  EXPECT_EQ(tb({"tickets", "add", "--uid", "42", "--rotating", "--no-rotating"}).exit_code, 2);
}

// SPEC.md v1.1: `keys init` makes the signing key (0600) beside the secret and prints the public
// key's path; from then on new tickets get signed codes, which every command takes for the plain
// one. A second `keys init` needs --force and keeps the old public key for the gates.
TEST_F(Cli, KeysInitThenTicketsGetSignedCodesThatEveryCommandTakes) {
  auto r = tb({"tickets", "add", "--uid", "42", "--code", "PLAIN1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["signed_code"], nullptr);  // no key yet

  r = tb({"keys", "init"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto key_file = dir_.file("signing-key.pem");
  const auto pub_file = dir_.file("signing-key.pub.pem");
  EXPECT_EQ(r.out, std::filesystem::absolute(pub_file).string() + "\n");
  struct stat st {};
  ASSERT_EQ(::stat(key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  const auto pub = tb::verify_key_from_pem(tbtest::read_file(pub_file));
  EXPECT_EQ(pub.key_id, tb::SigningKey::from_pem(tbtest::read_file(key_file)).key_id());

  r = tb({"tickets", "add", "--uid", "42", "--code", "SIGNED1", "--gates", "north", "--valid-until",
          "2030-01-01T00:00:00Z"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json added = json::parse(r.out);
  EXPECT_EQ(added["code"], "SIGNED1");
  ASSERT_TRUE(added["signed_code"].is_string()) << r.out;
  const std::string signed_code = added["signed_code"];
  const auto decoded = tb::decode_signed_code(signed_code);
  ASSERT_TRUE(std::holds_alternative<tb::DecodedCode>(decoded));
  const auto& d = std::get<tb::DecodedCode>(decoded);
  EXPECT_TRUE(tb::verify_signed_code(d, {pub}));
  EXPECT_EQ(d.claims.code, "SIGNED1");
  EXPECT_EQ(d.claims.gates, std::vector<std::string>{"north"});
  EXPECT_EQ(d.claims.valid_until, tb::parse_rfc3339("2030-01-01T00:00:00Z"));

  // Every command names the ticket by either form; results name the plain code.
  r = tb({"tickets", "show", signed_code});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["code"], "SIGNED1");
  EXPECT_EQ(json::parse(r.out)["signed_code"], signed_code);
  r = tb({"token", "--uid", "42", "--code", signed_code});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string token = r.out.substr(0, r.out.size() - 1);
  const auto v = tb::verify_token(token, "cli-test-secret-0123456789abcdef", tb::now_ms() / 1000);
  ASSERT_TRUE(std::holds_alternative<tb::TokenClaims>(v));
  EXPECT_EQ(std::get<tb::TokenClaims>(v).code, "SIGNED1");
  EXPECT_EQ(tb({"tickets", "show", "TB1.AAAA"}).exit_code, 2);  // damaged: a usage error
  EXPECT_EQ(tb({"tickets", "add", "--uid", "1", "--code", "TB1.MINE"}).exit_code, 2);  // reserved

  // The CSV import signs what it imports, with or without a code in the file.
  tbtest::write_file(dir_.file("signed.csv"), "code,uid,gates\nCSV1,7,north;south\n,8,\n");
  r = tb({"tickets", "import", dir_.file("signed.csv")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json csv1 = json::parse(tb({"tickets", "show", "CSV1"}).out);
  const auto c1 = tb::decode_signed_code(csv1["signed_code"].get<std::string>());
  ASSERT_TRUE(std::holds_alternative<tb::DecodedCode>(c1));
  EXPECT_TRUE(tb::verify_signed_code(std::get<tb::DecodedCode>(c1), {pub}));
  EXPECT_EQ(std::get<tb::DecodedCode>(c1).claims.gates,
            (std::vector<std::string>{"north", "south"}));

  // Rotation: refused without --force; with it the old public key stays, named by its key id.
  r = tb({"keys", "init"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  r = tb({"keys", "init", "--force"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> kept;
  for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
    const auto name = e.path().filename().string();
    if (name.rfind("signing-key-", 0) == 0) kept.push_back(name);
  }
  ASSERT_EQ(kept.size(), 1U);
  const auto old = tb::verify_key_from_pem(tbtest::read_file(dir_.file(kept[0])));
  EXPECT_EQ(old.key_id, pub.key_id);
  EXPECT_NE(tb::verify_key_from_pem(tbtest::read_file(pub_file)).key_id, pub.key_id);
  // A ticket signed before the rotation still names itself.
  EXPECT_EQ(tb({"tickets", "show", signed_code}).exit_code, 0);

  // A named key that is missing is an error, never a silent plain code.
  r = tb({"tickets", "add", "--uid", "1", "--signing-key-file", dir_.file("none.pem")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("keys init"), std::string::npos) << r.err;
}

TEST_F(Cli, ImportRejectsUnknownColumns) {
  tbtest::write_file(dir_.file("cols.csv"), "code,uid,colour\nA,1,red\n");
  const auto r = tb({"tickets", "import", dir_.file("cols.csv")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("colour"), std::string::npos);
}

TEST_F(Cli, TokenIsSignedWithTheTrimmedSecretFile) {
  const auto r = tb({"token", "--uid", "42", "--ttl", "15m"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string token = r.out;
  ASSERT_EQ(token.back(), '\n');
  token.pop_back();
  const auto now = tb::now_ms() / 1000;
  const auto v = tb::verify_token(token, "cli-test-secret-0123456789abcdef", now);
  ASSERT_TRUE(std::holds_alternative<tb::TokenClaims>(v)) << std::get<std::string>(v);
  EXPECT_EQ(std::get<tb::TokenClaims>(v).uid, "42");
  EXPECT_NEAR(static_cast<double>(std::get<tb::TokenClaims>(v).exp), static_cast<double>(now + 900),
              5);
}

TEST_F(Cli, TokenScopedToATicketLastsUntilItsValidUntil) {
  ASSERT_EQ(tb({"tickets", "add", "--uid", "42", "--code", "LINK1", "--valid-until",
                "2099-01-01T00:00:00Z"})
                .exit_code,
            0);
  const auto r = tb({"token", "--uid", "42", "--code", "LINK1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto v = tb::verify_token(r.out.substr(0, r.out.size() - 1),
                                  "cli-test-secret-0123456789abcdef", tb::now_ms() / 1000);
  ASSERT_TRUE(std::holds_alternative<tb::TokenClaims>(v)) << std::get<std::string>(v);
  EXPECT_EQ(std::get<tb::TokenClaims>(v).code, "LINK1");
  EXPECT_EQ(std::get<tb::TokenClaims>(v).exp, 4070908800);
  const auto other = tb({"token", "--uid", "43", "--code", "LINK1"});
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_NE(other.err.find("LINK1"), std::string::npos) << other.err;
}

// One config file serves every command: each option that `serve --help` lists is a key that any
// command accepts in the file (the ws-* options of serve used to be refused as unknown keys).
TEST_F(Cli, EveryServeOptionIsAConfigFileKey) {
  const auto help = run({tbtest::bridge_bin(), "serve", "--help"});
  ASSERT_EQ(help.exit_code, 0);
  std::string config;
  std::size_t keys = 0;
  static const std::regex option(R"(\n\s+--([a-z][a-z-]*))");
  for (auto it = std::sregex_iterator(help.out.begin(), help.out.end(), option);
       it != std::sregex_iterator(); ++it) {
    std::string key = (*it)[1];
    if (key == "help" || key == "config" || key == "db" || key == "jwt-secret-file" ||
        key == "log-level" || key == "log-format") {
      continue;  // used by `tickets show` itself, given on its command line
    }
    std::replace(key.begin(), key.end(), '-', '_');
    config += key + " = \"1\"\n";
    ++keys;
  }
  EXPECT_GE(keys, 15U) << help.out;  // the regex found the options
  tbtest::write_file(dir_.file("all.toml"), config);
  const auto r = tb({"tickets", "show", "NOPE", "--config", dir_.file("all.toml")});
  EXPECT_EQ(r.err.find("unknown key"), std::string::npos) << r.err;
  EXPECT_EQ(r.exit_code, 1) << r.err;  // no such ticket: the file itself was fine
  // A key that is no option at all is still refused.
  tbtest::write_file(dir_.file("typo.toml"), "mqtt_cafil = \"x\"\n");
  const auto typo = tb({"tickets", "show", "NOPE", "--config", dir_.file("typo.toml")});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.err.find("unknown key 'mqtt_cafil'"), std::string::npos) << typo.err;
}

// Run from another directory, `tickets` and `token` used to create a new database and a new secret
// under ./var/: the tokens they printed were refused by the running server and the tickets landed
// where it never looks. Only `serve` creates them at the default paths.
TEST_F(Cli, OnlyServeCreatesTheDefaultStoreAndSecret) {
  const std::string elsewhere = dir_.file("elsewhere");
  std::filesystem::create_directories(elsewhere);
  for (const std::string command : {"tickets add --uid 1", "tickets show X", "token --uid 1"}) {
    const auto r =
        run({"bash", "-c", "cd '" + elsewhere + "' && " + tbtest::bridge_bin() + " " + command},
            {{"TICKET_BRIDGE_CONFIG", ""}});
    EXPECT_EQ(r.exit_code, 2) << command << ": " << r.out << r.err;
    EXPECT_NE(r.err.find(elsewhere + "/var/"), std::string::npos) << command << ": " << r.err;
    EXPECT_NE(r.err.find("--config"), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(elsewhere + "/var")) << command << " created var/";
  }
  // Named explicitly, a new database may be filled before its first `serve`.
  const auto named = run({tbtest::bridge_bin(), "tickets", "add", "--uid", "1", "--db",
                          dir_.file("new.db"), "--jwt-secret-file", dir_.file("secret")});
  EXPECT_EQ(named.exit_code, 0) << named.err;
  EXPECT_TRUE(std::filesystem::exists(dir_.file("new.db")));
}

TEST_F(Cli, SettingsFromEnvironmentAndConfigFile) {
  // The database named in a config file, overridden by the environment, overridden by the flag.
  tbtest::write_file(dir_.file("c.toml"), "db = \"" + dir_.file("from-file.db") + "\"\n");
  const std::string bin = tbtest::bridge_bin();
  const std::string secret = dir_.file("secret");
  auto r = run({bin, "tickets", "add", "--uid", "1", "--code", "F", "--config", dir_.file("c.toml"),
                "--jwt-secret-file", secret});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(run({bin, "tickets", "show", "F", "--db", dir_.file("from-file.db"),
                 "--jwt-secret-file", secret})
                .exit_code,
            0);
  r = run({bin, "tickets", "add", "--uid", "1", "--code", "E", "--jwt-secret-file", secret},
          {{"TICKET_BRIDGE_CONFIG", dir_.file("c.toml")},
           {"TICKET_BRIDGE_DB", dir_.file("from-env.db")}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(run({bin, "tickets", "show", "E", "--db", dir_.file("from-env.db"), "--jwt-secret-file",
                 secret})
                .exit_code,
            0);
  tbtest::write_file(dir_.file("bad.toml"), "colour = \"red\"\n");
  r = run({bin, "tickets", "show", "E", "--config", dir_.file("bad.toml")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("colour"), std::string::npos);
}

std::filesystem::perms mode_of(const std::string& path) {
  return std::filesystem::status(path).permissions() & std::filesystem::perms::mask;
}

// init writes the config and the secrets (0600), refuses to run twice, and --force replaces the
// secrets while it keeps the broker's other password entries. Its config is what every command
// then reads: through TICKET_BRIDGE_CONFIG, a bare `tickets add` lands in init's database.
TEST_F(Cli, InitRefusesASecondRunAndItsConfigServesEveryCommand) {
  const std::string d = dir_.file("host");
  const auto first = run({tbtest::bridge_bin(), "init", "--dir", d});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("Next steps"), std::string::npos) << first.out;
  for (const auto* f :
       {"jwt-secret", "api-key", "mqtt-password", "broker/jwt-secret", "broker/passwd"}) {
    EXPECT_EQ(mode_of(d + "/" + f), std::filesystem::perms(0600)) << f;
  }
  EXPECT_EQ(mode_of(d + "/state"), std::filesystem::perms(0750));
  const std::string secret = tbtest::read_file(d + "/jwt-secret");
  EXPECT_EQ(secret, tbtest::read_file(d + "/broker/jwt-secret"));
  EXPECT_EQ(secret.size(), 65U);  // 32 random bytes in hex, and a newline
  const std::string passwd = tbtest::read_file(d + "/broker/passwd");
  EXPECT_TRUE(std::regex_search(
      passwd, std::regex(R"(^bridge:\$7\$101\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+\n$)")))
      << passwd;

  const auto again = run({tbtest::bridge_bin(), "init", "--dir", d});
  EXPECT_EQ(again.exit_code, 1);
  for (const auto* f :
       {"jwt-secret", "api-key", "mqtt-password", "broker/jwt-secret", "broker/passwd"}) {
    EXPECT_NE(again.err.find(d + "/" + f), std::string::npos) << f << ": " << again.err;
  }
  // The config is exactly what init writes, so it is not in the way (the next test).
  EXPECT_EQ(again.err.find(d + "/config.toml"), std::string::npos) << again.err;
  EXPECT_NE(again.err.find("--force"), std::string::npos) << again.err;
  EXPECT_EQ(tbtest::read_file(d + "/jwt-secret"), secret);

  tbtest::write_file(d + "/broker/passwd", passwd + "gate-n-1:$7$101$c2FsdA==$aGFzaA==\n");
  const auto forced = run({tbtest::bridge_bin(), "init", "--dir", d, "--force"});
  ASSERT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_NE(tbtest::read_file(d + "/jwt-secret"), secret);
  const std::string replaced = tbtest::read_file(d + "/broker/passwd");
  EXPECT_NE(replaced.find("gate-n-1:$7$101$c2FsdA==$aGFzaA==\n"), std::string::npos) << replaced;
  EXPECT_NE(replaced, passwd + "gate-n-1:$7$101$c2FsdA==$aGFzaA==\n");  // a new bridge entry
  EXPECT_EQ(std::count(replaced.begin(), replaced.end(), '\n'), 2) << replaced;

  // Every command on init's config, with no other flag.
  const std::map<std::string, std::string> env = {{"TICKET_BRIDGE_CONFIG", d + "/config.toml"}};
  const auto add =
      run({tbtest::bridge_bin(), "tickets", "add", "--uid", "9", "--code", "HOST1"}, env);
  ASSERT_EQ(add.exit_code, 0) << add.err;
  EXPECT_TRUE(std::filesystem::exists(d + "/state/ticket-bridge.db"));
  EXPECT_EQ(
      run({tbtest::bridge_bin(), "tickets", "show", "HOST1", "--db", d + "/state/ticket-bridge.db"})
          .exit_code,
      0);
  const auto token = run({tbtest::bridge_bin(), "token", "--uid", "9"}, env);
  ASSERT_EQ(token.exit_code, 0) << token.err;
  std::string jwt = token.out;
  while (!jwt.empty() && jwt.back() == '\n') jwt.pop_back();
  std::string key = tbtest::read_file(d + "/jwt-secret");
  key.pop_back();
  EXPECT_TRUE(
      std::holds_alternative<tb::TokenClaims>(tb::verify_token(jwt, key, tb::now_ms() / 1000)))
      << jwt;
}

// The Debian package installs the config `init --print-config` prints; init on such a host keeps
// it and writes the rest. A config that says anything else is refused like any other file.
TEST_F(Cli, InitKeepsAConfigThatIsExactlyWhatItWouldWrite) {
  const std::string d = dir_.file("host");
  const auto printed = run({tbtest::bridge_bin(), "init", "--dir", d, "--print-config"});
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  EXPECT_FALSE(std::filesystem::exists(d)) << "--print-config wrote something";
  EXPECT_NE(printed.out.find("\ndb = \"" + d + "/state/ticket-bridge.db\"\n"), std::string::npos);
  std::filesystem::create_directories(d);
  tbtest::write_file(d + "/config.toml", printed.out);
  const auto init = run({tbtest::bridge_bin(), "init", "--dir", d});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_NE(init.out.find("kept"), std::string::npos) << init.out;
  EXPECT_EQ(tbtest::read_file(d + "/config.toml"), printed.out);
  EXPECT_TRUE(std::filesystem::exists(d + "/jwt-secret"));

  const std::string e = dir_.file("other");
  std::filesystem::create_directories(e);
  tbtest::write_file(e + "/config.toml", "listen = \"127.0.0.1:9\"\n");
  const auto refused = run({tbtest::bridge_bin(), "init", "--dir", e});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find(e + "/config.toml (not what init would write)"), std::string::npos)
      << refused.err;
  EXPECT_FALSE(std::filesystem::exists(e + "/jwt-secret"));
}

// Root adding a ticket before the service first ran must not leave a database the service's own
// user cannot write: it goes to the owner of its directory.
TEST_F(Cli, ADatabaseRootMakesInAServiceUsersDirectoryIsThatUsers) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (CI runs as root)";
  namespace fs = std::filesystem;
  const std::string d = dir_.file("state");
  fs::create_directories(d);
  ASSERT_EQ(::chown(d.c_str(), 65534, 65534), 0);  // nobody
  // nobody may pass through the test's directory and read the secret (not write either).
  fs::permissions(dir_.path(), fs::perms(0755));
  fs::permissions(dir_.file("secret"), fs::perms(0644));
  const auto add = run({tbtest::bridge_bin(), "tickets", "add", "--uid", "1", "--code", "ROOT1",
                        "--db", d + "/t.db", "--jwt-secret-file", dir_.file("secret")});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  struct stat st {};
  ASSERT_EQ(::stat((d + "/t.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534U);
  // The service's user can now write it.
  const auto as_nobody =
      run({"setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
           tbtest::bridge_bin(), "tickets", "add", "--uid", "2", "--code", "NOBODY1", "--db",
           d + "/t.db", "--jwt-secret-file", dir_.file("secret")});
  EXPECT_EQ(as_nobody.exit_code, 0) << as_nobody.err;
}

// The config init writes names every option of `serve` (set, or commented out with its default),
// and check-config takes it as it is.
TEST_F(Cli, InitsConfigShowsEveryServeOptionAndPassesTheCheck) {
  const std::string d = dir_.file("host");
  ASSERT_EQ(run({tbtest::bridge_bin(), "init", "--dir", d}).exit_code, 0);
  const std::string config = tbtest::read_file(d + "/config.toml");
  const auto help = run({tbtest::bridge_bin(), "serve", "--help"});
  const std::regex option(R"(\n\s+--([a-z][a-z0-9-]+))");
  int options = 0;
  for (auto it = std::sregex_iterator(help.out.begin(), help.out.end(), option);
       it != std::sregex_iterator(); ++it) {
    std::string key = (*it)[1];
    if (key == "help" || key == "config") continue;
    std::replace(key.begin(), key.end(), '-', '_');
    ++options;
    EXPECT_TRUE(std::regex_search(config, std::regex("\n(# )?" + key + " = ")))
        << key << " is missing";
  }
  EXPECT_GE(options, 25);
  EXPECT_NE(config.find("\ndb = \"" + d + "/state/ticket-bridge.db\"\n"), std::string::npos);
  EXPECT_NE(config.find("\n# retention_events = 100\n"), std::string::npos) << config;
  const auto check =
      run({tbtest::bridge_bin(), "check-config", "--config", d + "/config.toml", "--no-broker"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_NE(check.out.find("config OK"), std::string::npos) << check.out;
}

// check-config names each problem of a broken config on its own line, and exits 1.
TEST_F(Cli, CheckConfigNamesEveryProblem) {
  tbtest::write_file(dir_.file("broken.toml"),
                     "listen = \"localhost\"\n"
                     "retention_age = \"forever\"\n"
                     "mqtt_session_expiry = \"-1s\"\n"
                     "instance = \"gate-events\"\n"
                     "colour = \"red\"\n"
                     "http_threads = [1, 2]\n"
                     "mqtt_password_file = \"" +
                         dir_.file("missing-pw") +
                         "\"\n"
                         "db = \"" +
                         dir_.file("t.db") +
                         "\"\n"
                         "jwt_secret_file = \"" +
                         dir_.file("secret") + "\"\n");
  const auto r = run({tbtest::bridge_bin(), "check-config", "--config", dir_.file("broken.toml")});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  for (const std::string& problem : std::vector<std::string>{
           "--listen must be HOST:PORT", "--retention-age must be a duration",
           "--mqtt-session-expiry must be a duration", "--instance must not end in -events",
           "unknown key 'colour' (line 5)",
           "'http_threads' must be a string, an integer or a boolean",
           "cannot read the MQTT password file " + dir_.file("missing-pw")}) {
    EXPECT_NE(r.err.find(problem), std::string::npos) << problem << " not named in:\n" << r.err;
  }
  EXPECT_NE(r.err.find("7 problems"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("broker not tried"), std::string::npos) << r.out;
}

}  // namespace
