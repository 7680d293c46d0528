// The test's PostgreSQL server (postgres.hpp).
#include "postgres.hpp"

#include <libpq-fe.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

namespace tbtest {

namespace {

namespace fs = std::filesystem;

// The newest PostgreSQL's programs, /usr/lib/postgresql/<version>/bin on Debian.
std::string server_bin() {
  std::string best;
  int best_version = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const auto name = entry.path().filename().string();
    const int version = std::atoi(name.c_str());
    if (version > best_version && fs::exists(entry.path() / "bin" / "initdb")) {
      best_version = version;
      best = (entry.path() / "bin").string();
    }
  }
  return best;
}

void give_to(const std::string& path, const passwd* user) {
  if (user != nullptr && ::chown(path.c_str(), user->pw_uid, user->pw_gid) != 0) {
    throw std::runtime_error("cannot give " + path + " to " + user->pw_name);
  }
}

}  // namespace

bool Postgres::available() {
  return !server_bin().empty();
}

std::vector<std::string> Postgres::as_server_user(std::vector<std::string> argv) const {
  if (::geteuid() != 0) return argv;
  argv.insert(argv.begin(), {"setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups",
                             "--inh-caps=-all", "--"});
  return argv;
}

Postgres::Postgres() : bin_(server_bin()), port_(free_port()) {
  if (bin_.empty()) throw std::runtime_error("no PostgreSQL server under /usr/lib/postgresql");
  const passwd* user = ::geteuid() == 0 ? ::getpwnam("postgres") : nullptr;
  if (::geteuid() == 0 && user == nullptr) throw std::runtime_error("no user postgres");
  ::chmod(dir_.path().c_str(), 0711);  // the server's user reaches its data dir inside
  const std::string data = dir_.file("data");
  fs::create_directory(data);
  give_to(data, user);
  write_file(dir_.file("pwfile"), password_ + "\n");
  give_to(dir_.file("pwfile"), user);
  // libpq ignores a passfile that others may read.
  write_file(dir_.file("pgpass"),
             "127.0.0.1:" + std::to_string(port_) + ":*:tb:" + password_ + "\n");
  ::chmod(dir_.file("pgpass").c_str(), 0600);
  const auto init = run(
      as_server_user({bin_ + "/initdb", "-D", data, "-U", "tb", "--pwfile=" + dir_.file("pwfile"),
                      "--auth-local=reject", "--auth-host=scram-sha-256", "--no-locale",
                      "--encoding=UTF8", "--no-sync", "--no-instructions"}),
      {}, {}, std::chrono::seconds(60));
  if (init.exit_code != 0) throw std::runtime_error("initdb failed: " + init.out + init.err);
  start();
}

Postgres::~Postgres() {
  stop();
}

void Postgres::start() {
  const std::string log = dir_.file("postgres.log");
  server_ = Child(
      as_server_user({bin_ + "/postgres", "-D", dir_.file("data"), "-p", std::to_string(port_),
                      "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c",
                      "max_connections=100", "-c", "shared_buffers=32MB"}),
      log);
  const std::string conninfo = url();
  const bool up =
      wait_until([&] { return server_.running() && PQping(conninfo.c_str()) == PQPING_OK; },
                 std::chrono::seconds(30));
  if (!up) throw std::runtime_error("PostgreSQL did not start:\n" + server_.log());
}

void Postgres::stop(int sig) {
  server_.stop(sig, std::chrono::seconds(20));
}

std::string Postgres::url(const std::string& db) const {
  return "postgresql://tb@127.0.0.1:" + std::to_string(port_) + "/" + db +
         "?passfile=" + dir_.file("pgpass");
}

std::string Postgres::create_database() {
  const std::string name = "t" + std::to_string(++databases_);
  PGconn* c = PQconnectdb(url().c_str());
  PGresult* r = PQexec(c, ("CREATE DATABASE " + name).c_str());
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  const std::string why = PQerrorMessage(c);
  PQclear(r);
  PQfinish(c);
  if (!ok) throw std::runtime_error("CREATE DATABASE " + name + ": " + why);
  return url(name);
}

Postgres& shared_postgres() {
  static Postgres server;
  return server;
}

}  // namespace tbtest
