// The bounded send queue of a WebSocket session (send_queue.hpp).
#include "send_queue.hpp"

namespace tb {

bool SendQueue::push(std::shared_ptr<const std::string> text, bool is_event, bool force) {
  if (!force && bytes_ + text->size() > max_bytes_) return false;
  bytes_ += text->size();
  items_.push_back(Item{std::move(text), is_event});
  return true;
}

bool SendQueue::pop() {
  const bool was_event = items_.front().is_event;
  bytes_ -= items_.front().text->size();
  items_.pop_front();
  return was_event;
}

void SendQueue::drop_events(bool writing) {
  bool first = true;
  std::erase_if(items_, [&](const Item& item) {
    const bool in_flight = writing && first;
    first = false;
    return !in_flight && item.is_event;
  });
  bytes_ = 0;
  for (const auto& item : items_) bytes_ += item.text->size();
}

void SendQueue::clear() {
  items_.clear();
  bytes_ = 0;
}

}  // namespace tb
