// The paged replay/live merge of a WebSocket session (replay_merge.hpp).
#include "replay_merge.hpp"

#include <algorithm>

namespace tb {

ReplayMerger::Text ReplayMerger::on_live(const std::shared_ptr<const StoredEvent>& event) {
  if (!live_) {
    newest_live_ = std::max(newest_live_, event->seq);
    return nullptr;
  }
  if (event->seq <= last_sent_) return nullptr;
  last_sent_ = event->seq;
  // The body is shared with every other connection of the uid: no copy per connection.
  return Text(event, &event->body);
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
