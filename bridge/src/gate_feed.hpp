// The bridge's side of the gates' feed (gate_sync.hpp, docs/offline.md): what signed tickets
// have used and which are revoked, for scanner agents that decide alone during an outage.
//
// Updates: the writer hands over each committed batch's news (WriterOptions::on_feed), sent as
// one message on tickets/sync/updates. Snapshot: read from the store every --gate-feed-interval
// (a reader job, off the writer's thread) and published, retained and chunked, when it differs
// from the last one, and at every connect of the bridge (a broker that lost its retained messages
// gets them again). Neither is buffered while the broker is away: the snapshot after the
// reconnect says it all.
#pragma once

#include <cstddef>
#include <mutex>
#include <vector>

#include "gate_sync.hpp"
#include "mqtt_link.hpp"
#include "store.hpp"

namespace tb {

class GateFeed {
 public:
  explicit GateFeed(MqttLink& mqtt) : mqtt_(mqtt) {}

  // The news of one batch (the writer's thread), added to `batch` for its one hand-over.
  void publish_updates(const std::vector<SyncEntry>& news, std::vector<MqttOutbound>* batch);
  // Reads the snapshot from `store` and publishes it when it changed since the last publish, or
  // with `force` (any one thread at a time; a reader job). Returns the chunks published.
  std::size_t publish_snapshot(Store& store, bool force);

 private:
  MqttLink& mqtt_;
  std::mutex mu_;  // the snapshot's state below, and one snapshot at a time
  bool published_ = false;
  std::size_t last_digest_ = 0;
  std::size_t last_chunks_ = 0;
};

}  // namespace tb
