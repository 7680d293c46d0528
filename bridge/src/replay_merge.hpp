// What a WebSocket client is sent after its hello: the replay of what it missed (read from the
// store off the network threads) and the live events that arrive meanwhile, merged so that it
// gets every event after its `since` once and in seq order. The session subscribes to live
// events before it asks for the replay, so an event committed in between is in the replay, live,
// or both (and then sent once).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store.hpp"

namespace tb {

class ReplayMerger {
 public:
  using Text = std::shared_ptr<const std::string>;

  // A live event. While the replay is being read it is held and nothing is returned; after, it is
  // returned to send unless the client has it already (then null).
  Text on_live(const std::shared_ptr<const StoredEvent>& event);
  // The replay arrived: what to send, in order (the replayed events after `since`, then the held
  // live events it did not contain). A client ahead of the log (it saw another database) gets
  // everything from the log's last seq on.
  std::vector<Text> on_replay(Replay& replay, std::optional<std::int64_t> since);

  bool live() const { return live_; }
  std::int64_t last_sent() const { return last_sent_; }

 private:
  bool live_ = false;
  std::int64_t last_sent_ = 0;
  std::vector<std::shared_ptr<const StoredEvent>> held_;
};

}  // namespace tb
