// Real processes and sockets for the test suite.
#include "process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace tbtest {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/tb-test-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::uint16_t free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    throw std::runtime_error("bind to port 0 failed");
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

bool port_open(std::uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    out.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

namespace {

// Everything the child needs, prepared before fork(): after fork() in a threaded process only
// async-signal-safe calls are allowed, so the child must not allocate.
struct ExecPlan {
  std::string program;
  std::vector<std::string> args_storage, env_storage;
  std::vector<char*> argv, envp;
  std::string cwd;

  ExecPlan(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
           std::string dir)
      : args_storage(args), cwd(std::move(dir)) {
    program = resolve(args.at(0));
    std::map<std::string, std::string> merged;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string kv = *e;
      const auto eq = kv.find('=');
      if (eq != std::string::npos) merged[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    // No config file unless a test names one: a config installed on this machine
    // (/etc/ticket-bridge/config.toml) or one in the caller's environment must never redirect
    // the suite's bridges and commands to a real database.
    merged["TICKET_BRIDGE_CONFIG"] = "";
    for (const auto& [k, v] : env) merged[k] = v;
    for (const auto& [k, v] : merged) env_storage.push_back(k + "=" + v);
    for (auto& a : args_storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env_storage) envp.push_back(e.data());
    envp.push_back(nullptr);
  }

  static std::string resolve(const std::string& name) {
    if (name.find('/') != std::string::npos) return name;
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
      const std::string candidate = dir + "/" + name;
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return name;
  }

  [[noreturn]] void exec() const {
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    // Signals blocked by the test runner's threads must not stay blocked in the child.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(program.c_str(), argv.data(), envp.data());
    _exit(127);
  }
};

}  // namespace

RunResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
              const std::string& stdin_text, std::chrono::milliseconds timeout) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0 ||
      pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  const ExecPlan plan(argv, env, {});
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    plan.exec();
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (!stdin_text.empty()) {
    const ssize_t n = write(in_pipe[1], stdin_text.data(), stdin_text.size());
    (void)n;
  }
  close(in_pipe[1]);

  RunResult r;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  bool killed = false;
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 && !killed) {
      kill(pid, SIGKILL);
      killed = true;
    }
    if (poll(fds, 2, 100) < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP)) == 0) continue;
      char buf[4096];
      const ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = exit_code_of(status);
  return r;
}

Child::Child(const std::vector<std::string>& argv, const std::string& log_path,
             const std::map<std::string, std::string>& env, const std::string& cwd, bool pipe_stdin)
    : log_path_(log_path) {
  const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot open " + log_path);
  int in_pipe[2] = {-1, -1};
  if (pipe_stdin && pipe2(in_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  const int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const ExecPlan plan(argv, env, cwd);
  pid_ = fork();
  if (pid_ == 0) {
    dup2(pipe_stdin ? in_pipe[0] : devnull, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    plan.exec();
  }
  close(fd);
  close(devnull);
  if (pipe_stdin) {
    close(in_pipe[0]);
    stdin_fd_ = in_pipe[1];
  }
  if (pid_ < 0) throw std::runtime_error("fork failed");
}

void Child::write_stdin(const std::string& text) {
  if (stdin_fd_ < 0) return;
  const ssize_t n = write(stdin_fd_, text.data(), text.size());
  (void)n;
}

void Child::close_stdin() {
  if (stdin_fd_ >= 0) close(stdin_fd_);
  stdin_fd_ = -1;
}

Child::Child(Child&& o) noexcept
    : pid_(o.pid_), stdin_fd_(o.stdin_fd_), log_path_(std::move(o.log_path_)), status_(o.status_) {
  o.pid_ = -1;
  o.stdin_fd_ = -1;
}

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    stop(SIGKILL);
    close_stdin();
    pid_ = o.pid_;
    stdin_fd_ = o.stdin_fd_;
    log_path_ = std::move(o.log_path_);
    status_ = o.status_;
    o.pid_ = -1;
    o.stdin_fd_ = -1;
  }
  return *this;
}

Child::~Child() {
  close_stdin();
  stop(SIGKILL);
}

bool Child::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    status_ = status;
    pid_ = -1;
    return false;
  }
  return true;
}

std::optional<int> Child::wait_exit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return status_;
  if (!wait_until([this] { return !running(); }, timeout)) return std::nullopt;
  return status_;
}

int Child::stop(int sig, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return status_;
  kill(pid_, sig);
  if (!wait_exit(timeout)) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    status_ = status;
    pid_ = -1;
  }
  return status_;
}

}  // namespace tbtest
