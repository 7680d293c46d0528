// What a WebSocket client is sent after its hello: the replay of what it missed, read from the
// store in pages off the network threads, then the live events, merged so that it gets every
// event after its `since` once and in seq order.
//
// The session subscribes to live events before it reads the first page. While the replay is
// read, live events are not held: they are committed, so a later page reads them from the store.
// The merger only remembers the highest seq seen live; the replay is over when a page reached
// the end of the log and nothing newer was seen live meanwhile. A replay of any size then needs
// no more memory than one page (SPEC.md v1.1: "sent in pages as the client reads").
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

  // A live event: to send, or null (the replay is still being read, or the client has it).
  Text on_live(const std::shared_ptr<const StoredEvent>& event);
  // A page of the replay arrived: what of it to send, in order. The first page's `last_seq`
  // starts the client at its `since` (a client ahead of the log, that saw another database, or
  // one without `since`: at the log's last seq).
  std::vector<Text> on_page(Replay& page, std::optional<std::int64_t> since);

  // The replay is over: live events go straight out.
  bool live() const { return live_; }
  // Where the next page starts (after this seq), while not live.
  std::int64_t next_since() const { return read_to_; }
  std::int64_t last_sent() const { return last_sent_; }

 private:
  bool started_ = false;
  bool live_ = false;
  std::int64_t last_sent_ = 0;
  std::int64_t read_to_ = 0;      // the log was read up to here
  std::int64_t newest_live_ = 0;  // the highest seq seen live while not live
};

}  // namespace tb
