// The replay/live merge of a WebSocket session (replay_merge.hpp).
#include "replay_merge.hpp"

namespace tb {

ReplayMerger::Text ReplayMerger::on_live(const std::shared_ptr<const StoredEvent>& event) {
  if (!live_) {
    held_.push_back(event);
    return nullptr;
  }
  if (event->seq <= last_sent_) return nullptr;
  last_sent_ = event->seq;
  // The body is shared with every other connection of the uid: no copy per connection.
  return Text(event, &event->body);
}

std::vector<ReplayMerger::Text> ReplayMerger::on_replay(Replay& replay,
                                                        std::optional<std::int64_t> since) {
  std::vector<Text> out;
  last_sent_ = since && *since <= replay.last_seq ? *since : replay.last_seq;
  for (auto& e : replay.events) {
    if (e.seq <= last_sent_) continue;
    out.push_back(std::make_shared<const std::string>(std::move(e.body)));
    last_sent_ = e.seq;
  }
  live_ = true;
  for (const auto& e : held_) {
    if (auto text = on_live(e)) out.push_back(std::move(text));
  }
  held_.clear();
  held_.shrink_to_fit();
  return out;
}

}  // namespace tb
