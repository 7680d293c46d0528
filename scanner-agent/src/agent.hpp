// The scanner agent's core: turns codes into journaled scans, publishes them over MQTT v5 with a
// Response Topic, shows the gate's answer (or NO ANSWER after the timeout), runs hooks, and
// re-sends unanswered scans until the bridge has decided them.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "input.hpp"
#include "journal.hpp"
#include "tls_settings.hpp"

namespace mqtt {
class async_client;
class connect_options;
}  // namespace mqtt

namespace sa {

struct AgentOptions {
  std::string broker = "mqtt://127.0.0.1:1883";
  std::string id;
  std::string gate;
  std::string direction = "in";
  bool json = false;
  bool color = false;
  std::chrono::milliseconds answer_timeout{1500};
  std::chrono::milliseconds debounce{1500};
  std::size_t queue_limit = 10000;
  std::chrono::milliseconds retry_min{5000};  // first re-send of an unanswered scan
  std::chrono::milliseconds retry_max{300000};
  std::string journal_path;
  std::optional<std::string> username, password;
  tb::TlsSettings tls;  // for ssl:// and mqtts:// brokers
  std::optional<std::string> on_admit, on_reject, on_timeout;
};

class Agent {
 public:
  Agent(AgentOptions options, std::ostream& out);
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;
  ~Agent();

  void start();
  // A line from the scanner (any thread).
  void on_line(std::string line);
  // Waits until every scan of this run was answered or shown as NO ANSWER (at most `max_wait`).
  void settle(std::chrono::milliseconds max_wait);
  // Says offline and disconnects. Unanswered scans stay in the journal for the next start.
  void stop();

 private:
  struct Inflight {
    std::string code;
    std::string payload;
    std::int64_t seq = 0;                            // journal order
    std::chrono::steady_clock::time_point deadline;  // for NO ANSWER
    bool timed_out = false;
    int sends = 0;
    std::chrono::steady_clock::time_point next_send;
  };

  void worker();
  void on_answer(const std::string& payload, const std::optional<std::string>& correlation);
  bool send(const std::string& scan_id, Inflight& f);  // under mu_
  void connect_async();
  void print(const std::string& line);
  void run_hook(const std::optional<std::string>& cmd,
                const std::map<std::string, std::string>& env);
  std::chrono::milliseconds retry_delay(int sends) const;

  AgentOptions opt_;
  std::ostream& out_;
  Journal journal_;
  Debouncer debouncer_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Inflight> inflight_;   // by scan_id, journal order = insertion order kept
  std::map<std::int64_t, std::string> order_;  // journal seq -> scan_id
  bool connected_ = false;
  bool connecting_ = false;
  bool flush_ = false;
  bool stopping_ = false;
  int connect_failures_ = 0;
  std::chrono::steady_clock::time_point next_connect_;
  std::vector<std::shared_ptr<void>> listeners_;  // connect listeners Paho still refers to
  std::unique_ptr<mqtt::connect_options> connect_options_;
  // Declared after everything its callbacks and listeners use, so it is destroyed first.
  std::unique_ptr<mqtt::async_client> client_;
  std::thread worker_;
};

}  // namespace sa
