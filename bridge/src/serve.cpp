// `ticket-bridge serve`: wires the store, the scan processor, the MQTT link and the HTTP listener
// together, and shuts them down in order on SIGINT or SIGTERM.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "http_server.hpp"
#include "mqtt_link.hpp"
#include "scan_processor.hpp"
#include "secrets.hpp"

namespace tb {

namespace {

struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};

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

HttpResponse json_response(int status, const nlohmann::json& body) {
  return HttpResponse{status, "application/json", body.dump()};
}

HttpResponse error_response(int status, const std::string& error, const std::string& detail) {
  return json_response(status, {{"error", error}, {"detail", detail}});
}

// The routes of this HTTP listener: health and metrics.
HttpResponse route(const HttpRequest& req, Metrics& metrics) {
  const std::string path = req.target.substr(0, req.target.find('?'));
  if (path == "/healthz") {
    if (req.method != "GET" && req.method != "HEAD") {
      return error_response(405, "method_not_allowed", "use GET");
    }
    const bool mqtt_up = metrics.mqtt_connected.load() != 0;
    const bool store_up = metrics.store_ok.load() != 0;
    return json_response(mqtt_up && store_up ? 200 : 503,
                         {{"status", mqtt_up && store_up ? "ok" : "unavailable"},
                          {"mqtt", mqtt_up ? "up" : "down"},
                          {"store", store_up ? "up" : "down"}});
  }
  if (path == "/metrics") {
    if (req.method != "GET") return error_response(405, "method_not_allowed", "use GET");
    return HttpResponse{200, "text/plain; version=0.0.4", metrics.render()};
  }
  return error_response(404, "not_found", "no route " + path);
}

}  // namespace

int cmd_serve(const Settings& s) {
  // Signals are taken by sigwait below; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const HostPort listen = parse_listen(s.get("listen"));
  const auto http_threads = static_cast<int>(s.get_int("http-threads", 1, 64));
  MqttOptions mo;
  mo.uri = s.get("mqtt");
  mo.instance = s.get("instance");
  if (!is_valid_id(mo.instance)) throw UsageError("--instance must be a valid MQTT topic level");
  mo.username = s.get_opt("mqtt-username");
  if (auto f = s.get_opt("mqtt-password-file"))
    mo.password = load_secret(*f, false, "MQTT password");
  mo.shared_group = s.get_opt("mqtt-shared-group");
  if (mo.shared_group && !is_valid_id(*mo.shared_group)) {
    throw UsageError("--mqtt-shared-group must be a valid MQTT topic level");
  }

  std::unique_ptr<Store> store;
  try {
    store = open_store(s);
  } catch (const sql::Error& e) {
    spdlog::critical("cannot open the database {}: {}", s.get("db"), e.what());
    return 1;
  }
  const std::string secret = jwt_secret(s);
  (void)secret;  // checked now so that a broken secret file stops the start, used by the gateway

  Metrics metrics;
  std::unique_ptr<MqttLink> mqtt;
  ScanProcessor processor(
      *store, metrics, [&mqtt](Answer a) { mqtt->publish_answer(a); },
      [&mqtt](const std::shared_ptr<const StoredEvent>& e) { mqtt->publish_event(*e); });
  mqtt = std::make_unique<MqttLink>(
      mo, metrics, [&processor](InboundScan in) { processor.submit(std::move(in)); });
  processor.start();

  if (auto err = mqtt->start(std::chrono::seconds(5))) {
    spdlog::critical("{}", *err);
    processor.stop();
    return 1;
  }

  HttpServer http(HttpOptions{listen.host, listen.port, 64 * 1024, http_threads},
                  [&metrics](const HttpRequest& r) { return route(r, metrics); });
  if (auto err = http.start()) {
    spdlog::critical("{}", *err);
    processor.stop();
    mqtt->stop();
    return 1;
  }
  spdlog::info("ticket-bridge serving: instance {}, broker {}, http {}:{}, database {}",
               mo.instance, mo.uri, listen.host, http.port(), s.get("db"));

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  http.stop();
  processor.stop();  // decides and answers what already arrived
  mqtt->stop();      // then says offline and leaves; the broker keeps new scans for our session
  spdlog::info("stopped");
  return 0;
}

}  // namespace tb
