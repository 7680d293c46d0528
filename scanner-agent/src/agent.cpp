// Scanner agent core.
#include "agent.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>

#include <mqtt/async_client.h>
#include <nlohmann/json.hpp>
#include <random>

#include "display.hpp"
#include "paho_timing.hpp"
#include "paho_tls.hpp"
#include "topics.hpp"

extern char** environ;

namespace sa {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::string status_payload(const char* state) {
  return json{{"state", state}, {"at", tb::format_rfc3339(tb::now_ms())}}.dump();
}

// Reports the end of an asynchronous connect attempt.
class ConnectListener : public mqtt::iaction_listener {
 public:
  explicit ConnectListener(std::function<void(bool, std::string)> done) : done_(std::move(done)) {}
  void on_success(const mqtt::token&) override { done_(true, {}); }
  void on_failure(const mqtt::token& tok) override {
    done_(false, "return code " + std::to_string(tok.get_return_code()));
  }

 private:
  std::function<void(bool, std::string)> done_;
};

}  // namespace

Agent::Agent(AgentOptions options, std::ostream& out)
    : opt_(std::move(options)), out_(out), journal_(opt_.journal_path), debouncer_(opt_.debounce) {
  auto create = mqtt::create_options_builder().mqtt_version(MQTTVERSION_5).finalize();
  client_ = std::make_unique<mqtt::async_client>(opt_.broker, "scanner-" + opt_.id, create);

  // Built in place: Paho 1.2's connect_options must not be copied or moved (it keeps pointers
  // into itself).
  connect_options_ = std::make_unique<mqtt::connect_options>();
  auto& o = *connect_options_;
  o.set_mqtt_version(MQTTVERSION_5);
  o.set_clean_session(false);
  o.set_clean_start(false);  // answers published while we reconnect wait for us
  o.set_keep_alive_interval(std::chrono::seconds(15));
  o.set_connect_timeout(tb::kPahoConnectTimeout);
  o.set_properties(mqtt::properties{{mqtt::property::SESSION_EXPIRY_INTERVAL, 3600}});
  o.set_will(
      mqtt::will_options(tb::topics::scanner_status(opt_.id), status_payload("offline"), 1, true));
  if (opt_.username) o.set_user_name(*opt_.username);
  if (opt_.password) o.set_password(*opt_.password);
  if (tb::is_tls_url(opt_.broker)) {
    o.set_ssl(tb::make_ssl_options(opt_.tls));
  }

  client_->set_connected_handler([this](const std::string&) {
    // Runs on a Paho thread: nothing may escape it (that would end the process).
    try {
      client_->subscribe(tb::topics::result(opt_.id), 1);
      client_->publish(tb::topics::scanner_status(opt_.id), status_payload("online"), 1, true);
      spdlog::info("connected to {}", opt_.broker);
    } catch (const mqtt::exception& e) {
      spdlog::warn("after connecting: {}", e.what());
    }
    std::lock_guard lock(mu_);
    connected_ = true;
    connecting_ = false;
    connect_failures_ = 0;
    flush_ = true;  // every unanswered scan goes (again) in journal order
    cv_.notify_all();
  });
  client_->set_connection_lost_handler([this](const std::string& cause) {
    spdlog::warn("lost the broker ({}); scans are kept and sent when it is back",
                 cause.empty() ? "no reason given" : cause);
    std::lock_guard lock(mu_);
    connected_ = false;
    next_connect_ = Clock::now() + std::chrono::milliseconds(500);
    cv_.notify_all();
  });
  client_->set_message_callback([this](mqtt::const_message_ptr m) {
    std::optional<std::string> corr;
    const auto& props = m->get_properties();
    if (props.contains(mqtt::property::CORRELATION_DATA)) {
      corr = mqtt::get<mqtt::binary>(props, mqtt::property::CORRELATION_DATA);
    }
    on_answer(m->get_payload_str(), corr);
  });

  // Scans a previous run left unanswered are sent first, in order, once connected.
  const auto now = Clock::now();
  for (const auto& q : journal_.all()) {
    Inflight f;
    f.code = q.code;
    f.payload = q.payload;
    f.seq = q.seq;
    f.deadline = now;
    f.timed_out = true;  // staff were told NO ANSWER back then
    f.next_send = now;
    inflight_.emplace(q.scan_id, std::move(f));
    order_.emplace(q.seq, q.scan_id);
  }
  if (!inflight_.empty()) {
    spdlog::info("{} unanswered scans from before are queued and will be sent", inflight_.size());
  }
}

Agent::~Agent() {
  stop();
}

void Agent::start() {
  worker_ = std::thread([this] { worker(); });
}

std::chrono::milliseconds Agent::retry_delay(int sends) const {
  auto d = opt_.retry_min;
  for (int i = 1; i < sends && d < opt_.retry_max; ++i) d *= 2;
  return std::min(d, opt_.retry_max);
}

void Agent::print(const std::string& line) {
  out_ << line << std::endl;  // flushed: staff and other programs read it at once
}

void Agent::on_line(std::string line) {
  // Trim the spaces some wedge scanners add.
  while (!line.empty() && line.back() == ' ') line.pop_back();
  while (!line.empty() && line.front() == ' ') line.erase(0, 1);
  if (line.empty()) return;
  std::optional<std::string> bad;
  if (line == LineSplitter::kTooLong) {
    bad = "too long";
    line.clear();
  } else {
    bad = check_code(line);
  }
  if (bad) {
    std::string shown = line.substr(0, 40);
    for (auto& c : shown) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
    }
    spdlog::warn("scan not sent: {}", *bad);
    print(opt_.json ? json{{"event", "refused"}, {"code", shown}, {"reason", *bad}}.dump()
                    : (opt_.color ? "\x1b[1;97;41m REJECT \x1b[0m" : std::string("REJECT")) +
                          "  unreadable code, not sent (" + *bad + ")");
    return;
  }
  if (!debouncer_.accept(line, Clock::now())) {
    spdlog::info("double read of {} ignored", line);
    return;
  }

  std::lock_guard lock(mu_);
  std::optional<QueuedScan> q;
  try {
    q = journal_.add(opt_.id, line, opt_.queue_limit, [&](const std::string& scan_id) {
      return json{{"scan_id", scan_id},          {"code", line},
                  {"scanner", opt_.id},          {"gate", opt_.gate},
                  {"direction", opt_.direction}, {"scanned_at", tb::format_rfc3339(tb::now_ms())}}
          .dump();
    });
  } catch (const std::exception& e) {
    spdlog::error("cannot write the scan to the journal: {}", e.what());
    print(opt_.json ? json{{"event", "refused"}, {"code", line}, {"reason", "journal error"}}.dump()
                    : "REJECT  " + line + "  could not be recorded - check manually");
    return;
  }
  if (!q) {
    spdlog::error("the queue is full ({} scans wait for the broker); scan refused",
                  opt_.queue_limit);
    print(opt_.json
              ? json{{"event", "refused"}, {"code", line}, {"reason", "queue full"}}.dump()
              : (opt_.color ? "\x1b[1;97;41m QUEUE FULL \x1b[0m" : std::string("QUEUE FULL")) +
                    "  " + line + "  " + std::to_string(opt_.queue_limit) +
                    " scans wait for the network - check manually");
    return;
  }
  Inflight f;
  f.code = line;
  f.payload = q->payload;
  f.seq = q->seq;
  f.deadline = Clock::now() + opt_.answer_timeout;
  f.next_send = Clock::now();
  auto& slot = inflight_.emplace(q->scan_id, std::move(f)).first->second;
  order_.emplace(q->seq, q->scan_id);
  // In order: only send now when nothing older is still waiting for its first send.
  if (connected_ && !flush_) send(q->scan_id, slot);
  cv_.notify_all();
}

bool Agent::send(const std::string& scan_id, Inflight& f) {
  f.sends++;
  f.next_send = Clock::now() + retry_delay(f.sends);
  auto msg = mqtt::make_message(std::string(tb::topics::kScan), f.payload, 1, false);
  msg->set_properties(
      mqtt::properties{{mqtt::property::RESPONSE_TOPIC, tb::topics::result(opt_.id)},
                       {mqtt::property::CORRELATION_DATA, scan_id}});
  try {
    client_->publish(msg);
    return true;
  } catch (const mqtt::exception& e) {
    spdlog::warn("scan {} not sent yet: {}", scan_id, e.what());
    return false;
  }
}

void Agent::on_answer(const std::string& payload, const std::optional<std::string>& correlation) {
  const auto a = json::parse(payload, nullptr, false);
  if (!a.is_object()) {
    spdlog::warn("an answer that is not a JSON object was ignored");
    return;
  }
  std::string scan_id = correlation.value_or("");
  if (scan_id.empty() && a.contains("scan_id") && a["scan_id"].is_string()) scan_id = a["scan_id"];
  std::lock_guard lock(mu_);
  const auto it = inflight_.find(scan_id);
  if (it == inflight_.end()) {
    spdlog::debug("answer for {} ignored (already answered or not ours)", scan_id);
    return;
  }
  const bool late = it->second.timed_out;
  try {
    journal_.remove(scan_id);
  } catch (const std::exception& e) {
    spdlog::error("cannot remove scan {} from the journal: {}", scan_id, e.what());
  }
  order_.erase(it->second.seq);
  inflight_.erase(it);
  cv_.notify_all();

  const std::string status = text_field(a, "status");
  if (opt_.json) {
    json line = {
        {"event", "answer"}, {"scan_id", scan_id}, {"late", late}, {"message", reason_words(a)}};
    for (const char* k : {"code", "status", "reason", "holder", "entries", "max_entries",
                          "previous", "decided_at"}) {
      line[k] = a.value(k, json());
    }
    print(line.dump());
  } else {
    print(answer_line(a, opt_.color, late));
  }
  run_hook(status == "rejected" ? opt_.on_reject : opt_.on_admit,
           {{"TB_SCAN_ID", scan_id},
            {"TB_CODE", text_field(a, "code")},
            {"TB_STATUS", status},
            {"TB_REASON", text_field(a, "reason")},
            {"TB_HOLDER", text_field(a, "holder")},
            {"TB_MESSAGE", reason_words(a)},
            {"TB_LATE", late ? "1" : "0"}});
}

void Agent::run_hook(const std::optional<std::string>& cmd,
                     const std::map<std::string, std::string>& vars) {
  if (!cmd) return;
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) env_storage.emplace_back(*e);
  env_storage.push_back("TB_SCANNER=" + opt_.id);
  env_storage.push_back("TB_GATE=" + opt_.gate);
  for (const auto& [k, v] : vars) env_storage.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string shell = "/bin/sh", dash_c = "-c", command = *cmd;
  char* argv[] = {shell.data(), dash_c.data(), command.data(), nullptr};
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGCHLD);  // we ignore it (to reap hooks); the hook must not inherit that
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  // The hook's stdin is /dev/null: it must never read the scanner's codes from our stdin.
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  if (const int rc = posix_spawn(&pid, "/bin/sh", &files, &attr, argv, envp.data()); rc != 0) {
    spdlog::error("hook '{}' could not start: {}", *cmd, std::strerror(rc));
  }
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attr);
}

void Agent::connect_async() {
  connecting_ = true;
  auto listener = std::make_shared<ConnectListener>([this](bool ok, const std::string& why) {
    if (ok) return;  // the connected handler takes it from here
    std::lock_guard lock(mu_);
    connecting_ = false;
    ++connect_failures_;
    // Backoff with jitter: 0.5 s doubling to 15 s, times 0.5-1.5.
    static thread_local std::mt19937 rng(std::random_device{}());
    const double base = std::min(15000.0, 500.0 * (1 << std::min(connect_failures_, 5)));
    const auto delay = std::chrono::milliseconds(
        static_cast<long>(base * std::uniform_real_distribution<double>(0.5, 1.5)(rng)));
    if (connect_failures_ == 1) {
      const std::string hint = tb::is_tls_url(opt_.broker) ? tb::tls_failure_hint(opt_.tls) : "";
      spdlog::warn("broker {} unreachable ({}{}); retrying", opt_.broker, why, hint);
    }
    next_connect_ = Clock::now() + delay;
    cv_.notify_all();
  });
  listeners_.push_back(listener);
  try {
    client_->connect(*connect_options_, nullptr, *listener);
  } catch (const mqtt::exception& e) {
    connecting_ = false;
    next_connect_ = Clock::now() + std::chrono::seconds(1);
    spdlog::warn("connect to {}: {}", opt_.broker, e.what());
  }
}

void Agent::worker() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const auto now = Clock::now();
    if (!connected_ && !connecting_ && now >= next_connect_) {
      if (listeners_.size() > 8) listeners_.erase(listeners_.begin());
      connect_async();
    }
    // NO ANSWER for scans of this run whose answer is late.
    for (auto& [scan_id, f] : inflight_) {
      if (f.timed_out || now < f.deadline) continue;
      f.timed_out = true;
      if (opt_.json) {
        print(json{{"event", "no_answer"},
                   {"scan_id", scan_id},
                   {"code", f.code},
                   {"message", "NO ANSWER - check manually"}}
                  .dump());
      } else {
        print(timeout_line(f.code, opt_.color));
      }
      run_hook(opt_.on_timeout, {{"TB_SCAN_ID", scan_id},
                                 {"TB_CODE", f.code},
                                 {"TB_STATUS", "no_answer"},
                                 {"TB_REASON", "timeout"},
                                 {"TB_HOLDER", ""},
                                 {"TB_MESSAGE", "NO ANSWER - check manually"},
                                 {"TB_LATE", "0"}});
    }
    if (connected_) {
      // After a (re)connect everything unanswered goes again, in journal order; then each scan
      // is re-sent with backoff until the bridge answers it (the bridge decides each scan_id once).
      const bool all = flush_;
      flush_ = false;
      for (const auto& [seq, scan_id] : order_) {
        auto& f = inflight_.at(scan_id);
        if (all || now >= f.next_send) send(scan_id, f);
      }
    }
    auto wake = now + std::chrono::seconds(1);
    for (const auto& [scan_id, f] : inflight_) {
      if (!f.timed_out) wake = std::min(wake, f.deadline);
      if (connected_) wake = std::min(wake, f.next_send);
    }
    if (!connected_ && !connecting_) wake = std::min(wake, next_connect_);
    cv_.wait_until(lock, wake);
  }
}

void Agent::settle(std::chrono::milliseconds max_wait) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, max_wait, [this] {
    for (const auto& [id, f] : inflight_) {
      if (!f.timed_out) return false;
    }
    return true;
  });
}

void Agent::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  {
    // Paho races when a client is destroyed while its connect attempt is still in flight (the
    // process can abort), so let the attempt end first: it succeeds (and is disconnected below)
    // or fails within tb::kPahoConnectWait.
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, tb::kPahoConnectWait, [this] { return !connecting_; })) {
      spdlog::warn("the connect attempt to {} did not end in time", opt_.broker);
    }
  }
  try {
    if (client_->is_connected()) {
      client_->publish(tb::topics::scanner_status(opt_.id), status_payload("offline"), 1, true)
          ->wait_for(std::chrono::seconds(1));
      client_->disconnect(std::chrono::milliseconds(300))->wait_for(std::chrono::seconds(2));
    }
  } catch (const mqtt::exception& e) {
    spdlog::warn("disconnect: {}", e.what());
  }
  std::lock_guard lock(mu_);
  if (!inflight_.empty()) {
    spdlog::info("{} unanswered scans stay queued in {} for the next start", inflight_.size(),
                 opt_.journal_path);
  }
}

}  // namespace sa
