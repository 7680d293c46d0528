// A real mosquitto and a real ticket-bridge, each started on free loopback ports for one test,
// and an MQTT v5 test client that collects what it receives.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "process.hpp"

namespace mqtt {
class async_client;
}

namespace tbtest {

std::string source_dir();  // the repository root
std::string bridge_bin();  // the ticket-bridge executable under test
std::string agent_bin();   // the scanner-agent executable under test

// Extra config for a Mosquitto that keeps sessions and queued messages across its restart, as
// the production broker does, in `dir`. Run as root, mosquitto would drop to its own user, which
// cannot write into the test's private directory (its save then fails with "Permission denied"
// and nothing is kept): it stays root here.
std::string persistent_broker_config(const TempDir& dir);

// mosquitto with broker-conf/dev.conf's settings on a free port. Prints its log from the
// destructor when the current test failed.
class Mosquitto {
 public:
  explicit Mosquitto(const TempDir& dir, const std::string& extra_config = {});
  ~Mosquitto();
  void start();
  void stop();  // SIGTERM by PID
  void kill9();
  std::uint16_t port() const { return port_; }
  std::string url() const { return "mqtt://127.0.0.1:" + std::to_string(port_); }
  std::string log() const { return child_.log(); }

 private:
  std::string config_path_, log_path_;
  std::uint16_t port_;
  Child child_;
};

// `ticket-bridge serve` as a real process, on its own database in the temp dir.
class Bridge {
 public:
  Bridge(const TempDir& dir, std::string mqtt_url, std::vector<std::string> extra_args = {});
  void set_extra_args(std::vector<std::string> extra) { extra_ = std::move(extra); }
  // The store: a SQLite file (bridge.db in the dir, by default) or a postgresql:// URL.
  void set_db(std::string where) { db_ = std::move(where); }
  ~Bridge();
  // Starts and waits until /healthz says 200; false (and the log) when it does not come up.
  bool start(std::chrono::milliseconds timeout = std::chrono::seconds(15));
  int stop(int sig = 15);  // returns the exit code
  void kill9();
  bool running() { return child_.running(); }
  std::uint16_t http_port() const { return http_port_; }
  const std::string& db() const { return db_; }
  std::string log() const { return child_.log(); }
  // Runs `ticket-bridge ARGS... --db <db> --jwt-secret-file <secret>` to completion.
  RunResult cli(std::vector<std::string> args, const std::string& stdin_text = {}) const;
  std::vector<std::string> common_args() const;
  static constexpr const char* kSecret = "test-secret-0123456789abcdef0123456789";
  static constexpr const char* kApiKey = "test-api-key-0123456789";
  int pid() const { return child_.pid(); }
  // A metric's value on /metrics (a series without labels), -1 when it is not there.
  double metric(const std::string& name) const;
  // Waits until metric(name) == value; false when it was not so after `timeout`.
  bool wait_metric(const std::string& name, double value,
                   std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

 private:
  std::string dir_, mqtt_url_, db_, secret_, api_key_, log_path_;
  std::vector<std::string> extra_;
  std::uint16_t http_port_;
  Child child_;
};

// A minimal HTTP/1.1 client over a raw socket, for status checks.
struct HttpReply {
  int status = 0;
  std::string body;
};
HttpReply http_request(std::uint16_t port, const std::string& method, const std::string& target,
                       const std::string& body = {}, const std::string& extra_headers = {});

struct Received {
  std::string topic;
  std::string payload;
  std::optional<std::string> correlation;
  bool retained = false;
  std::optional<std::string> response_topic;
};

// Log-in and TLS settings of a TestClient (all optional).
struct ClientAuth {
  std::optional<std::string> username, password;
  std::optional<std::string> cafile;  // TLS: the CA that signed the broker's certificate
};

// A Paho MQTT v5 client for tests: connect, subscribe, publish, and wait for messages.
class TestClient {
 public:
  TestClient(const std::string& url, const std::string& client_id, bool clean = true,
             const ClientAuth& auth = {});
  ~TestClient();
  // Returns the broker's reason code for the subscription (0-2: granted QoS; >= 0x80 refused).
  int subscribe(const std::string& filter, int qos = 1);
  // Returns the broker's reason code (0 accepted, >= 0x80 refused, e.g. 0x87 not authorized), or
  // -1 when no acknowledgement came within 5 s.
  int publish(const std::string& topic, const std::string& payload, int qos = 1,
              const std::optional<std::string>& response_topic = {},
              const std::optional<std::string>& correlation = {}, bool retain = false);
  bool connected() const;
  // The next message whose topic is `topic` (any topic when empty), waiting up to `timeout`.
  std::optional<Received> next(const std::string& topic = {},
                               std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Every message received so far on `topic`, without waiting.
  std::vector<Received> drain(const std::string& topic = {});
  void disconnect();

 private:
  std::unique_ptr<mqtt::async_client> cli_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Received> inbox_;
};

}  // namespace tbtest
