// The options of `ticket-bridge serve` that need more than a range check (serve_options.hpp).
#include "serve_options.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string_view>
#include <type_traits>

#include "commands.hpp"
#include "ids.hpp"

namespace tb {

void add_serve_settings(Settings& s) {
  add_common_settings(s);
  s.add("mqtt", "broker URL (mqtt://host:port, tcp://; TLS: ssl:// or mqtts://)",
        "mqtt://127.0.0.1:1883");
  s.add("mqtt-cafile",
        "TLS: CA certificate(s) that sign the broker's certificate (default: the "
        "system's CAs)");
  s.add("mqtt-cert", "TLS: client certificate (PEM), when the broker asks for one");
  s.add("mqtt-key", "TLS: the client certificate's private key (PEM)");
  s.add("mqtt-tls-check-hostname",
        "TLS: the broker's certificate must name the host of --mqtt (true or false)", "true");
  s.add("listen", "HTTP listen address HOST:PORT", "127.0.0.1:8080");
  s.add("api-key-file", "file holding the HTTP API key (generated when the default is missing)",
        kDefaultApiKeyFile);
  s.add("instance",
        "name of this bridge: MQTT client ids ticket-bridge-<instance>[-events], "
        "bridge/<instance>/status",
        "main");
  s.add("mqtt-username", "MQTT user name");
  s.add("mqtt-password-file", "file holding the MQTT password");
  s.add("mqtt-shared-group", "subscribe as $share/<group>/tickets/scan, to run several bridges");
  s.add("mqtt-session-expiry",
        "how long the broker keeps this bridge's session, and the scans for it, while it is away "
        "(90s, 5m, 7d); in a shared group, what a bridge that died for good keeps taking",
        "7d");
  s.add("peer-events",
        "true: hear every bridge's events on users/+/events, so that this bridge's WebSocket "
        "clients get the events other bridges on the same store decide, live; false: for a "
        "bridge that is alone on its store (saves a second MQTT connection and a message per "
        "event)",
        "true");
  s.add("db-sync", "full (survives power loss) or normal (survives a killed process)", "full");
  s.add("http-threads", "threads serving HTTP and WebSocket", "1");
  s.add("access-log",
        "true: one info line per HTTP request (method, path without the query, status, bytes, "
        "ms, client address)",
        "false");
  s.add("retention-events", "events kept per uid for replay", "100");
  s.add("retention-age", "how long events are kept for replay (90m, 24h, 7d)", "24h");
  s.add("ws-ping-interval-ms", "WebSocket ping interval", "25000");
  s.add("ws-pong-timeout-ms", "close a WebSocket whose pong is this late", "10000");
  s.add("ws-hello-timeout-ms", "close a WebSocket without a hello after this", "10000");
  s.add("ws-max-queue-bytes",
        "unsent bytes after which a WebSocket client is closed as too slow (1013)", "262144");
  s.add("max-connections",
        "open HTTP and WebSocket connections in all; more get 503 (a WebSocket: close "
        "1013). Default: 10000, or the open-file limit less 64 when that is lower",
        "10000");
  s.add("max-connections-per-source",
        "open connections from one address (a mobile carrier's NAT shares one among "
        "many phones)",
        "4000");
  s.add("trusted-proxy",
        "addresses or networks of reverse proxies (comma-separated, such as 127.0.0.1,::1): "
        "their X-Forwarded-For names the client, for --max-connections-per-source of WebSocket "
        "connections and for the logs. Empty: the header is ignored",
        "");
  s.add("max-ws-per-uid", "open WebSocket connections of one uid; more: close 1013", "16");
  s.add("scan-repeat-window",
        "embedded scanners (tickets/scan/<id>): the same code from the same scanner "
        "within this is one scan, answered again (0 = off)",
        "3s");
  s.add("result-text-max", "bytes of the text answer on tickets/result/<id>/text (16-1024)", "64");
  s.add("result-text-ascii",
        "true: the text answer is ASCII only (accents dropped), for simple displays", "false");
  s.add("group-commit-us",
        "while scans arrive often, the writer waits up to this many microseconds from "
        "a batch's first scan for more, so that one fsync commits them all (0 = never "
        "wait; at most 20000)",
        "1000");
  s.add("gate-feed-interval",
        "how often the snapshot of the gates' feed (what signed tickets used, which are "
        "revoked: docs/offline.md) is read and published when it changed; changes also go out "
        "at once (0 = no feed)",
        "60s");
  s.add("max-gates",
        "gates counted apart on the operator page, /api/v1/stats and the gate label of /metrics; "
        "scans at further gates count under gate \"other\"",
        "64");
  s.add("operator-interval-ms",
        "the operator page's updates (/operator/ws) go out at most this often, and only when a "
        "figure changed",
        "500");
  s.add("max-operator-clients", "open /operator/ws connections; more: close 1013", "32");
  s.add("venue-time-zone",
        "time zone of the times on the text answer (and in the log), such as "
        "Europe/Berlin (default: the host's)");
}

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
  rules.text.ascii = s.get_bool("result-text-ascii");
  return rules;
}

ServeConfig read_serve_config(const Settings& s, Problems& problems) {
  ServeConfig c;
  problems.check([&] { c.listen = parse_listen(s.get("listen")); });
  problems.check([&] { apply_venue_time_zone(s); });
  problems.check([&] { c.rules = scan_rules(s); });
  const auto feed = parse_duration_s(s.get("gate-feed-interval"));
  if (!feed || *feed > 24 * 3600) {
    problems.add("--gate-feed-interval must be a duration of at most 24h, such as 60s, 5m or 0");
  } else {
    c.gate_feed_interval = std::chrono::seconds(*feed);
    c.rules.gate_feed = *feed > 0;
  }
  problems.check(
      [&] { c.max_gates = static_cast<std::size_t>(s.get_int("max-gates", 1, 10'000)); });
  problems.check(
      [&] { c.group_commit = std::chrono::microseconds{s.get_int("group-commit-us", 0, 20'000)}; });
  auto& mo = c.mqtt;
  mo.uri = s.get("mqtt");
  mo.instance = s.get("instance");
  if (!is_valid_id(mo.instance)) problems.add("--instance must be a valid MQTT topic level");
  if (mo.instance.ends_with("-events")) {
    problems.add(
        "--instance must not end in -events: ticket-bridge-<instance>-events is the client id of "
        "the bridge's second MQTT connection, for other bridges' events");
  }
  mo.username = s.get_opt("mqtt-username");
  auto& tls = mo.tls;
  tls.cafile = s.get_opt("mqtt-cafile");
  tls.certfile = s.get_opt("mqtt-cert");
  tls.keyfile = s.get_opt("mqtt-key");
  problems.check([&] { tls.check_hostname = s.get_bool("mqtt-tls-check-hostname"); });
  if (!is_tls_url(mo.uri) && (tls.cafile || tls.certfile || tls.keyfile)) {
    problems.add("--mqtt-cafile, --mqtt-cert and --mqtt-key need an ssl:// or mqtts:// URL");
  }
  if (tls.certfile.has_value() != tls.keyfile.has_value()) {
    problems.add("--mqtt-cert and --mqtt-key go together");
  }
  for (const auto& file : {tls.cafile, tls.certfile, tls.keyfile}) {
    if (file && ::access(file->c_str(), R_OK) != 0) {
      problems.add("cannot read " + *file + ": " + std::strerror(errno));
    }
  }
  mo.shared_group = s.get_opt("mqtt-shared-group");
  if (mo.shared_group && !is_valid_id(*mo.shared_group)) {
    problems.add("--mqtt-shared-group must be a valid MQTT topic level");
  }
  const auto expiry = parse_duration_s(s.get("mqtt-session-expiry"));
  if (!expiry || *expiry > INT32_MAX) {
    problems.add("--mqtt-session-expiry must be a duration such as 300, 5m or 7d");
  } else {
    mo.session_expiry_s = static_cast<std::int32_t>(*expiry);
  }
  const auto sync = s.get("db-sync");
  if (sync != "full" && sync != "normal") problems.add("--db-sync must be full or normal");

  problems.check([&] { c.retention_events = s.get_int("retention-events", 1, 1'000'000); });
  const auto age = parse_duration_s(s.get("retention-age"));
  if (!age || *age == 0) {
    problems.add("--retention-age must be a duration such as 3600, 90m, 24h or 7d");
  } else {
    c.retention_age_s = *age;
  }
  auto& ho = c.http;
  ho.host = c.listen.host;
  ho.port = c.listen.port;
  const auto ms = [&](const char* name, std::chrono::milliseconds& out) {
    problems.check([&] { out = std::chrono::milliseconds(s.get_int(name, 100, 3'600'000)); });
  };
  ms("ws-ping-interval-ms", ho.ws.ping_interval);
  ms("ws-pong-timeout-ms", ho.ws.pong_timeout);
  ms("ws-hello-timeout-ms", ho.ws.hello_timeout);
  const auto count = [&](const char* name, std::int64_t min, std::int64_t max, auto& out) {
    problems.check([&] {
      out = static_cast<std::remove_reference_t<decltype(out)>>(s.get_int(name, min, max));
    });
  };
  count("http-threads", 1, 64, ho.threads);
  problems.check([&] { ho.access_log = s.get_bool("access-log"); });
  problems.check([&] { c.peer_events = s.get_bool("peer-events"); });
  count("ws-max-queue-bytes", 1024, 1LL << 30, ho.ws.max_queue_bytes);
  count("max-ws-per-uid", 1, 1'000'000, ho.ws.max_per_uid);
  count("max-operator-clients", 1, 10'000, ho.ws.max_operators);
  problems.check([&] {
    c.operator_interval = std::chrono::milliseconds{s.get_int("operator-interval-ms", 100, 10'000)};
  });
  count("max-connections-per-source", 1, 10'000'000, ho.max_per_source);
  problems.check([&] { ho.max_connections = connection_cap(s); });
  problems.check([&] {
    std::string why;
    auto proxies = TrustedProxies::parse(s.get("trusted-proxy"), &why);
    if (!proxies) throw UsageError("--trusted-proxy: " + why);
    ho.trusted_proxies = std::move(*proxies);
  });
  return c;
}

}  // namespace tb
