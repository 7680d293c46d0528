// Settings from four layers, highest first: the command line, the environment
// (TICKET_BRIDGE_<NAME>), the TOML config file (--config / TICKET_BRIDGE_CONFIG), the default.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>

namespace tb {

// Bad settings: reported with exit code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

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

  const std::string& get(const std::string& name) const;
  // Empty, or not a setting of this command: nothing.
  std::optional<std::string> get_opt(const std::string& name) const;
  std::int64_t get_int(const std::string& name, std::int64_t min, std::int64_t max) const;
  // Where the value came from: "command line", "environment", "config file" or "default".
  const std::string& source(const std::string& name) const;

  static std::string env_name(const std::string& name);

 private:
  struct Entry {
    std::string cli_value;
    CLI::Option* option = nullptr;
    std::string default_value;
    std::string value;
    std::string source;
  };
  CLI::App& app_;
  std::string config_path_;
  std::map<std::string, Entry> entries_;
};

// Parses "90", "90s", "15m", "1h", "2d" into seconds.
std::optional<std::int64_t> parse_duration_s(const std::string& text);

}  // namespace tb
