// The staff's own commands on ADMIT, REJECT and NO ANSWER (a buzzer, a turnstile relay): run by
// /bin/sh with the scan in TB_* variables, stdin from /dev/null, never waited for.
#pragma once

#include <map>
#include <optional>
#include <string>

namespace sa {

class Hooks {
 public:
  Hooks(std::string scanner, std::string gate)
      : scanner_(std::move(scanner)), gate_(std::move(gate)) {}

  // Starts `command` (nothing when unset) with the environment plus TB_SCANNER, TB_GATE and
  // `vars`. The child is reaped by the kernel (SIGCHLD is ignored, see main.cpp).
  void run(const std::optional<std::string>& command,
           const std::map<std::string, std::string>& vars) const;

 private:
  std::string scanner_;
  std::string gate_;
};

}  // namespace sa
