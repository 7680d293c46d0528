// The options of `ticket-bridge serve` that need more than a range check (serve_options.hpp).
#include "serve_options.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <string_view>

#include "commands.hpp"

namespace tb {

HostPort parse_listen(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    throw UsageError("--listen must be HOST:PORT, such as 127.0.0.1:8080 or [::1]:8080");
  }
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string port_text = text.substr(colon + 1);
  int port = -1;
  try {
    std::size_t used = 0;
    port = std::stoi(port_text, &used);
    if (used != port_text.size()) port = -1;
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535) throw UsageError("--listen port must be 0-65535");
  return {host, static_cast<std::uint16_t>(port)};
}

std::size_t connection_cap(const Settings& s) {
  auto cap = static_cast<std::size_t>(s.get_int("max-connections", 1, 10'000'000));
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) != 0 || files.rlim_cur == RLIM_INFINITY) return cap;
  const std::size_t room = files.rlim_cur > 128 ? files.rlim_cur - 64 : 64;
  if (cap <= room) return cap;
  if (s.source("max-connections") == "default") {
    spdlog::info("max-connections: {} (the open-file limit is {})", room, files.rlim_cur);
    return room;
  }
  spdlog::warn(
      "max-connections {} is above what the open-file limit ({}) allows: accepts will "
      "fail before the cap is reached",
      cap, files.rlim_cur);
  return cap;
}

void apply_venue_time_zone(const Settings& s) {
  const auto zone = s.get_opt("venue-time-zone");
  if (!zone) return;
  const bool plain = zone->find("..") == std::string::npos && zone->front() != '/' &&
                     zone->find_first_not_of(
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                         "0123456789_+-/") == std::string::npos;
  const char* dir = std::getenv("TZDIR");
  const std::string file = std::string(dir != nullptr ? dir : "/usr/share/zoneinfo") + "/" + *zone;
  // A zone file starts with "TZif"; zone.tab, leapseconds and the like do not, and glibc would
  // silently take UTC for them.
  char magic[4] = {};
  std::ifstream in(plain ? file : std::string(), std::ios::binary);
  if (in) in.read(magic, sizeof magic);
  if (!plain || !in || std::string_view(magic, sizeof magic) != "TZif") {
    throw UsageError("--venue-time-zone: no time zone " + *zone + " in " + file +
                     " (a name such as Europe/Berlin, America/New_York or UTC; package tzdata)");
  }
  setenv("TZ", zone->c_str(), 1);
  tzset();
  spdlog::info("venue time zone: {}", *zone);
}

ScanRules scan_rules(const Settings& s) {
  ScanRules rules;
  const auto window = parse_duration_s(s.get("scan-repeat-window"));
  if (!window || *window > 3600) {
    throw UsageError("--scan-repeat-window must be a duration of at most 1h, such as 3, 3s or 0");
  }
  rules.repeat_window_ms = *window * 1000;
  rules.text.max_bytes = static_cast<std::size_t>(
      s.get_int("result-text-max", static_cast<std::int64_t>(kMinTextBytes),
                static_cast<std::int64_t>(kMaxTextBytes)));
  const auto& ascii = s.get("result-text-ascii");
  if (ascii != "true" && ascii != "false") {
    throw UsageError("--result-text-ascii must be true or false");
  }
  rules.text.ascii = ascii == "true";
  return rules;
}

}  // namespace tb
