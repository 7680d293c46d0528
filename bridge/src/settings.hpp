// Settings from four layers, highest first: the command line, the environment
// (TICKET_BRIDGE_<NAME>), the TOML config file, the default. The config file is --config FILE,
// else TICKET_BRIDGE_CONFIG (set but empty: none), else /etc/ticket-bridge/config.toml when it
// exists (an installed host's), else none.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace tb {

// Bad settings: reported with exit code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The config file every command reads on an installed host when neither --config nor
// TICKET_BRIDGE_CONFIG names another (`ticket-bridge init` writes it).
inline constexpr const char* kSystemConfig = "/etc/ticket-bridge/config.toml";

class Settings {
 public:
  // Registers --config on `app`.
  explicit Settings(CLI::App& app);

  // Registers --<name> (a string option) with its help and default. The same name is read from
  // TICKET_BRIDGE_<NAME> (upper case, '-' as '_') and from the config key <name> ('-' as '_').
  void add(const std::string& name, const std::string& help, std::string default_value = {});

  // Call after parsing the command line. Throws UsageError for an unreadable config file or an
  // unknown key in it.
  void resolve();
  // The same, but every problem of the config file is returned, one line each; the keys that are
  // fine still take effect.
  std::vector<std::string> resolve_all();
  // The config file read (empty: none), and why that one: "--config", "TICKET_BRIDGE_CONFIG" or
  // "the system's default".
  const std::string& config_path() const { return config_path_; }
  const std::string& config_origin() const { return config_origin_; }

  const std::string& get(const std::string& name) const;
  // Empty, or not a setting of this command: nothing.
  std::optional<std::string> get_opt(const std::string& name) const;
  std::int64_t get_int(const std::string& name, std::int64_t min, std::int64_t max) const;
  // "true" or "false"; anything else throws a UsageError naming the setting.
  bool get_bool(const std::string& name) const;
  // Where the value came from: "command line", "environment", "config file" or "default".
  const std::string& source(const std::string& name) const;

  static std::string env_name(const std::string& name);

  struct Described {
    std::string name, help, default_value;
  };
  // Every setting of this command, by name (for the config file `init` writes).
  std::vector<Described> described() const;

 private:
  struct Entry {
    std::string cli_value;
    std::string help;
    CLI::Option* option = nullptr;
    std::string default_value;
    std::string value;
    std::string source;
  };
  CLI::App& app_;
  std::string config_path_;
  std::string config_origin_;
  CLI::Option* config_option_ = nullptr;
  std::map<std::string, Entry> entries_;
};

// Parses "90", "90s", "15m", "1h", "2d" into seconds.
std::optional<std::int64_t> parse_duration_s(const std::string& text);

}  // namespace tb
