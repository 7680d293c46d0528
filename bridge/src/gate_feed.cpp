// The gates' feed, the bridge's side (gate_feed.hpp).
#include "gate_feed.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <string>

#include "timeutil.hpp"
#include "topics.hpp"

namespace tb {

namespace {

MqttOutbound feed_message(std::string topic, std::string payload, bool retain) {
  MqttOutbound m;
  m.topic = std::move(topic);
  m.payload = std::move(payload);
  m.retain = retain;
  m.drop_if_disconnected = true;  // the snapshot at the reconnect stands in for it
  return m;
}

}  // namespace

void GateFeed::publish_updates(const std::vector<SyncEntry>& news,
                               std::vector<MqttOutbound>* batch) {
  const Millis at = now_ms();
  for (std::size_t from = 0; from < news.size(); from += kMaxSyncEntriesPerMessage) {
    const auto to = std::min(news.size(), from + kMaxSyncEntriesPerMessage);
    const std::vector<SyncEntry> part(news.begin() + static_cast<std::ptrdiff_t>(from),
                                      news.begin() + static_cast<std::ptrdiff_t>(to));
    mqtt_.publish(feed_message(std::string(topics::kSyncUpdates), sync_payload(part, at), false),
                  batch);
  }
}

std::size_t GateFeed::publish_snapshot(Store& store, bool force) {
  std::lock_guard lock(mu_);
  const auto tickets = store.feed_tickets();
  const Millis at = now_ms();
  std::vector<SyncEntry> entries;
  entries.reserve(tickets.size());
  for (const auto& t : tickets) {
    if (auto key = sync_key_of(t.signed_code)) {
      entries.push_back({std::move(*key), t.entries, t.inside, t.revoked, at});
    }
  }
  const std::size_t room = kMaxSyncChunks * kMaxSyncEntriesPerMessage;
  if (entries.size() > room) {
    spdlog::warn(
        "gate feed: {} signed tickets were used or revoked, the snapshot holds {}: the gates do "
        "not hear of the rest before an outage",
        entries.size(), room);
    entries.resize(room);
  }
  // What the snapshot says, without its time: unchanged, nothing is published.
  std::size_t digest = entries.size();
  for (const auto& e : entries) {
    const std::size_t h = std::hash<std::string>{}(e.key) ^
                          (static_cast<std::size_t>(e.entries) << 2) ^ (e.inside ? 1U : 0U) ^
                          (e.revoked ? 2U : 0U);
    digest = digest * 1'000'003U ^ h;
  }
  if (!force && published_ && digest == last_digest_) return 0;
  if (!mqtt_.connected()) return 0;  // the connect publishes it
  const std::size_t chunks =
      (entries.size() + kMaxSyncEntriesPerMessage - 1) / kMaxSyncEntriesPerMessage;
  std::vector<MqttOutbound> out;
  for (std::size_t i = 0; i < chunks; ++i) {
    const auto from = i * kMaxSyncEntriesPerMessage;
    const auto to = std::min(entries.size(), from + kMaxSyncEntriesPerMessage);
    const std::vector<SyncEntry> part(entries.begin() + static_cast<std::ptrdiff_t>(from),
                                      entries.begin() + static_cast<std::ptrdiff_t>(to));
    out.push_back(feed_message(topics::sync_snapshot(i), sync_payload(part, at, i, chunks), true));
  }
  // Chunks beyond the new end are cleared (an empty retained message): all the feed could have
  // held after a start, as a bridge before this one may have published more.
  const std::size_t clear_to = published_ ? last_chunks_ : kMaxSyncChunks;
  for (std::size_t i = chunks; i < clear_to; ++i) {
    out.push_back(feed_message(topics::sync_snapshot(i), std::string(), true));
  }
  mqtt_.publish_all(out);
  published_ = true;
  last_digest_ = digest;
  last_chunks_ = chunks;
  spdlog::debug("gate feed: snapshot of {} signed tickets in {} chunks", entries.size(), chunks);
  return chunks;
}

}  // namespace tb
