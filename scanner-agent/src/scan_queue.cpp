// The agent's in-flight scans (scan_queue.hpp).
#include "scan_queue.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace sa {

void ScanQueue::insert(const QueuedScan& q, Entry e) {
  e.code = q.code;
  e.payload = q.payload;
  e.seq = q.seq;
  if (by_id_.emplace(q.scan_id, std::move(e)).second) order_.emplace(q.seq, q.scan_id);
}

void ScanQueue::add(const QueuedScan& q, Clock::time_point now) {
  Entry e;
  e.deadline = now + timing_.answer_timeout;
  e.next_send = now;
  insert(q, std::move(e));
}

namespace {

// The gate's status in a payload that carries an offline verdict (offline_gate.hpp), if any.
std::optional<std::string> offline_status_of(const std::string& payload) {
  const auto p = nlohmann::json::parse(payload, nullptr, false);
  if (!p.is_object()) return std::nullopt;
  const auto v = p.find("offline");
  if (v == p.end() || !v->is_object()) return std::nullopt;
  const auto s = v->find("status");
  if (s == v->end() || !s->is_string()) return std::nullopt;
  return s->get<std::string>();
}

}  // namespace

void ScanQueue::restore(const QueuedScan& q, Clock::time_point now) {
  Entry e;
  e.deadline = now;
  e.timed_out = true;
  e.next_send = now;
  // Decided at the gate before the restart: the bridge's answer is compared with that verdict.
  if (auto status = offline_status_of(q.payload)) {
    e.offline = true;
    e.offline_status = std::move(*status);
  }
  insert(q, std::move(e));
}

std::optional<ScanQueue::Answered> ScanQueue::answer(const std::string& scan_id) {
  const auto it = by_id_.find(scan_id);
  if (it == by_id_.end()) return std::nullopt;
  Answered a{it->second.code, it->second.timed_out, it->second.offline, it->second.offline_status};
  order_.erase(it->second.seq);
  by_id_.erase(it);
  return a;
}

bool ScanQueue::decided_offline(const std::string& scan_id, std::string payload,
                                std::string status) {
  const auto it = by_id_.find(scan_id);
  if (it == by_id_.end()) return false;
  it->second.payload = std::move(payload);
  it->second.timed_out = true;
  it->second.offline = true;
  it->second.offline_status = std::move(status);
  return true;
}

std::vector<ScanQueue::Item> ScanQueue::take_timeouts(Clock::time_point now) {
  std::vector<Item> out;
  for (const auto& [seq, scan_id] : order_) {
    auto& e = by_id_.at(scan_id);
    if (e.timed_out || now < e.deadline) continue;
    e.timed_out = true;
    out.push_back(Item{scan_id, e.code, e.payload});
  }
  return out;
}

std::vector<ScanQueue::Item> ScanQueue::take_due(Clock::time_point now, bool all) {
  std::vector<Item> out;
  // A scan is never sent AGAIN ahead of an older one that was sent before: when a re-send is
  // due, every older scan already sent goes with it, first. So when a round was lost (a broker
  // that had not yet given the bridge its subscription), the next round still reaches the bridge
  // in journal order. A first send (a new scan) takes nothing with it.
  std::size_t last_resend = 0;  // 1 + the position of the newest scan due for a re-send
  std::size_t i = 0;
  for (const auto& [seq, scan_id] : order_) {
    ++i;
    const auto& e = by_id_.at(scan_id);
    if (e.sends > 0 && now >= e.next_send) last_resend = i;
  }
  i = 0;
  for (const auto& [seq, scan_id] : order_) {
    ++i;
    auto& e = by_id_.at(scan_id);
    const bool due = all || now >= e.next_send || (e.sends > 0 && i < last_resend);
    if (!due) continue;
    e.sends++;
    e.next_send = now + retry_delay(e.sends);
    out.push_back(Item{scan_id, e.code, e.payload});
  }
  return out;
}

Clock::time_point ScanQueue::next_wake(Clock::time_point limit, bool connected) const {
  auto wake = limit;
  for (const auto& [scan_id, e] : by_id_) {
    if (!e.timed_out) wake = std::min(wake, e.deadline);
    if (connected) wake = std::min(wake, e.next_send);
  }
  return wake;
}

bool ScanQueue::settled() const {
  return std::all_of(by_id_.begin(), by_id_.end(),
                     [](const auto& kv) { return kv.second.timed_out; });
}

std::chrono::milliseconds ScanQueue::retry_delay(int sends) const {
  auto d = timing_.retry_min;
  for (int i = 1; i < sends && d < timing_.retry_max; ++i) d *= 2;
  return std::min(d, timing_.retry_max);
}

}  // namespace sa
