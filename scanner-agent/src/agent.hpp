// The scanner agent: turns codes into journaled scans, publishes them over MQTT v5 with a
// Response Topic, shows the gate's answer (or NO ANSWER after the timeout), runs hooks, and
// re-sends unanswered scans until the bridge has decided them.
//
// One worker thread does all of it, in order: lines from the input, answers and connection news
// from the MQTT session arrive as events on its queue (nothing is done on Paho's thread or the
// input's). The parts are rooms of their own: scan_queue (what waits, when it is due), presenter
// (what staff see), hooks, journal, and the shared MqttSession.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "hooks.hpp"
#include "input.hpp"
#include "journal.hpp"
#include "mqtt_session.hpp"
#include "offline_gate.hpp"
#include "presenter.hpp"
#include "scan_queue.hpp"
#include "tls_settings.hpp"
#include "work_queue.hpp"

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
  // Set (--offline-key): a signed code the bridge does not answer within `answer_timeout`, or
  // scanned while the broker is unreachable, is decided here (offline_gate.hpp).
  std::optional<OfflineKeys> offline;
  // Signed tickets the gate's record of the bridge's feed holds at most (gate_sync.hpp).
  std::size_t feed_limit = 1'000'000;
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
  struct Line {
    std::string text;
    Clock::time_point at;
  };
  struct AnswerMessage {
    std::string payload;
    std::optional<std::string> correlation;
  };
  struct FeedMessage {  // tickets/sync/...
    std::string topic, payload;
  };
  struct Connected {};
  struct Lost {};
  using Event = std::variant<Line, AnswerMessage, FeedMessage, Connected, Lost>;

  void run();
  void take(std::vector<Event>& events);
  void handle(Line& line);
  void handle(AnswerMessage& answer);
  void handle(FeedMessage& feed);
  void send_due(Clock::time_point now);
  void show_timeouts(Clock::time_point now);
  // Decides a waiting scan at the gate; false when it cannot be decided alone.
  bool decide_offline(const std::string& scan_id, const std::string& code,
                      const std::string& payload);
  // The admit or reject hook for an answer (the bridge's, or an offline verdict's).
  void run_answer_hooks(const std::string& scan_id, const nlohmann::json& a, bool late);
  // What an online answer says this gate's ticket has used, for the offline record.
  std::optional<tb::TicketUsage> usage_of(const std::string& scanned, const nlohmann::json& a);

  AgentOptions opt_;
  Presenter presenter_;
  Hooks hooks_;
  Journal journal_;
  Debouncer debouncer_;
  ScanQueue queue_;         // the worker's alone, as are the two below
  std::deque<Line> lines_;  // taken from the events, not journaled yet
  bool connected_ = false;
  bool flush_ = false;  // after a (re)connect every unanswered scan goes again, in order
  std::map<std::size_t, std::size_t> feed_chunks_;  // snapshot chunk -> hash of the last applied

  tb::WorkQueue<Event> events_;
  std::mutex settle_mu_;
  std::condition_variable settle_cv_;
  bool settled_ = true;            // as of the worker's last round
  std::size_t lines_pending_ = 0;  // lines given to on_line that the worker has not handled yet
  std::thread worker_;
  bool stopped_ = false;
  // Last: stopped and destroyed first, while everything its handlers use still exists.
  tb::MqttSession session_;
};

}  // namespace sa
