// Hook commands (hooks.hpp), started with posix_spawn.
#include "hooks.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <vector>

extern char** environ;

namespace sa {

void Hooks::run(const std::optional<std::string>& command,
                const std::map<std::string, std::string>& vars) const {
  if (!command) return;
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) env_storage.emplace_back(*e);
  env_storage.push_back("TB_SCANNER=" + scanner_);
  env_storage.push_back("TB_GATE=" + gate_);
  for (const auto& [k, v] : vars) env_storage.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string shell = "/bin/sh", dash_c = "-c", text = *command;
  char* argv[] = {shell.data(), dash_c.data(), text.data(), nullptr};
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGCHLD);  // we ignore it (to reap hooks); the hook must not inherit that
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  // The hook's stdin is /dev/null: it must never read the scanner's codes from our stdin.
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  if (const int rc = posix_spawn(&pid, "/bin/sh", &files, &attr, argv, envp.data()); rc != 0) {
    spdlog::error("hook '{}' could not start: {}", *command, std::strerror(rc));
  }
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attr);
}

}  // namespace sa
