// The venue board and the operator page's feed (venue_board.hpp).
#include "venue_board.hpp"

#include <spdlog/spdlog.h>

#include "timeutil.hpp"

namespace tb {

namespace {

constexpr std::size_t kBuckets = Histogram::kBounds.size() + 1;
using Buckets = std::array<std::uint64_t, kBuckets>;

std::int64_t minute_of(Millis at) {
  return at / 60'000;
}

// The q-quantile of a histogram in milliseconds, interpolated inside its bucket as Prometheus'
// histogram_quantile does (a value above the last bound reads as that bound); null when empty.
nlohmann::json quantile_ms(const Buckets& b, double q) {
  std::uint64_t n = 0;
  for (auto c : b) n += c;
  if (n == 0) return nullptr;
  const double rank = q * static_cast<double>(n);
  std::uint64_t below = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    if (static_cast<double>(below + b[i]) >= rank && b[i] > 0) {
      const auto& bounds = Histogram::kBounds;
      if (i == bounds.size()) return bounds.back() * 1000;
      const double lower = i == 0 ? 0.0 : bounds[i - 1];
      const double upper = bounds[i];
      const double within = (rank - static_cast<double>(below)) / static_cast<double>(b[i]);
      return (lower + (upper - lower) * within) * 1000;
    }
    below += b[i];
  }
  return Histogram::kBounds.back() * 1000;
}

// A label value as Prometheus' text format wants it (gate names are ids: no quotes or
// backslashes, but a newline is refused by nothing upstream of here).
void label(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

}  // namespace

VenueBoard::VenueBoard(BoardOptions options) : options_(options) {}

void VenueBoard::load(Store& store, Millis now) {
  auto scanners = store.scanners();
  const auto counts = store.venue_counts();
  std::lock_guard lock(mu_);
  for (const auto& s : scanners) {
    if (auto* sc = scanner_of(s.id)) {
      sc->gate = s.gate;
      if (sc->since == 0) sc->since = now;
    }
  }
  counts_ = counts;
  ++version_;
}

void VenueBoard::set_counts(const Store::VenueCounts& counts) {
  std::lock_guard lock(mu_);
  if (counts.sold == counts_.sold && counts.admitted == counts_.admitted &&
      counts.inside == counts_.inside) {
    return;
  }
  counts_ = counts;
  ++version_;
}

VenueBoard::Gate& VenueBoard::gate_of(const std::string& name) {
  const std::string_view key = name.empty() ? std::string_view(kNoGate) : std::string_view(name);
  if (auto it = gates_.find(key); it != gates_.end()) return it->second;
  // "other" takes every gate beyond the bound, and is not one of the bound's.
  const std::size_t named = gates_.size() - (gates_.count(kOtherGate) > 0 ? 1 : 0);
  if (named >= options_.max_gates) return gates_[kOtherGate];
  return gates_[std::string(key)];
}

VenueBoard::Scanner* VenueBoard::scanner_of(std::string_view id) {
  if (auto it = scanners_.find(id); it != scanners_.end()) return &it->second;
  if (scanners_.size() >= options_.max_scanners) {
    ++scanners_untracked_;
    return nullptr;
  }
  return &scanners_.emplace(std::string(id), Scanner{}).first->second;
}

void VenueBoard::record(const Tally& t, double seconds) {
  const std::size_t bucket = Histogram::bucket_of(seconds);
  const auto s = static_cast<std::size_t>(t.status);
  const auto r = static_cast<std::size_t>(t.reason);
  const std::int64_t minute = minute_of(t.at);
  std::lock_guard lock(mu_);
  Gate& g = gate_of(t.gate);
  ++g.scans[s][r];
  ++g.buckets[bucket];
  g.seconds_sum += seconds;
  ++g.count;
  Minute& m = g.minutes[static_cast<std::size_t>(minute) % kMinutes];
  if (m.index != minute) m = Minute{minute, 0, 0, {}, {}};
  ++m.buckets[bucket];
  if (t.status == Status::Admitted) {
    ++m.admitted;
  } else if (t.status == Status::Exited) {
    ++m.exited;
  } else {
    ++m.rejected[r];
  }
  counts_.admitted += t.admitted_delta;
  counts_.inside += t.inside_delta;
  if (!t.scanner.empty()) {
    if (auto* sc = scanner_of(t.scanner)) {
      if (!t.gate.empty()) sc->gate = t.gate;
      sc->last_scan = t.at;
      sc->last_status = std::string(to_string(t.status));
    }
  }
  if (t.status == Status::Rejected && options_.recent_rejections > 0) {
    if (rejections_.size() >= options_.recent_rejections) rejections_.pop_back();
    rejections_.push_front(
        Rejection{t.at, t.gate, t.scanner, t.code, t.holder, t.reason, t.conflict});
  }
  ++version_;
}

void VenueBoard::presence(std::string_view scanner, bool online, Millis now) {
  std::lock_guard lock(mu_);
  auto* sc = scanner_of(scanner);
  if (sc == nullptr || (sc->heard && sc->online == online)) return;
  sc->heard = true;
  sc->online = online;
  sc->since = now;
  ++version_;
}

std::uint64_t VenueBoard::version() const {
  std::lock_guard lock(mu_);
  return version_;
}

nlohmann::json VenueBoard::snapshot(Millis now, const BridgeInfo& bridge) const {
  using nlohmann::json;
  const std::int64_t this_minute = minute_of(now);
  const auto rfc = [](Millis at) -> json { return at > 0 ? json(format_rfc3339(at)) : json(); };
  std::lock_guard lock(mu_);
  json scanners = json::array();
  std::int64_t online = 0;
  for (const auto& [id, sc] : scanners_) {
    online += sc.online ? 1 : 0;
    scanners.push_back(
        {{"id", id},
         {"gate", sc.gate.empty() ? json() : json(sc.gate)},
         {"status", sc.heard ? (sc.online ? "online" : "offline") : "unknown"},
         {"status_since", rfc(sc.since)},
         {"last_scan", rfc(sc.last_scan)},
         {"last_scan_status", sc.last_status.empty() ? json() : json(sc.last_status)},
         {"seconds_since_last_scan",
          sc.last_scan > 0 ? json((now - sc.last_scan) / 1000) : json()}});
  }
  json gates = json::array();
  std::array<std::uint64_t, kStatusCount> totals{};
  for (const auto& [name, g] : gates_) {
    json by_status = json::object();
    json by_reason = json::object();
    for (std::size_t s = 0; s < kStatusCount; ++s) {
      std::uint64_t n = 0;
      for (std::size_t r = 0; r < kReasonCount; ++r) {
        n += g.scans[s][r];
        if (s == static_cast<std::size_t>(Status::Rejected) && g.scans[s][r] > 0) {
          by_reason[std::string(to_string(static_cast<Reason>(r)))] = g.scans[s][r];
        }
      }
      by_status[std::string(to_string(static_cast<Status>(s)))] = n;
      totals[s] += n;
    }
    // The last kMinutes minutes, oldest first, the current one last.
    json admitted = json::array();
    json exited = json::array();
    json rejected = json::array();
    std::array<std::vector<std::uint32_t>, kReasonCount> reason_minutes;
    Buckets recent{};
    for (std::size_t k = kMinutes; k-- > 0;) {
      const std::int64_t minute = this_minute - static_cast<std::int64_t>(k);
      const Minute& m = g.minutes[static_cast<std::size_t>(minute) % kMinutes];
      const bool live = m.index == minute;
      admitted.push_back(live ? m.admitted : 0);
      exited.push_back(live ? m.exited : 0);
      std::uint32_t rej = 0;
      for (std::size_t r = 0; r < kReasonCount; ++r) {
        const std::uint32_t n = live ? m.rejected[r] : 0;
        rej += n;
        reason_minutes[r].push_back(n);
      }
      rejected.push_back(rej);
      if (live && k < kPercentileWindow) {
        for (std::size_t b = 0; b < kBuckets; ++b) recent[b] += m.buckets[b];
      }
    }
    json reasons_per_minute = json::object();
    for (std::size_t r = 0; r < kReasonCount; ++r) {
      bool any = false;
      for (auto n : reason_minutes[r]) any = any || n > 0;
      if (any)
        reasons_per_minute[std::string(to_string(static_cast<Reason>(r)))] = reason_minutes[r];
    }
    gates.push_back({{"gate", name},
                     {"scans", by_status},
                     {"rejected_by_reason", by_reason},
                     {"decision_p50_ms", quantile_ms(recent, 0.5)},
                     {"decision_p99_ms", quantile_ms(recent, 0.99)},
                     {"per_minute",
                      {{"admitted", admitted},
                       {"exited", exited},
                       {"rejected", rejected},
                       {"rejected_by_reason", reasons_per_minute}}}});
  }
  json rejections = json::array();
  for (const auto& r : rejections_) {
    rejections.push_back({{"at", format_rfc3339(r.at)},
                          {"gate", r.gate.empty() ? json() : json(r.gate)},
                          {"scanner", r.scanner.empty() ? json() : json(r.scanner)},
                          {"reason", to_string(r.reason)},
                          {"code", r.code.empty() ? json() : json(r.code)},
                          {"holder", r.holder.empty() ? json() : json(r.holder)},
                          {"conflict", r.conflict}});
  }
  json scans = json::object();
  for (std::size_t s = 0; s < kStatusCount; ++s) {
    scans[std::string(to_string(static_cast<Status>(s)))] = totals[s];
  }
  return {{"at", format_rfc3339(now)},
          {"scans", scans},
          {"venue",
           {{"tickets_sold", counts_.sold},
            {"admitted", counts_.admitted},
            {"inside", counts_.inside}}},
          {"scanners", scanners},
          {"scanners_online", online},
          {"scanners_untracked", scanners_untracked_},
          {"gates", gates},
          {"recent_rejections", rejections},
          {"bridge",
           {{"instance", bridge.instance},
            {"version", bridge.version},
            {"store", bridge.store},
            {"broker", bridge.mqtt_connected ? "connected" : "disconnected"},
            {"store_up", bridge.store_up},
            {"queue_depth", bridge.queue_depth},
            {"ws_connections", bridge.ws_connections},
            {"uptime_s", bridge.uptime_s}}}};
}

void VenueBoard::render_prometheus(std::string& out) const {
  std::lock_guard lock(mu_);
  out +=
      "# HELP ticket_bridge_gate_scans_total Scans decided per gate, by status and reason.\n"
      "# TYPE ticket_bridge_gate_scans_total counter\n";
  for (const auto& [name, g] : gates_) {
    for (std::size_t s = 0; s < kStatusCount; ++s) {
      for (std::size_t r = 0; r < kReasonCount; ++r) {
        if (g.scans[s][r] == 0) continue;
        out += "ticket_bridge_gate_scans_total{gate=\"";
        label(out, name);
        out += "\",status=\"";
        out += to_string(static_cast<Status>(s));
        out += "\",reason=\"";
        out += to_string(static_cast<Reason>(r));
        out += "\"} " + std::to_string(g.scans[s][r]) + "\n";
      }
    }
  }
  out +=
      "# HELP ticket_bridge_gate_decision_seconds Time from a scan's arrival to its answer being "
      "sent, per gate.\n# TYPE ticket_bridge_gate_decision_seconds histogram\n";
  for (const auto& [name, g] : gates_) {
    std::string gate = "gate=\"";
    label(gate, name);
    gate += "\"";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      cumulative += g.buckets[i];
      out += "ticket_bridge_gate_decision_seconds_bucket{" + gate + ",le=\"";
      if (i < Histogram::kBounds.size()) {
        append_prometheus_number(out, Histogram::kBounds[i]);
      } else {
        out += "+Inf";
      }
      out += "\"} " + std::to_string(cumulative) + "\n";
    }
    out += "ticket_bridge_gate_decision_seconds_sum{" + gate + "} ";
    append_prometheus_number(out, g.seconds_sum);
    out += "\nticket_bridge_gate_decision_seconds_count{" + gate + "} " + std::to_string(g.count) +
           "\n";
  }
  const auto gauge = [&out](const char* name, const char* help, std::int64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n" + name +
           " " + std::to_string(v) + "\n";
  };
  gauge("ticket_bridge_tickets_sold", "Tickets in the store that are not revoked.", counts_.sold);
  gauge("ticket_bridge_tickets_admitted", "Tickets admitted at least once.", counts_.admitted);
  gauge("ticket_bridge_tickets_inside", "Tickets inside now (admitted and not scanned out).",
        counts_.inside);
}

OperatorFeed::OperatorFeed(const VenueBoard& board, std::function<BridgeInfo()> bridge,
                           std::chrono::milliseconds interval)
    : board_(board), bridge_(std::move(bridge)), interval_(interval) {}

OperatorFeed::~OperatorFeed() {
  stop();
}

void OperatorFeed::start() {
  thread_ = std::thread([this] { run(); });
}

void OperatorFeed::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    subscribers_.clear();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<const std::string> OperatorFeed::message() const {
  auto j = board_.snapshot(now_ms(), bridge_ ? bridge_() : BridgeInfo{});
  j["type"] = "figures";
  // Every text in it came through a UTF-8 check; were one to slip through, it is replaced rather
  // than taking the page's feed down.
  return std::make_shared<const std::string>(
      j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

bool OperatorFeed::subscribe(const std::shared_ptr<FiguresSubscriber>& s, std::size_t max) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || subscribers_.size() >= max) return false;
    subscribers_.push_back(s);
    ++sent_;
  }
  cv_.notify_all();
  s->figures(message());
  return true;
}

void OperatorFeed::unsubscribe(const FiguresSubscriber* s) {
  std::lock_guard lock(mu_);
  std::erase_if(subscribers_, [s](const auto& p) { return p.get() == s; });
}

std::uint64_t OperatorFeed::messages_sent() const {
  std::lock_guard lock(mu_);
  return sent_;
}

void OperatorFeed::run() {
  std::unique_lock lock(mu_);
  std::uint64_t sent_version = 0;
  auto sent_at = std::chrono::steady_clock::now();
  while (!stopping_) {
    if (subscribers_.empty()) {
      cv_.wait(lock, [this] { return stopping_ || !subscribers_.empty(); });
      continue;
    }
    cv_.wait_for(lock, interval_, [this] { return stopping_; });
    if (stopping_) break;
    const auto version = board_.version();
    const auto now = std::chrono::steady_clock::now();
    if (version == sent_version && now - sent_at < kHeartbeat) continue;
    auto subscribers = subscribers_;
    lock.unlock();
    try {
      const auto text = message();
      for (const auto& s : subscribers) s->figures(text);
    } catch (const std::exception& e) {
      // Never the end of the process: the next interval tries again.
      spdlog::error("operator page: the figures were not sent: {}", e.what());
    }
    lock.lock();
    sent_ += subscribers.size();
    sent_version = version;
    sent_at = now;
  }
}

}  // namespace tb
