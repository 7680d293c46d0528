// The scanner agent's worker (agent.hpp): events in, scans out, answers shown.
#include "agent.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "gate_sync.hpp"
#include "logging.hpp"
#include "signed_code.hpp"
#include "timeutil.hpp"
#include "topics.hpp"

namespace sa {

using nlohmann::json;

namespace {

tb::MqttSessionOptions session_options(const AgentOptions& o) {
  tb::MqttSessionOptions s;
  s.uri = o.broker;
  s.client_id = "scanner-" + o.id;
  s.username = o.username;
  s.password = o.password;
  s.tls = o.tls;
  s.keepalive = std::chrono::seconds(15);
  s.session_expiry_s = 3600;  // answers published while we reconnect wait for us
  s.status_topic = tb::topics::scanner_status(o.id);
  s.subscriptions = {tb::MqttSubscription{tb::topics::result(o.id), 1, false}};
  // A gate that decides alone hears what other gates let in (gate_sync.hpp): the retained
  // snapshot at every subscribe, the updates while connected (and, the session being kept, those
  // of a short absence).
  if (o.offline) {
    s.subscriptions.push_back({std::string(tb::topics::kSyncSnapshotFilter), 1, false});
    s.subscriptions.push_back({std::string(tb::topics::kSyncUpdates), 1, false});
  }
  // Scans are sent again from the queue after a reconnect, not buffered by Paho; a reconnect
  // flushes the whole queue at once.
  s.buffer_while_disconnected = false;
  s.max_buffered = static_cast<int>(std::min<std::size_t>(o.queue_limit, 10'000'000)) + 16;
  return s;
}

// Trims the spaces some wedge scanners add.
std::string trimmed(std::string line) {
  while (!line.empty() && line.back() == ' ') line.pop_back();
  const auto first = line.find_first_not_of(' ');
  return first == std::string::npos ? std::string() : line.substr(first);
}

}  // namespace

Agent::Agent(AgentOptions options, std::ostream& out)
    : opt_(std::move(options)),
      presenter_(out, opt_.json, opt_.color),
      hooks_(opt_.id, opt_.gate),
      journal_(opt_.journal_path),
      debouncer_(opt_.debounce),
      queue_(QueueTiming{opt_.answer_timeout, opt_.retry_min, opt_.retry_max}),
      session_(session_options(opt_),
               tb::MqttSession::Handlers{
                   [this](tb::MqttInbound m) {
                     if (m.topic.starts_with("tickets/sync/")) {
                       events_.push(FeedMessage{std::move(m.topic), std::move(m.payload)});
                     } else {
                       events_.push(AnswerMessage{std::move(m.payload), std::move(m.correlation)});
                     }
                   },
                   [this] { events_.push(Connected{}); }, [this] { events_.push(Lost{}); }}) {
  // Scans a previous run left unanswered are sent first, in order, once connected.
  const auto now = Clock::now();
  for (const auto& q : journal_.all()) queue_.restore(q, now);
  if (queue_.size() > 0) {
    spdlog::info("{} unanswered scans from before are queued and will be sent", queue_.size());
  }
}

Agent::~Agent() {
  stop();
}

void Agent::start() {
  worker_ = std::thread([this] { run(); });
  session_.keep_connected();
}

void Agent::on_line(std::string line) {
  {
    std::lock_guard lock(settle_mu_);
    ++lines_pending_;  // not settled before the worker has seen it
  }
  if (!events_.push(Line{std::move(line), Clock::now()})) {
    spdlog::warn("a line read after the stop was not taken");
  }
}

// Lines are handled in order, one journal write each; what the session reports (answers,
// connects, losses) is taken in between every two lines, so that it never waits behind a burst
// of lines: a burst would otherwise delay its own first send and every answer.
void Agent::run() {
  std::vector<Event> events;
  bool open = true;
  while (open) {
    const auto wake = queue_.next_wake(Clock::now() + std::chrono::seconds(1), connected_);
    events.clear();
    open = events_.pop(events, tb::WorkQueue<Event>::kAll, wake);
    take(events);
    std::size_t lines = 0;
    while (!lines_.empty()) {
      handle(lines_.front());
      lines_.pop_front();
      ++lines;
      events.clear();
      if (open) open = events_.pop(events, tb::WorkQueue<Event>::kAll, Clock::now());
      take(events);
      if (connected_) send_due(Clock::now());
    }
    const auto now = Clock::now();
    if (connected_) send_due(now);
    show_timeouts(now);
    {
      std::lock_guard lock(settle_mu_);
      lines_pending_ -= lines;
      settled_ = lines_pending_ == 0 && queue_.settled();
    }
    settle_cv_.notify_all();
  }
}

// Lines wait their turn in `lines_`; everything else is handled at once.
void Agent::take(std::vector<Event>& events) {
  for (auto& e : events) {
    if (auto* line = std::get_if<Line>(&e)) {
      lines_.push_back(std::move(*line));
    } else if (auto* answer = std::get_if<AnswerMessage>(&e)) {
      handle(*answer);
    } else if (auto* feed = std::get_if<FeedMessage>(&e)) {
      handle(*feed);
    } else if (std::holds_alternative<Connected>(e)) {
      connected_ = true;
      flush_ = true;
    } else {
      connected_ = false;
    }
  }
}

void Agent::handle(Line& in) {
  std::string line = trimmed(std::move(in.text));
  if (line.empty()) return;
  std::optional<std::string> bad;
  if (line == LineSplitter::kTooLong) {
    bad = "too long";
    line.clear();
  } else {
    bad = check_code(line);
  }
  if (bad) {
    spdlog::warn("scan not sent: {}", *bad);
    return presenter_.refused(line, *bad);
  }
  // A signed code read with Caps Lock on is the same code: upper case, so that a double read of
  // it is one scan.
  if (tb::looks_signed(line)) {
    for (auto& c : line) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  if (!debouncer_.accept(line, in.at)) {
    spdlog::info("double read of {} ignored", line);
    return;
  }
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
    return presenter_.not_recorded(line);
  }
  if (!q) {
    spdlog::error("the queue is full ({} scans wait for the broker); scan refused",
                  opt_.queue_limit);
    return presenter_.queue_full(line, opt_.queue_limit);
  }
  // Due at once: sent after every older scan still waiting, in journal order (send_due). The
  // answer's deadline runs from now, once the scan is on disk and can be sent.
  tb::logging::log(spdlog::level::debug, "scan journaled, to be sent",
                   {{"scan_id", q->scan_id},
                    {"code", q->code},
                    {"scanner", opt_.id},
                    {"gate", opt_.gate},
                    {"direction", opt_.direction}});
  queue_.add(*q, Clock::now());
  // With the broker unreachable there is no answer to wait for.
  if (!connected_ && opt_.offline) decide_offline(q->scan_id, q->code, q->payload);
}

// The bridge's feed (gate_sync.hpp) into the journal's record. A snapshot chunk the same as the
// one applied last is skipped: the bridge publishes it again at each of its connects, and the
// broker sends it again at each of ours.
void Agent::handle(FeedMessage& m) {
  if (!opt_.offline) return;
  const auto chunk = tb::topics::sync_snapshot_chunk(m.topic);
  if (!chunk && m.topic != tb::topics::kSyncUpdates) return;
  if (m.payload.empty()) {  // a chunk the bridge cleared
    if (chunk) feed_chunks_.erase(*chunk);
    return;
  }
  const auto digest = std::hash<std::string>{}(m.payload);
  if (chunk) {
    const auto it = feed_chunks_.find(*chunk);
    if (it != feed_chunks_.end() && it->second == digest) return;
  }
  auto parsed = tb::parse_sync_payload(m.payload);
  if (const auto* why = std::get_if<std::string>(&parsed)) {
    spdlog::warn("a message on {} is not the bridge's feed, ignored: {}", m.topic, *why);
    return;
  }
  const auto& feed = std::get<tb::SyncMessage>(parsed);
  std::size_t left_out = 0;
  try {
    left_out = journal_.apply_feed(feed.entries, opt_.feed_limit);
  } catch (const std::exception& e) {
    spdlog::error("cannot record the bridge's feed from {}: {}", m.topic, e.what());
    return;
  }
  if (chunk) feed_chunks_[*chunk] = digest;
  if (left_out > 0) {
    spdlog::warn(
        "the gate's record holds --feed-limit {} signed tickets: news of {} more was left out, "
        "and offline decisions do not know their use elsewhere",
        opt_.feed_limit, left_out);
  }
  spdlog::debug("feed: {} entries from {}", feed.entries.size(), m.topic);
}

bool Agent::decide_offline(const std::string& scan_id, const std::string& code,
                           const std::string& payload) {
  tb::Scan scan;
  scan.code = code;
  scan.scanner = opt_.id;
  scan.gate = opt_.gate;
  scan.direction = opt_.direction == "out" ? tb::Direction::Out : tb::Direction::In;
  const auto decided = sa::decide_offline(
      *opt_.offline, code, scan, tb::now_ms(),
      [this](const std::string& c, const std::string& key) { return journal_.known(c, key); });
  if (const auto* why = std::get_if<std::string>(&decided)) {
    spdlog::info("scan {} cannot be decided offline: {}", scan_id, *why);
    return false;
  }
  const auto& v = std::get<OfflineVerdict>(decided);
  json p = json::parse(payload);
  p["offline"] = verdict_record(v);
  std::string sent = p.dump();
  try {
    journal_.decided_offline(scan_id, sent, v.code, v.decision.new_usage);
  } catch (const std::exception& e) {
    spdlog::error("cannot record the offline decision of {}: {}", scan_id, e.what());
    return false;
  }
  const std::string status(tb::to_string(v.decision.status));
  queue_.decided_offline(scan_id, std::move(sent), status);
  const json a = verdict_answer(v);
  tb::logging::log(spdlog::level::info, "scan decided offline",
                   {{"scan_id", scan_id},
                    {"code", v.code},
                    {"status", status},
                    {"reason", std::string(tb::to_string(v.decision.reason))}});
  presenter_.answer(scan_id, a, false);
  run_answer_hooks(scan_id, a, false);
  return true;
}

void Agent::run_answer_hooks(const std::string& scan_id, const json& a, bool late) {
  hooks_.run(text_field(a, "status") == "rejected" ? opt_.on_reject : opt_.on_admit,
             {{"TB_SCAN_ID", scan_id},
              {"TB_CODE", text_field(a, "code")},
              {"TB_STATUS", text_field(a, "status")},
              {"TB_REASON", text_field(a, "reason")},
              {"TB_HOLDER", text_field(a, "holder")},
              {"TB_MESSAGE", reason_words(a)},
              {"TB_LATE", late ? "1" : "0"},
              {"TB_OFFLINE", flag_field(a, "offline") ? "1" : "0"}});
}

std::optional<tb::TicketUsage> Agent::usage_of(const std::string& scanned, const json& a) {
  if (!opt_.offline || !tb::looks_signed(scanned)) return std::nullopt;
  const std::string status = text_field(a, "status");
  if (status != "admitted" && status != "exited") return std::nullopt;
  const auto entries = a.find("entries");
  if (entries == a.end() || !entries->is_number_integer()) return std::nullopt;
  tb::TicketUsage u;
  u.entries = entries->get<std::int64_t>();
  u.inside = status == "admitted";
  if (u.inside) {
    u.last_entry = tb::EntryRecord{
        tb::parse_rfc3339(text_field(a, "decided_at")).value_or(tb::now_ms()), opt_.gate, opt_.id};
  }
  return u;
}

void Agent::handle(AnswerMessage& m) {
  const auto a = json::parse(m.payload, nullptr, false);
  if (!a.is_object()) {
    spdlog::warn("an answer that is not a JSON object was ignored");
    return;
  }
  std::string scan_id = m.correlation.value_or("");
  if (scan_id.empty() && a.contains("scan_id") && a["scan_id"].is_string()) scan_id = a["scan_id"];
  const auto answered = queue_.answer(scan_id);
  if (!answered) {
    spdlog::debug("answer for {} ignored (already answered or not ours)", scan_id);
    return;
  }
  const std::string status = text_field(a, "status");
  try {
    journal_.answered(scan_id, text_field(a, "code"), usage_of(answered->code, a));
  } catch (const std::exception& e) {
    spdlog::error("cannot remove scan {} from the journal: {}", scan_id, e.what());
  }
  if (answered->offline) {
    // Staff saw the offline decision; the bridge's is shown only when it differs.
    const bool same = status == answered->offline_status && !flag_field(a, "conflict");
    tb::logging::log(same ? spdlog::level::info : spdlog::level::warn,
                     same ? "the bridge's answer agrees with the offline decision"
                          : "the bridge's answer differs from the offline decision",
                     {{"scan_id", scan_id},
                      {"offline_status", answered->offline_status},
                      {"status", status},
                      {"reason", text_field(a, "reason")}});
    if (same) return;
  }
  presenter_.answer(scan_id, a, answered->late);
  if (spdlog::should_log(spdlog::level::debug)) {
    const std::string reason = text_field(a, "reason");
    tb::logging::log(spdlog::level::debug, "answer shown",
                     {{"scan_id", scan_id},
                      {"scanner", opt_.id},
                      {"status", status},
                      {"reason", reason},
                      {"late", std::int64_t{answered->late ? 1 : 0}}});
  }
  run_answer_hooks(scan_id, a, answered->late);
}

// NO ANSWER for scans of this run whose answer is late.
void Agent::show_timeouts(Clock::time_point now) {
  for (const auto& t : queue_.take_timeouts(now)) {
    if (opt_.offline && decide_offline(t.scan_id, t.code, t.payload)) continue;
    presenter_.no_answer(t.scan_id, t.code);
    hooks_.run(opt_.on_timeout, {{"TB_SCAN_ID", t.scan_id},
                                 {"TB_CODE", t.code},
                                 {"TB_STATUS", "no_answer"},
                                 {"TB_REASON", "timeout"},
                                 {"TB_HOLDER", ""},
                                 {"TB_MESSAGE", "NO ANSWER - check manually"},
                                 {"TB_LATE", "0"},
                                 {"TB_OFFLINE", "0"}});
  }
}

// After a (re)connect everything unanswered goes again, in journal order; then each scan is
// re-sent with backoff until the bridge answers it (the bridge decides each scan_id once).
void Agent::send_due(Clock::time_point now) {
  const bool all = flush_;
  flush_ = false;
  for (auto& s : queue_.take_due(now, all)) {
    session_.publish(tb::MqttOutbound{std::string(tb::topics::kScan),
                                      std::move(s.payload),
                                      false,
                                      tb::topics::result(opt_.id),
                                      s.scan_id,
                                      std::nullopt,
                                      {},
                                      false});
  }
}

void Agent::settle(std::chrono::milliseconds max_wait) {
  std::unique_lock lock(settle_mu_);
  // Every line given so far is journaled (and sent) first, as long as that takes; then the
  // answers get `max_wait`.
  settle_cv_.wait(lock, [this] { return lines_pending_ == 0; });
  settle_cv_.wait_for(lock, max_wait, [this] { return settled_; });
}

void Agent::stop() {
  if (stopped_) return;
  stopped_ = true;
  events_.close();  // the worker handles what already arrived, then ends
  if (worker_.joinable()) worker_.join();
  session_.stop();  // after a connect attempt in flight ends: Paho must not be torn down mid-way
  if (queue_.size() > 0) {
    spdlog::info("{} unanswered scans stay queued in {} for the next start", queue_.size(),
                 opt_.journal_path);
  }
}

}  // namespace sa
