// Test helpers for real processes and sockets: temp dirs, free loopback ports, child processes
// started with their output in a log file and stopped by PID.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tbtest {

// A fresh directory under $TMPDIR, removed with everything in it at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A port on 127.0.0.1 that was free a moment ago (bound to 0 and read back).
std::uint16_t free_port();

// True when something accepts TCP connections on 127.0.0.1:port.
bool port_open(std::uint16_t port);

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

std::string read_file(const std::string& path);
// `text` split at its newlines (a last line without one included).
std::vector<std::string> lines_of(const std::string& text);
void write_file(const std::string& path, const std::string& text);

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs a command to completion (argv[0] is the program), with extra environment variables and
// optional standard input. Bounded by `timeout`; killed when it runs longer.
RunResult run(const std::vector<std::string>& argv,
              const std::map<std::string, std::string>& env = {},
              const std::string& stdin_text = {},
              std::chrono::milliseconds timeout = std::chrono::seconds(30));

// A child process whose stdout and stderr go to `log_path`.
class Child {
 public:
  Child() = default;
  // With `pipe_stdin`, the child's standard input is a pipe fed by write_stdin().
  Child(const std::vector<std::string>& argv, const std::string& log_path,
        const std::map<std::string, std::string>& env = {}, const std::string& cwd = {},
        bool pipe_stdin = false);
  Child(Child&& o) noexcept;
  Child& operator=(Child&& o) noexcept;
  ~Child();

  pid_t pid() const { return pid_; }
  bool running();
  // Sends `sig` and waits up to `timeout` for the exit; SIGKILL after that. Returns the exit
  // status as from waitpid, or -1 when there was no process.
  int stop(int sig = 15, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Waits for the process to end by itself; nothing when it did not end within `timeout`.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  std::string log() const { return read_file(log_path_); }
  void write_stdin(const std::string& text);
  void close_stdin();

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  std::string log_path_;
  int status_ = -1;
};

// Exit code of a waitpid status, or 128 + signal.
int exit_code_of(int status);

}  // namespace tbtest
