// The production broker fixture: see secure_broker.hpp.
#include "secure_broker.hpp"

#include <iostream>
#include <regex>
#include <thread>

#include "jwt.hpp"
#include "timeutil.hpp"

namespace tbtest {

void SecureBroker::SetUp() {
  const std::string conf_dir = source_dir() + "/broker-conf";
  etc_ = dir_.file("etc");
  ASSERT_EQ(run({"bash", conf_dir + "/gen-dev-certs.sh", etc_}).exit_code, 0);
  for (const auto& [user, password] : std::vector<std::pair<std::string, std::string>>{
           {"bridge", "bridge-pw"}, {"gate-1", "scan-pw"}, {"gate-2", "scan-pw-2"}}) {
    ASSERT_EQ(run({"bash", conf_dir + "/add-user.sh", etc_ + "/passwd", user, password}).exit_code,
              0);
  }
  write_file(etc_ + "/jwt-secret", std::string(kSecret) + "\n");
  write_file(dir_.file("bridge-pw"), "bridge-pw\n");
  plain_ = free_port();
  tls_ = free_port();
  ws_ = free_port();
  cert_ = free_port();
  start_broker();
}

void SecureBroker::start_broker(const std::string& extra) {
  // A port that was free a moment ago can be taken meanwhile (by a client socket of a test running
  // in parallel): mosquitto then exits with "Address already in use", and another process may
  // even answer on the port. Try again on fresh ports.
  for (int attempt = 1;; ++attempt) {
    std::string conf = read_file(source_dir() + "/broker-conf/mosquitto.conf");
    conf = std::regex_replace(conf, std::regex("/etc/mosquitto/ticket-bridge/"), etc_ + "/");
    conf = std::regex_replace(conf, std::regex("/var/lib/mosquitto/"), dir_.path() + "/");
    conf = std::regex_replace(conf, std::regex("/usr/lib/ticket-bridge/tb_auth_plugin.so"),
                              TB_AUTH_PLUGIN);
    conf = std::regex_replace(conf, std::regex("listener 1883 127.0.0.1"),
                              "listener " + std::to_string(plain_) + " 127.0.0.1");
    for (const auto& [from, to] : {std::pair{"8883", tls_}, {"8884", ws_}, {"8885", cert_}}) {
      conf = std::regex_replace(conf, std::regex(std::string("listener ") + from),
                                "listener " + std::to_string(to));
    }
    conf += "\n# test only: the temp files belong to root\nuser root\n" + extra + "\n";
    write_file(dir_.file("mosquitto.conf"), conf);
    broker_ = Child({"mosquitto", "-c", dir_.file("mosquitto.conf")}, dir_.file("mosquitto.log"));
    const bool open =
        wait_until([&] { return port_open(plain_) && port_open(tls_); }, std::chrono::seconds(10));
    // Mosquitto opens every listener before it serves; a failed bind ends it at once.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (open && broker_.running()) return;
    // A plain or TLS listener says "Address already in use"; the WebSocket listener (libwebsockets)
    // only "Unable to create websockets listener on port N".
    const auto log = broker_.log();
    const bool port_taken = log.find("Address already in use") != std::string::npos ||
                            log.find("Unable to create websockets listener") != std::string::npos;
    ASSERT_TRUE(port_taken && attempt < 5) << broker_.log();
    plain_ = free_port();
    tls_ = free_port();
    ws_ = free_port();
    cert_ = free_port();
  }
}

void SecureBroker::stop_broker() {
  broker_.stop();
}

void SecureBroker::TearDown() {
  broker_.stop();
  if (HasFailure()) std::cerr << "----- mosquitto log -----\n" << broker_.log() << "\n";
}

std::string SecureBroker::token(const std::string& uid, std::int64_t ttl,
                                const std::string& secret) {
  return tb::sign_token(uid, ttl, secret, tb::now_ms() / 1000);
}

std::string SecureBroker::bridge_client_id() {
  return "ticket-bridge-helper" + std::to_string(next_id_++);
}

std::string SecureBroker::app_client_id(const std::string& uid) {
  return "app-" + uid + "-" + std::to_string(next_id_++ % 8);
}

std::vector<std::string> SecureBroker::command(std::vector<std::string> argv,
                                               const std::string& user, const std::string& password,
                                               const std::vector<std::string>& args) {
  argv.insert(argv.end(), {"-V", "5", "-p", std::to_string(plain_)});
  if (!user.empty()) {
    argv.insert(argv.end(), {"-u", user, "-P", password});
    if (std::find(args.begin(), args.end(), "-i") == args.end()) {
      std::string id;
      if (user == "bridge") {
        id = bridge_client_id();
      } else if (password.rfind("ey", 0) == 0) {  // a JWT
        id = app_client_id(user);
      } else {
        id = scanner_client_id(user);
      }
      argv.insert(argv.end(), {"-i", id});
    }
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

RunResult SecureBroker::sub(const std::string& user, const std::string& password,
                            const std::string& topic, int count, int secs,
                            std::vector<std::string> extra) {
  extra.insert(extra.begin(),
               {"-t", topic, "-C", std::to_string(count), "-W", std::to_string(secs), "-v"});
  return run(command({"mosquitto_sub"}, user, password, extra));
}

Child SecureBroker::listener(const std::string& user, const std::string& password,
                             const std::string& topic, int count, int secs, const std::string& log,
                             std::vector<std::string> extra) {
  extra.insert(extra.begin(), {"-d", "-t", topic, "-W", std::to_string(secs)});
  if (count > 0) extra.insert(extra.end(), {"-C", std::to_string(count)});
  Child c(command({"stdbuf", "-oL", "mosquitto_sub"}, user, password, extra), dir_.file(log));
  EXPECT_TRUE(wait_until([&] { return c.log().find("received SUBACK") != std::string::npos; },
                         std::chrono::seconds(10)))
      << c.log();
  return c;
}

RunResult SecureBroker::pub(const std::string& user, const std::string& password,
                            const std::string& topic, const std::string& payload,
                            std::vector<std::string> extra) {
  extra.insert(extra.begin(), {"-q", "1", "-t", topic, "-m", payload});
  return run(command({"mosquitto_pub"}, user, password, extra));
}

std::unique_ptr<TestClient> SecureBroker::client(const std::string& user,
                                                 const std::string& password,
                                                 const std::string& client_id, bool clean) {
  return std::make_unique<TestClient>(plain_url(), client_id, clean,
                                      ClientAuth{user, password, std::nullopt});
}

std::unique_ptr<TestClient> SecureBroker::scanner(const std::string& id) {
  return client(id, id == "gate-1" ? "scan-pw" : "scan-pw-2", scanner_client_id(id));
}

std::unique_ptr<Bridge> SecureBroker::make_bridge(std::vector<std::string> extra) {
  std::vector<std::string> args = {"--mqtt-username", "bridge", "--mqtt-password-file",
                                   dir_.file("bridge-pw")};
  args.insert(args.end(), extra.begin(), extra.end());
  auto bridge = std::make_unique<Bridge>(dir_, plain_url(), args);
  write_file(dir_.file("jwt-secret"), std::string(kSecret) + "\n");  // the broker's secret
  return bridge;
}

std::string SecureBroker::scan_payload(const std::string& scan_id, const std::string& code,
                                       const std::string& scanner) {
  return nlohmann::json{{"scan_id", scan_id},
                        {"code", code},
                        {"scanner", scanner},
                        {"gate", "north"},
                        {"direction", "in"}}
      .dump();
}

nlohmann::json SecureBroker::answer(TestClient& client, const std::string& scan_id,
                                    const std::string& topic, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return nullptr;
    const auto m = client.next(topic, left);
    if (!m) return nullptr;
    auto j = nlohmann::json::parse(m->payload, nullptr, false);
    if (j.is_object() && j.contains("scan_id") && j["scan_id"] == scan_id) return j;
  }
}

double SecureBroker::metric(const Bridge& bridge, const std::string& name) {
  return bridge.metric(name);
}

}  // namespace tbtest
