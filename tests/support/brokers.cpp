// Real broker, bridge and MQTT client helpers for integration tests.
#include "brokers.hpp"

#include <thread>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mqtt/async_client.h>
#include <iostream>
#include <regex>

namespace tbtest {

std::string source_dir() {
  return TB_SOURCE_DIR;
}
std::string bridge_bin() {
  return TB_BRIDGE_BIN;
}
std::string agent_bin() {
  return TB_AGENT_BIN;
}

namespace {
bool test_failed() {
  const auto* info = ::testing::UnitTest::GetInstance();
  return info->current_test_info() != nullptr && info->current_test_info()->result()->Failed();
}

void dump_log_on_failure(const char* what, const std::string& log) {
  if (test_failed()) std::cerr << "----- " << what << " log -----\n" << log << "----- end -----\n";
}
}  // namespace

std::string persistent_broker_config(const TempDir& dir) {
  return std::string(::geteuid() == 0 ? "user root\n" : "") + "persistence true\n" +
         "persistence_location " + dir.file("") + "\n";
}

Mosquitto::Mosquitto(const TempDir& dir, const std::string& extra_config)
    : config_path_(dir.file("mosquitto.conf")),
      log_path_(dir.file("mosquitto.log")),
      port_(free_port()) {
  // The project's dev config with the listener moved to our port.
  std::string conf = read_file(source_dir() + "/broker-conf/dev.conf");
  conf = std::regex_replace(conf, std::regex("listener 1883 127.0.0.1"),
                            "listener " + std::to_string(port_) + " 127.0.0.1");
  conf += "\n# added by the test\n" + extra_config + "\n";
  write_file(config_path_, conf);
  start();
}

Mosquitto::~Mosquitto() {
  stop();
  dump_log_on_failure("mosquitto", log());
}

void Mosquitto::start() {
  child_ = Child({"mosquitto", "-c", config_path_}, log_path_);
  if (!wait_until([this] { return port_open(port_); }, std::chrono::seconds(10))) {
    throw std::runtime_error("mosquitto did not start on port " + std::to_string(port_) + ":\n" +
                             log());
  }
}

void Mosquitto::stop() {
  child_.stop(SIGTERM);
}
void Mosquitto::kill9() {
  child_.stop(SIGKILL);
}

Bridge::Bridge(const TempDir& dir, std::string mqtt_url, std::vector<std::string> extra_args)
    : dir_(dir.path()),
      mqtt_url_(std::move(mqtt_url)),
      db_(dir.file("bridge.db")),
      secret_(dir.file("jwt-secret")),
      api_key_(dir.file("api-key")),
      log_path_(dir.file("bridge.log")),
      extra_(std::move(extra_args)),
      http_port_(free_port()) {
  write_file(secret_, std::string(kSecret) + "\n");
  write_file(api_key_, std::string(kApiKey) + "\n");
}

Bridge::~Bridge() {
  child_.stop(SIGTERM);
  dump_log_on_failure("ticket-bridge", log());
}

std::vector<std::string> Bridge::common_args() const {
  return {"--db", db_, "--jwt-secret-file", secret_};
}

double Bridge::metric(const std::string& name) const {
  const auto text = http_request(http_port_, "GET", "/metrics").body;
  std::size_t at = 0;
  while ((at = text.find(name, at)) != std::string::npos) {
    const bool line_start = at == 0 || text[at - 1] == '\n';
    const auto after = at + name.size();
    if (line_start && after < text.size() && text[after] == ' ') {
      return std::stod(text.substr(after + 1));
    }
    at = after;
  }
  return -1;
}

bool Bridge::wait_metric(const std::string& name, double value,
                         std::chrono::milliseconds timeout) const {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (metric(name) != value) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

bool Bridge::start(std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {bridge_bin(),     "serve",
                                   "--mqtt",         mqtt_url_,
                                   "--listen",       "127.0.0.1:" + std::to_string(http_port_),
                                   "--api-key-file", api_key_};
  for (const auto& a : common_args()) argv.push_back(a);
  for (const auto& a : extra_) argv.push_back(a);
  child_ = Child(argv, log_path_, {}, dir_);
  const bool up = wait_until(
      [this] {
        if (!child_.running()) return true;
        return http_request(http_port_, "GET", "/healthz").status == 200;
      },
      timeout);
  if (up && child_.running()) return true;
  const auto status = child_.wait_exit(std::chrono::milliseconds(0));
  std::cerr << "ticket-bridge did not come up: "
            << (status ? "exit code " + std::to_string(exit_code_of(*status)) : "still starting")
            << "\n";
  return false;
}

int Bridge::stop(int sig) {
  return exit_code_of(child_.stop(sig));
}
void Bridge::kill9() {
  child_.stop(SIGKILL);
}

RunResult Bridge::cli(std::vector<std::string> args, const std::string& stdin_text) const {
  std::vector<std::string> argv = {bridge_bin()};
  for (auto& a : args) argv.push_back(std::move(a));
  for (const auto& a : common_args()) argv.push_back(a);
  return run(argv, {}, stdin_text);
}

HttpReply http_request(std::uint16_t port, const std::string& method, const std::string& target,
                       const std::string& body, const std::string& extra_headers) {
  HttpReply reply;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return reply;
  }
  std::string req = method + " " + target +
                    " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra_headers;
  if (!body.empty() || method == "POST") {
    req +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) < 0) {
    close(fd);
    return reply;
  }
  std::string raw;
  char buf[8192];
  ssize_t n = 0;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) raw.append(buf, static_cast<std::size_t>(n));
  close(fd);
  if (raw.rfind("HTTP/1.1 ", 0) == 0 && raw.size() >= 12)
    reply.status = std::stoi(raw.substr(9, 3));
  const auto sep = raw.find("\r\n\r\n");
  if (sep != std::string::npos) reply.body = raw.substr(sep + 4);
  return reply;
}

TestClient::TestClient(const std::string& url, const std::string& client_id, bool clean,
                       const ClientAuth& auth) {
  auto create = mqtt::create_options_builder().mqtt_version(MQTTVERSION_5).finalize();
  cli_ = std::make_unique<mqtt::async_client>(url, client_id, create);
  cli_->set_message_callback([this](mqtt::const_message_ptr m) {
    Received r{m->get_topic(), m->get_payload_str(), std::nullopt, m->is_retained(), std::nullopt};
    const auto& props = m->get_properties();
    if (props.contains(mqtt::property::CORRELATION_DATA)) {
      r.correlation = mqtt::get<mqtt::binary>(props, mqtt::property::CORRELATION_DATA);
    }
    if (props.contains(mqtt::property::RESPONSE_TOPIC)) {
      r.response_topic = mqtt::get<std::string>(props, mqtt::property::RESPONSE_TOPIC);
    }
    {
      std::lock_guard lock(mu_);
      inbox_.push_back(std::move(r));
    }
    cv_.notify_all();
  });
  auto opts = mqtt::connect_options_builder()
                  .mqtt_version(MQTTVERSION_5)
                  .clean_start(clean)
                  .keep_alive_interval(std::chrono::seconds(30))
                  .finalize();
  if (!clean) {
    opts.set_properties(mqtt::properties{{mqtt::property::SESSION_EXPIRY_INTERVAL, 3600}});
  }
  if (auth.username) opts.set_user_name(*auth.username);
  if (auth.password) opts.set_password(*auth.password);
  if (auth.cafile) {
    mqtt::ssl_options ssl;
    ssl.set_trust_store(*auth.cafile);
    ssl.set_enable_server_cert_auth(true);
    opts.set_ssl(std::move(ssl));
  }
  try {
    cli_->connect(opts)->wait_for(std::chrono::seconds(10));
  } catch (const mqtt::exception& e) {
    throw std::runtime_error("test client could not connect to " + url + ": " + e.what());
  }
  if (!cli_->is_connected()) throw std::runtime_error("test client could not connect to " + url);
}

TestClient::~TestClient() {
  disconnect();
}

void TestClient::disconnect() {
  try {
    if (cli_ && cli_->is_connected()) cli_->disconnect()->wait_for(std::chrono::seconds(5));
  } catch (const mqtt::exception&) {
  }
}

bool TestClient::connected() const {
  return cli_->is_connected();
}

int TestClient::subscribe(const std::string& filter, int qos) {
  auto tok = cli_->subscribe(filter, qos);
  try {
    if (!tok->wait_for(std::chrono::seconds(5))) return -1;
    const auto response = tok->get_subscribe_response();
    const auto codes = response.get_reason_codes();
    return codes.empty() ? -1 : static_cast<int>(codes.front());
  } catch (const mqtt::exception& e) {
    return e.get_reason_code() != 0 ? e.get_reason_code() : -1;
  }
}

int TestClient::publish(const std::string& topic, const std::string& payload, int qos,
                        const std::optional<std::string>& response_topic,
                        const std::optional<std::string>& correlation, bool retain) {
  auto msg = mqtt::make_message(topic, payload, qos, retain);
  mqtt::properties props;
  if (response_topic) props.add({mqtt::property::RESPONSE_TOPIC, *response_topic});
  if (correlation) props.add({mqtt::property::CORRELATION_DATA, *correlation});
  msg->set_properties(props);
  try {
    auto tok = cli_->publish(msg);
    if (!tok->wait_for(std::chrono::seconds(5))) return -1;
    return static_cast<int>(tok->get_reason_code());
  } catch (const mqtt::exception& e) {
    return e.get_reason_code() != 0 ? e.get_reason_code() : -1;
  }
}

std::optional<Received> TestClient::next(const std::string& topic,
                                         std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  std::optional<Received> out;
  cv_.wait_for(lock, timeout, [&] {
    for (auto it = inbox_.begin(); it != inbox_.end(); ++it) {
      if (topic.empty() || it->topic == topic) {
        out = std::move(*it);
        inbox_.erase(it);
        return true;
      }
    }
    return false;
  });
  return out;
}

std::vector<Received> TestClient::drain(const std::string& topic) {
  std::lock_guard lock(mu_);
  std::vector<Received> out;
  for (auto it = inbox_.begin(); it != inbox_.end();) {
    if (topic.empty() || it->topic == topic) {
      out.push_back(std::move(*it));
      it = inbox_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

}  // namespace tbtest
