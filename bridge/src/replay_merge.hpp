// What a WebSocket client is sent after its hello: the replay of what it missed, read from the
// store in pages off the network threads, then the live events, merged so that it gets every
// event after its `since` once and in seq order.
//
// The session subscribes to live events before it reads the first page. While a page is read,
// live events are not held: they are committed, so a later page reads them from the store. The
// merger only remembers the highest seq seen live during the read; the replay is over when a
// page reached the end of the log and nothing newer was seen live meanwhile. A replay of any size
// then needs no more memory than one page (SPEC.md v1.1: "sent in pages as the client reads").
//
// Live, a uid's events arrive from this bridge's writer in seq order, but another bridge's events
// arrive only as a hint (a seq on users/<uid>/events, see peer_events.hpp) and in any order
// against ours. So live, the merger takes only the next seq; a gap, or a hint of a seq it has not
// read, sends it back to reading pages from where it was, and the store (where every event is
// committed before anyone hears of it) fills the gap. An event of another ticket than a scoped
// token's moves the position without being sent.
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

  // A live event of this bridge: to send, or null (the client has it, it is out of the token's
  // scope, pages are being read, or it came after a gap and pages are read again: see live()).
  Text on_live(const std::shared_ptr<const StoredEvent>& event, bool in_scope = true);
  // Another bridge's event `seq` (nothing: events may have been missed, as while the hints'
  // connection was down): whether pages must be read again (the merger is no longer live).
  bool on_hint(std::optional<std::int64_t> seq);
  // A page read starts: events seen live from now on may not be in it.
  void begin_page() { newest_live_ = 0; }
  // A page of the replay arrived: what of it to send, in order. The first page's `last_seq`
  // starts the client at its `since` (a client ahead of the log, that saw another database, or
  // one without `since`: at the log's last seq).
  std::vector<Text> on_page(Replay& page, std::optional<std::int64_t> since);

  // Live events go straight out; otherwise pages are being read.
  bool live() const { return live_; }
  // Where the next page starts (after this seq), while not live.
  std::int64_t next_since() const { return read_to_; }
  std::int64_t last_sent() const { return last_sent_; }

 private:
  bool started_ = false;
  bool live_ = false;
  std::int64_t last_sent_ = 0;
  std::int64_t read_to_ = 0;      // every event up to here was sent or is out of scope
  std::int64_t newest_live_ = 0;  // the highest seq seen live during the page read
};

}  // namespace tb
