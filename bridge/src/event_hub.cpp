// Per-uid fan-out of events to live subscribers.
#include "event_hub.hpp"

#include <algorithm>

namespace tb {

bool EventHub::subscribe(const std::string& uid, const std::shared_ptr<EventSubscriber>& s,
                         std::size_t max_per_uid) {
  std::lock_guard lock(mu_);
  auto& subs = by_uid_[uid];
  if (subs.size() >= max_per_uid) {
    // Count only the live ones: a subscriber that is gone has not unsubscribed yet.
    const auto before = subs.size();
    std::erase_if(subs, [](const std::weak_ptr<EventSubscriber>& w) { return w.expired(); });
    count_ -= before - subs.size();
    if (subs.size() >= max_per_uid) return false;
  }
  subs.push_back(s);
  ++count_;
  return true;
}

void EventHub::unsubscribe(const std::string& uid, const EventSubscriber* s) {
  std::lock_guard lock(mu_);
  const auto it = by_uid_.find(uid);
  if (it == by_uid_.end()) return;
  auto& subs = it->second;
  const auto before = subs.size();
  subs.erase(std::remove_if(subs.begin(), subs.end(),
                            [s](const std::weak_ptr<EventSubscriber>& w) {
                              const auto p = w.lock();
                              return !p || p.get() == s;
                            }),
             subs.end());
  count_ -= before - subs.size();
  if (subs.empty()) by_uid_.erase(it);
}

std::vector<std::shared_ptr<EventSubscriber>> EventHub::subscribers_of(
    const std::string& uid) const {
  std::vector<std::shared_ptr<EventSubscriber>> targets;
  std::lock_guard lock(mu_);
  const auto it = by_uid_.find(uid);
  if (it == by_uid_.end()) return targets;
  targets.reserve(it->second.size());
  for (const auto& w : it->second) {
    if (auto p = w.lock()) targets.push_back(std::move(p));
  }
  return targets;
}

std::size_t EventHub::publish(const std::shared_ptr<const StoredEvent>& event) {
  const auto targets = subscribers_of(event->uid);
  for (const auto& t : targets) t->deliver(event);
  return targets.size();
}

std::size_t EventHub::hint(const std::string& uid, std::int64_t seq) {
  const auto targets = subscribers_of(uid);
  for (const auto& t : targets) t->hint(seq);
  return targets.size();
}

bool EventHub::has_subscribers(const std::string& uid) const {
  std::lock_guard lock(mu_);
  return by_uid_.contains(uid);
}

void EventHub::hint_all() {
  std::vector<std::shared_ptr<EventSubscriber>> targets;
  {
    std::lock_guard lock(mu_);
    targets.reserve(count_);
    for (const auto& [uid, subs] : by_uid_) {
      for (const auto& w : subs) {
        if (auto p = w.lock()) targets.push_back(std::move(p));
      }
    }
  }
  for (const auto& t : targets) t->hint(std::nullopt);
}

std::size_t EventHub::connections() const {
  std::lock_guard lock(mu_);
  return count_;
}

}  // namespace tb
