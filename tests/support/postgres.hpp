// A real PostgreSQL server for a test: a cluster of its own (initdb) in a temp dir, on a free
// port of 127.0.0.1 only (no Unix socket), with password authentication (SCRAM) for the role
// `tb`, whose password reaches libpq through a passfile. PostgreSQL refuses to run as root: when
// the test runs as root, the server runs as the user `postgres` (Debian's package makes it).
// Stopped by PID.
#pragma once

#include <csignal>
#include <cstdint>
#include <string>

#include "process.hpp"

namespace tbtest {

class Postgres {
 public:
  // initdb, then starts the server; throws std::runtime_error (with its log) when it cannot.
  Postgres();
  ~Postgres();
  Postgres(const Postgres&) = delete;
  Postgres& operator=(const Postgres&) = delete;

  // Whether this machine has PostgreSQL's server programs.
  static bool available();

  // postgresql://tb@127.0.0.1:PORT/DB?passfile=...: the password stays out of the URL.
  std::string url(const std::string& db = "postgres") const;
  // A new, empty database; its URL.
  std::string create_database();
  const std::string& password() const { return password_; }
  std::uint16_t port() const { return port_; }

  // Stops the server (SIGINT: PostgreSQL's fast shutdown, which ends its clients' sessions;
  // SIGKILL: a crash) and starts it again on the same port and data.
  void stop(int sig = SIGINT);
  void start();
  pid_t pid() const { return server_.pid(); }
  std::string log() const { return server_.log(); }

 private:
  std::vector<std::string> as_server_user(std::vector<std::string> argv) const;

  TempDir dir_;
  std::string bin_;
  std::string password_ = "pg-test-password-6f1d";
  std::uint16_t port_ = 0;
  Child server_;
  int databases_ = 0;
};

// One server for the whole test process, started at its first use and stopped by PID at exit.
Postgres& shared_postgres();

}  // namespace tbtest
