// `ticket-bridge serve`: wires the store, the writer, the MQTT link and the HTTP listener
// together, and shuts them down in order on SIGINT or SIGTERM.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "api.hpp"
#include "commands.hpp"
#include "event_hub.hpp"
#include "http_server.hpp"
#include "mqtt_link.hpp"
#include "outbox.hpp"
#include "read_pool.hpp"
#include "secrets.hpp"
#include "serve_options.hpp"
#include "writer.hpp"

namespace tb {

namespace {

// SIGHUP: reads the settings again (config file, environment) and applies what can change
// without a restart: the API key file and the log level. All or nothing.
void reload(const Settings& s, Api& api) {
  spdlog::info("received SIGHUP, reloading the API key file and the log level");
  try {
    Settings fresh = s;
    fresh.resolve();
    const std::string level = fresh.get("log-level");
    if (spdlog::level::from_str(level) == spdlog::level::off && level != "off") {
      throw UsageError("--log-level must be trace, debug, info, warn, error or off");
    }
    std::string key = load_secret(fresh.get("api-key-file"), false, "API key");
    api.set_api_key(std::move(key));
    spdlog::set_level(spdlog::level::from_str(level));
    spdlog::info(
        "reloaded the API key from {} and the log level ({}); every other setting (listen, mqtt, "
        "db, jwt-secret-file, ...) needs a restart to change",
        fresh.get("api-key-file"), level);
  } catch (const std::exception& e) {
    spdlog::error("reload failed, nothing changed: {}", e.what());
  }
}

}  // namespace

int cmd_serve(const Settings& s) {
  // Signals are taken by sigwait below; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);  // reload, see reload()
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A write past a file-size limit (RLIMIT_FSIZE) is a failed write like a full disk (EFBIG),
  // reported by /readyz and retried, not a reason to die.
  signal(SIGXFSZ, SIG_IGN);

  const HostPort listen = parse_listen(s.get("listen"));
  apply_venue_time_zone(s);
  const ScanRules rules = scan_rules(s);
  const auto http_threads = static_cast<int>(s.get_int("http-threads", 1, 64));
  const std::chrono::microseconds group_commit{s.get_int("group-commit-us", 0, 20'000)};
  MqttOptions mo;
  mo.uri = s.get("mqtt");
  mo.instance = s.get("instance");
  if (!is_valid_id(mo.instance)) throw UsageError("--instance must be a valid MQTT topic level");
  mo.username = s.get_opt("mqtt-username");
  if (auto f = s.get_opt("mqtt-password-file"))
    mo.password = load_secret(*f, false, "MQTT password");
  auto& tls = mo.tls;
  tls.cafile = s.get_opt("mqtt-cafile");
  tls.certfile = s.get_opt("mqtt-cert");
  tls.keyfile = s.get_opt("mqtt-key");
  const auto& check_hostname = s.get("mqtt-tls-check-hostname");
  if (check_hostname != "true" && check_hostname != "false") {
    throw UsageError("--mqtt-tls-check-hostname must be true or false");
  }
  tls.check_hostname = check_hostname == "true";
  if (!is_tls_url(mo.uri) && (tls.cafile || tls.certfile || tls.keyfile)) {
    throw UsageError("--mqtt-cafile, --mqtt-cert and --mqtt-key need an ssl:// or mqtts:// URL");
  }
  if (tls.certfile.has_value() != tls.keyfile.has_value()) {
    throw UsageError("--mqtt-cert and --mqtt-key go together");
  }
  for (const auto& file : {tls.cafile, tls.certfile, tls.keyfile}) {
    if (file && ::access(file->c_str(), R_OK) != 0) {
      throw UsageError("cannot read " + *file + ": " + std::strerror(errno));
    }
  }
  mo.shared_group = s.get_opt("mqtt-shared-group");
  if (mo.shared_group && !is_valid_id(*mo.shared_group)) {
    throw UsageError("--mqtt-shared-group must be a valid MQTT topic level");
  }

  const auto retention_events = s.get_int("retention-events", 1, 1'000'000);
  const auto retention_age_s = parse_duration_s(s.get("retention-age"));
  if (!retention_age_s || *retention_age_s == 0) {
    throw UsageError("--retention-age must be a duration such as 3600, 90m, 24h or 7d");
  }
  HttpOptions ho{listen.host, listen.port, 64 * 1024, http_threads, WsOptions{}};
  ho.ws.ping_interval = std::chrono::milliseconds(s.get_int("ws-ping-interval-ms", 100, 3'600'000));
  ho.ws.pong_timeout = std::chrono::milliseconds(s.get_int("ws-pong-timeout-ms", 100, 3'600'000));
  ho.ws.hello_timeout = std::chrono::milliseconds(s.get_int("ws-hello-timeout-ms", 100, 3'600'000));
  ho.ws.max_queue_bytes =
      static_cast<std::size_t>(s.get_int("ws-max-queue-bytes", 1024, 1LL << 30));
  ho.ws.max_per_uid = static_cast<std::size_t>(s.get_int("max-ws-per-uid", 1, 1'000'000));
  ho.max_connections = connection_cap(s);
  ho.max_per_source =
      static_cast<std::size_t>(s.get_int("max-connections-per-source", 1, 10'000'000));

  std::unique_ptr<Store> store, read_store;
  try {
    store = open_store(s, Create::Always);
    read_store = open_store(s, Create::Always);
  } catch (const sql::Error& e) {
    spdlog::critical("cannot open the database {}: {}", s.get("db"), e.what());
    return 1;
  }
  ApiConfig api_config;
  api_config.jwt_secret = jwt_secret(s, Create::Always);
  api_config.api_key =
      load_secret(s.get("api-key-file"), s.source("api-key-file") == "default", "API key");

  Metrics metrics;
  Health health;
  EventHub hub;
  ReadPool reader(std::move(read_store));
  // The link first: the writer answers through it, and it hands scans to the writer once started.
  MqttLink mqtt(mo, metrics, health);
  Outbox outbox;
  WriterOptions po;
  po.scans = rules;
  po.group_commit = group_commit;
  po.periodic.push_back(
      {[retention_events, age_ms = *retention_age_s * 1000](Store& st, TaskOutcome&) {
         const auto n = st.prune_events(retention_events, now_ms() - age_ms, 10'000);
         if (n > 0) spdlog::debug("retention: dropped {} old events", n);
       },
       std::chrono::minutes(1)});
  po.periodic.push_back(
      {[&outbox](Store& st, TaskOutcome&) { outbox.flush(st); }, std::chrono::seconds(1)});
  // The writer's publishes of one batch, handed to the MQTT side at once (its thread only).
  std::vector<MqttOutbound> outgoing;
  po.after_batch = [&mqtt, &outgoing] { mqtt.publish_all(outgoing); };
  Writer writer(
      *store, metrics, health, [&mqtt, &outgoing](Answer a) { mqtt.publish_answer(a, &outgoing); },
      [&mqtt, &hub, &outbox, &outgoing](const std::shared_ptr<const StoredEvent>& e) {
        mqtt.publish_event(*e, &outbox, &outgoing);
        return hub.publish(e);
      },
      po);
  writer.start();

  // After every connect: write the marks, then publish what the broker has not acknowledged
  // (outbox.hpp), a page per reader job. Paho's thread only hands this over to the writer.
  std::function<void(OutboxCursor, std::uint64_t)> republish_from = [&](OutboxCursor cursor,
                                                                        std::uint64_t generation) {
    reader.submit([&, cursor, generation](Store& st) mutable {
      try {
        republish_page(st, cursor, [&](StoredEvent e) { mqtt.publish_event(e, &outbox); });
      } catch (const std::exception& e) {
        spdlog::error("outbox: reading the unacknowledged events: {}", e.what());
        return;
      }
      if (!cursor.done) return republish_from(std::move(cursor), generation);
      outbox.end_republish(generation);
      metrics.events_republished.fetch_add(cursor.sent, std::memory_order_relaxed);
      if (cursor.sent > 0) {
        spdlog::info("outbox: published {} events the broker had not acknowledged", cursor.sent);
      }
    });
  };
  const auto republish = [&] {
    const auto generation = outbox.begin_republish();
    writer.submit(WriteTask{
        [&outbox](Store& st, TaskOutcome&) { outbox.flush(st); },
        [&, generation](TaskOutcome&) { republish_from(OutboxCursor{}, generation); }, true});
  };
  if (auto err =
          mqtt.start([&writer](InboundScan in) { writer.submit(std::move(in)); }, republish)) {
    spdlog::critical("{}", *err);
    writer.stop();
    return 1;
  }

  Api api(api_config, writer, reader, metrics, health);
  WsServices ws;
  ws.verify = [secret = api_config.jwt_secret](std::string_view token) {
    return verify_token(token, secret, now_ms() / 1000);
  };
  ws.hub = &hub;
  ws.metrics = &metrics;
  ws.replay = [&reader](const std::string& uid, std::optional<std::int64_t> since,
                        const ReplayPage& page, std::function<void(std::optional<Replay>)> done) {
    reader.submit([uid, since, page, done = std::move(done)](Store& st) {
      try {
        done(st.replay(uid, since, page));
      } catch (const std::exception& e) {
        spdlog::error("replay for uid {}: {}", uid, e.what());
        done(std::nullopt);
      }
    });
  };
  HttpServer http(
      ho,
      [&api](HttpRequest r, Responder respond) { api.handle(std::move(r), std::move(respond)); },
      ws);
  if (auto err = http.start()) {
    spdlog::critical("{}", *err);
    writer.stop();
    mqtt.stop();
    return 1;
  }
  spdlog::info("ticket-bridge serving: instance {}, broker {}, http {}:{}, database {}",
               mo.instance, mo.uri, listen.host, http.port(), s.get("db"));

  int sig = 0;
  for (;;) {
    sigwait(&signals, &sig);
    if (sig != SIGHUP) break;
    reload(s, api);
  }
  spdlog::info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  http.stop();    // no new requests; WebSocket clients get a close frame (1001)
  reader.stop();  // replays still queued answer into the stopped server, harmlessly
  writer.stop();  // decides and answers what already arrived
  mqtt.stop();    // then says offline and leaves; the broker keeps new scans for our session
  try {           // the marks the last acknowledgements moved
    Store::Transaction tx(*store);
    outbox.flush(*store);
    tx.commit();
  } catch (const std::exception& e) {
    spdlog::warn("outbox: the last marks were not written ({}): a restart publishes them again",
                 e.what());
  }
  spdlog::info("stopped");
  return 0;
}

}  // namespace tb
