// Layered settings: command line > environment > config file > default.
#include "settings.hpp"

#include <toml++/toml.h>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <set>

namespace tb {

namespace {
// Every key any command accepts in the config file: one file serves all commands, so a key is known
// when any command registered the option (main() registers every command's before parsing).
std::set<std::string>& known_keys() {
  static std::set<std::string> keys;
  return keys;
}

std::string key_of(const std::string& name) {
  std::string k = name;
  for (auto& c : k) {
    if (c == '-') c = '_';
  }
  return k;
}
}  // namespace

Settings::Settings(CLI::App& app) : app_(app) {
  config_option_ = app_.add_option(
      "--config", config_path_,
      std::string("TOML file with settings (keys as the long options, '-' written as '_'); env "
                  "TICKET_BRIDGE_CONFIG; default: ") +
          kSystemConfig + " when it exists, else none (an empty name: none)");
}

std::string Settings::env_name(const std::string& name) {
  std::string env = "TICKET_BRIDGE_";
  for (const char c : name) {
    env.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return env;
}

void Settings::add(const std::string& name, const std::string& help, std::string default_value) {
  auto& e = entries_[name];
  known_keys().insert(key_of(name));
  e.default_value = std::move(default_value);
  e.help = help;
  std::string full_help = help + " (env " + env_name(name) + ")";
  e.option = app_.add_option("--" + name, e.cli_value, full_help);
  if (!e.default_value.empty()) e.option->default_str(e.default_value);
}

void Settings::resolve() {
  const auto problems = resolve_all();
  if (!problems.empty()) throw UsageError(problems.front());
}

std::vector<std::string> Settings::resolve_all() {
  std::vector<std::string> problems;
  if (config_option_->count() > 0) {
    config_origin_ = "--config";
  } else if (const char* env = std::getenv("TICKET_BRIDGE_CONFIG"); env != nullptr) {
    config_path_ = env;
    config_origin_ = "TICKET_BRIDGE_CONFIG";
  } else if (std::error_code ec; std::filesystem::exists(kSystemConfig, ec)) {
    config_path_ = kSystemConfig;
    config_origin_ = "the system's default";
  } else {
    config_path_.clear();
    config_origin_.clear();
  }
  if (config_path_.empty()) config_origin_.clear();
  std::map<std::string, std::string> file_values;
  if (!config_path_.empty()) {
    const std::string file = "config file " + config_path_;
    toml::table table;
    try {
      table = toml::parse_file(config_path_);
    } catch (const toml::parse_error& e) {
      std::string where;
      if (e.source().begin) where = " at line " + std::to_string(e.source().begin.line);
      problems.push_back(file + where + ": " + std::string(e.description()));
    }
    for (const auto& [key, node] : table) {
      const std::string k(key.str());
      std::string line;
      if (node.source().begin) line = " (line " + std::to_string(node.source().begin.line) + ")";
      if (known_keys().count(k) == 0) {
        problems.push_back(file + ": unknown key '" + k + "'" + line);
      } else if (const auto* s = node.as_string()) {
        file_values[k] = s->get();
      } else if (const auto* i = node.as_integer()) {
        file_values[k] = std::to_string(i->get());
      } else if (const auto* b = node.as_boolean()) {
        file_values[k] = b->get() ? "true" : "false";
      } else {
        problems.push_back(file + ": '" + k + "' must be a string, an integer or a boolean" + line);
      }
    }
  }
  for (auto& [name, e] : entries_) {
    if (e.option->count() > 0) {
      e.value = e.cli_value;
      e.source = "command line";
    } else if (const char* env = std::getenv(env_name(name).c_str()); env != nullptr) {
      e.value = env;
      e.source = "environment";
    } else if (auto it = file_values.find(key_of(name)); it != file_values.end()) {
      e.value = it->second;
      e.source = "config file";
    } else {
      e.value = e.default_value;
      e.source = "default";
    }
  }
  return problems;
}

std::vector<Settings::Described> Settings::described() const {
  std::vector<Described> all;
  all.reserve(entries_.size());
  for (const auto& [name, e] : entries_) all.push_back({name, e.help, e.default_value});
  return all;
}

const std::string& Settings::get(const std::string& name) const {
  return entries_.at(name).value;
}

std::optional<std::string> Settings::get_opt(const std::string& name) const {
  const auto it = entries_.find(name);
  if (it == entries_.end() || it->second.value.empty()) return std::nullopt;
  return it->second.value;
}

const std::string& Settings::source(const std::string& name) const {
  return entries_.at(name).source;
}

std::int64_t Settings::get_int(const std::string& name, std::int64_t min, std::int64_t max) const {
  const auto& text = get(name);
  std::size_t used = 0;
  std::int64_t v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || v < min || v > max) {
    throw UsageError("--" + name + " must be a whole number from " + std::to_string(min) + " to " +
                     std::to_string(max) + " (got '" + text + "' from the " + source(name) + ")");
  }
  return v;
}

bool Settings::get_bool(const std::string& name) const {
  const auto& text = get(name);
  if (text != "true" && text != "false") {
    throw UsageError("--" + name + " must be true or false (got '" + text + "' from the " +
                     source(name) + ")");
  }
  return text == "true";
}

std::optional<std::int64_t> parse_duration_s(const std::string& text) {
  if (text.empty()) return std::nullopt;
  std::size_t used = 0;
  std::int64_t n = 0;
  try {
    n = std::stoll(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (n < 0) return std::nullopt;
  const std::string unit = text.substr(used);
  std::int64_t mult = 0;
  if (unit.empty() || unit == "s") {
    mult = 1;
  } else if (unit == "m") {
    mult = 60;
  } else if (unit == "h") {
    mult = 3600;
  } else if (unit == "d") {
    mult = 86400;
  } else {
    return std::nullopt;
  }
  if (n > INT64_MAX / mult) return std::nullopt;
  return n * mult;
}

}  // namespace tb
