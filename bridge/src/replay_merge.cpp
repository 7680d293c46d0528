// The paged replay/live merge of a WebSocket session (replay_merge.hpp).
#include "replay_merge.hpp"

#include <algorithm>
#include <cstdint>

namespace tb {

ReplayMerger::Text ReplayMerger::on_live(const std::shared_ptr<const StoredEvent>& event,
                                         bool in_scope) {
  if (!live_) {
    newest_live_ = std::max(newest_live_, event->seq);
    return nullptr;
  }
  if (event->seq <= read_to_) return nullptr;
  if (event->seq != read_to_ + 1) {  // another bridge's event before it: read them both
    live_ = false;
    newest_live_ = event->seq;
    return nullptr;
  }
  read_to_ = event->seq;
  if (!in_scope) return nullptr;
  last_sent_ = event->seq;
  // The body is shared with every other connection of the uid: no copy per connection.
  return Text(event, &event->body);
}

bool ReplayMerger::on_hint(std::optional<std::int64_t> seq) {
  if (seq && *seq <= read_to_) return false;
  // Not live: a read in flight may have started before this event was committed.
  newest_live_ = seq ? std::max(newest_live_, *seq) : INT64_MAX;
  const bool was_live = live_;
  live_ = false;
  return was_live;
}

std::vector<ReplayMerger::Text> ReplayMerger::on_page(Replay& page,
                                                      std::optional<std::int64_t> since) {
  if (!started_) {
    started_ = true;
    last_sent_ = since && *since <= page.last_seq ? *since : page.last_seq;
  }
  std::vector<Text> out;
  out.reserve(page.events.size());
  for (auto& e : page.events) {
    if (e.seq <= last_sent_) continue;
    out.push_back(std::make_shared<const std::string>(std::move(e.body)));
    last_sent_ = e.seq;
  }
  read_to_ = std::max({read_to_, last_sent_, page.read_to});
  // Over when this page reached the end of the log and every event seen live meanwhile was in
  // it; otherwise the next page reads them.
  live_ = !page.more && newest_live_ <= read_to_;
  return out;
}

}  // namespace tb
