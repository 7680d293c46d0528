// `ticket-bridge serve`: wires the store, the writer, the MQTT link and the HTTP listener
// together, and shuts them down in order on SIGINT or SIGTERM.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "api.hpp"
#include "commands.hpp"
#include "event_hub.hpp"
#include "gate_feed.hpp"
#include "http_server.hpp"
#include "mqtt_link.hpp"
#include "outbox.hpp"
#include "peer_events.hpp"
#include "read_pool.hpp"
#include "secrets.hpp"
#include "serve_options.hpp"
#include "venue_board.hpp"
#include "version.hpp"
#include "writer.hpp"

namespace tb {

namespace {

// How often a bridge publishes the events left unsettled (outbox.hpp), and how old they must be.
constexpr std::chrono::seconds kOutboxSweepEvery{60};
// How often the venue's ticket counts are read from the store again (venue_board.hpp): the
// decisions keep them up to date in between; this takes in new tickets, revokes, and the other
// bridges' decisions on a shared store.
constexpr std::chrono::seconds kVenueRecount{30};

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

  Problems problems;
  ServeConfig config = read_serve_config(s, problems);
  if (!problems.empty()) {  // bad settings: each named, exit 2 (as a UsageError)
    for (const auto& line : problems.lines()) std::cerr << "ticket-bridge: " << line << "\n";
    return 2;
  }
  const HostPort& listen = config.listen;
  const ScanRules& rules = config.rules;
  const auto group_commit = config.group_commit;
  MqttOptions& mo = config.mqtt;
  if (auto f = s.get_opt("mqtt-password-file"))
    mo.password = load_secret(*f, false, "MQTT password");
  const auto retention_events = config.retention_events;
  const auto retention_age_s = config.retention_age_s;
  const HttpOptions& ho = config.http;
  if (!s.config_path().empty()) {
    spdlog::info("config file: {} ({})", s.config_path(), s.config_origin());
  }

  std::unique_ptr<Store> store, read_store;
  try {
    store = open_store(s, Create::Always);
    read_store = open_store(s, Create::Always);
  } catch (const DbError& e) {
    spdlog::critical("cannot open the database {}: {}", s.get("db"), e.what());
    return 1;
  }
  ApiConfig api_config;
  api_config.jwt_secret = jwt_secret(s, Create::Always);
  api_config.signing_key = signing_key(s);
  if (api_config.signing_key) {
    spdlog::info("new tickets get signed codes (key {})", signing_key_file(s));
  }
  // Rotating codes (docs/offline.md): the key checks the gates' scans and gives the ticket pages
  // their secrets.
  const auto rotation = rotating_key(s);
  api_config.rotating_default = s.get_bool("rotating-codes");
  if (rotation) api_config.rotating_key_id = rotating_key_id(*rotation);
  if (api_config.rotating_default && (!api_config.signing_key || !rotation)) {
    spdlog::critical(
        "--rotating-codes needs a signing key and a rotating key (ticket-bridge "
        "keys init)");
    return 2;
  }
  if (api_config.signing_key && !rotation) {
    spdlog::warn(
        "no rotating key at {}: scans of tickets that need a rotating code are refused "
        "as stale_code (ticket-bridge keys init makes one)",
        rotating_key_file(s));
  }
  api_config.api_key =
      load_secret(s.get("api-key-file"), s.source("api-key-file") == "default", "API key");

  Metrics metrics;
  Health health;
  EventHub hub;
  ReadPool reader(std::move(read_store));
  // The link first: the writer answers through it, and it hands scans to the writer once started.
  MqttLink mqtt(mo, metrics, health);
  Outbox outbox;
  // Publishes the unsettled events (outbox.hpp) from `cursor` on, a page per reader job.
  std::function<void(OutboxCursor)> republish_from = [&](OutboxCursor cursor) {
    reader.submit([&, cursor](Store& st) mutable {
      try {
        republish_page(st, cursor, [&](StoredEvent e) { mqtt.publish_event(e, &outbox); });
      } catch (const std::exception& e) {
        spdlog::error("outbox: reading the unacknowledged events: {}", e.what());
        return;
      }
      if (!cursor.done) return republish_from(std::move(cursor));
      metrics.events_republished.fetch_add(cursor.sent, std::memory_order_relaxed);
      if (cursor.sent > 0) {
        spdlog::info("outbox: published {} events the broker had not acknowledged", cursor.sent);
      }
    });
  };
  const auto sweep_outbox = [&] {
    if (!mqtt.connected()) return;  // the connect publishes them all
    OutboxCursor cursor;
    cursor.before = now_ms() - std::chrono::milliseconds(kOutboxSweepEvery).count();
    republish_from(std::move(cursor));
  };
  // The operator page's figures (venue_board.hpp).
  const auto started = std::chrono::steady_clock::now();
  VenueBoard board(BoardOptions{config.max_gates});
  try {
    board.load(*store, now_ms());
  } catch (const std::exception& e) {
    spdlog::warn(
        "operator page: the scanner table and ticket counts were not read ({}); they "
        "are read again in {} s",
        e.what(), kVenueRecount.count());
  }
  mqtt.set_presence_hook([&board](std::string_view scanner, bool online) {
    board.presence(scanner, online, now_ms());
  });
  const bool on_postgres = s.get("db").rfind("postgres", 0) == 0;
  const auto bridge_info = [&, on_postgres] {
    BridgeInfo b;
    b.instance = mo.instance;
    b.version = kVersion;
    b.store = on_postgres ? "postgresql" : "sqlite";
    b.mqtt_connected = health.mqtt();
    b.store_up = health.store();
    b.queue_depth = metrics.queue_depth.load(std::memory_order_relaxed);
    b.ws_connections = metrics.ws_connections.load(std::memory_order_relaxed);
    b.uptime_s =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started)
            .count();
    return b;
  };
  WriterOptions po;
  po.board = &board;
  po.scans = rules;
  po.scans.rotating_key = rotation;
  po.group_commit = group_commit;
  po.periodic.push_back(
      {[retention_events, age_ms = retention_age_s * 1000](Store& st, TaskOutcome&) {
         const auto n = st.prune_events(retention_events, now_ms() - age_ms, 10'000);
         if (n > 0) spdlog::debug("retention: dropped {} old events", n);
       },
       std::chrono::minutes(1)});
  po.periodic.push_back(
      {[&outbox](Store& st, TaskOutcome&) { outbox.flush(st); }, std::chrono::seconds(1)});
  po.periodic.push_back({[&reader, &board](Store&, TaskOutcome&) {
                           reader.submit([&board](Store& st) {
                             try {
                               board.set_counts(st.venue_counts());
                             } catch (const std::exception& e) {
                               spdlog::warn("operator page: reading the ticket counts: {}",
                                            e.what());
                             }
                           });
                         },
                         kVenueRecount});
  // The sweep (outbox.hpp): what stayed unsettled for over a minute, once a minute.
  po.periodic.push_back(
      {[sweep_outbox](Store&, TaskOutcome&) { sweep_outbox(); }, kOutboxSweepEvery});
  // The writer's publishes of one batch, handed to the MQTT side at once (its thread only).
  std::vector<MqttOutbound> outgoing;
  // The gates' feed (gate_feed.hpp): each batch's news at once, the snapshot on a reader.
  GateFeed feed(mqtt);
  const auto publish_snapshot = [&reader, &feed](bool force) {
    reader.submit([&feed, force](Store& st) {
      try {
        feed.publish_snapshot(st, force);
      } catch (const std::exception& e) {
        spdlog::error("gate feed: reading the snapshot: {}", e.what());
      }
    });
  };
  if (rules.gate_feed) {
    po.on_feed = [&feed, &outgoing](std::vector<SyncEntry>& news) {
      feed.publish_updates(news, &outgoing);
    };
    po.periodic.push_back(
        {[publish_snapshot](Store&, TaskOutcome&) { publish_snapshot(false); },
         std::chrono::duration_cast<std::chrono::milliseconds>(config.gate_feed_interval)});
  }
  po.after_batch = [&mqtt, &outgoing] { mqtt.publish_all(outgoing); };
  Writer writer(
      *store, metrics, health, [&mqtt, &outgoing](Answer a) { mqtt.publish_answer(a, &outgoing); },
      [&mqtt, &hub, &outbox, &outgoing](const std::shared_ptr<const StoredEvent>& e) {
        mqtt.publish_event(*e, &outbox, &outgoing);
        return hub.publish(e);
      },
      po);
  writer.start();

  // After every connect: delete what was settled, then publish every unsettled event. Paho's
  // thread only hands this over to the writer.
  const auto republish = [&] {
    if (rules.gate_feed) publish_snapshot(true);
    writer.submit(WriteTask{[&outbox](Store& st, TaskOutcome&) { outbox.flush(st); },
                            [&](TaskOutcome&) { republish_from(OutboxCursor{}); }, true});
  };
  if (auto err =
          mqtt.start([&writer](InboundScan in) { writer.submit(std::move(in)); }, republish)) {
    spdlog::critical("{}", *err);
    reader.stop();  // before the feed its jobs use goes
    writer.stop();
    return 1;
  }

  // Other bridges' events for our WebSocket clients (peer_events.hpp).
  std::optional<PeerEvents> peers;
  if (config.peer_events) {
    peers.emplace(mo, hub, metrics);
    peers->start();
  }

  Api api(api_config, writer, reader, metrics, health);
  api.set_board(&board, bridge_info);
  // Before the server: its sessions leave the feed as they end.
  OperatorFeed operator_feed(board, bridge_info, config.operator_interval);
  operator_feed.start();
  WsServices ws;
  ws.verify_operator = [&api](std::string_view credential) {
    return api.verify_operator(credential);
  };
  ws.feed = &operator_feed;
  ws.verify = [secret = api_config.jwt_secret](std::string_view token) {
    return verify_token(token, secret, now_ms() / 1000);
  };
  ws.hub = &hub;
  ws.metrics = &metrics;
  ws.rotating_key = rotation;
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
    operator_feed.stop();
    reader.stop();
    writer.stop();
    if (peers) peers->stop();
    mqtt.stop();
    return 1;
  }
  spdlog::info("ticket-bridge serving: instance {}, broker {}, http {}:{}, database {}",
               mo.instance, mo.uri, listen.host, http.port(), s.get("db"));
  if (!ho.trusted_proxies.empty()) {
    spdlog::info("X-Forwarded-For is believed from {}", s.get("trusted-proxy"));
  }

  int sig = 0;
  for (;;) {
    sigwait(&signals, &sig);
    if (sig != SIGHUP) break;
    reload(s, api);
  }
  spdlog::info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  http.stop();  // no new requests; WebSocket clients get a close frame (1001)
  operator_feed.stop();
  reader.stop();  // replays still queued answer into the stopped server, harmlessly
  writer.stop();  // decides and answers what already arrived
  if (peers) peers->stop();
  mqtt.stop();  // then says offline and leaves; the broker keeps new scans for our session
  try {         // the rows the last acknowledgements settled
    Store::Transaction tx(*store);
    outbox.flush(*store);
    tx.commit();
  } catch (const std::exception& e) {
    spdlog::warn("outbox: the last settled events were not written ({}): they go out again",
                 e.what());
  }
  spdlog::info("stopped");
  return 0;
}

}  // namespace tb
