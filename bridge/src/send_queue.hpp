// A WebSocket session's unsent messages, bounded in bytes: a client that reads too slowly fills
// it and is closed (1013) instead of growing our memory. Messages are shared strings: an event's
// body is the same allocation for every connection of its uid.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <string>

namespace tb {

class SendQueue {
 public:
  explicit SendQueue(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  // Queues `text`, unless it would take the unsent bytes past the bound: false means the reader
  // is too slow. `force` skips the bound (the last words before a close).
  bool push(std::shared_ptr<const std::string> text, bool is_event, bool force = false);
  bool empty() const { return items_.empty(); }
  std::size_t size() const { return items_.size(); }
  const std::string& front() const { return *items_.front().text; }
  // The front was written: drops it and tells whether it was an event.
  bool pop();
  // Before a close: unsent events go (the client catches up with `since`); forced last words
  // stay, and so does the front while it is being written (`writing`).
  void drop_events(bool writing);
  std::size_t bytes() const { return bytes_; }
  void clear();

 private:
  struct Item {
    std::shared_ptr<const std::string> text;
    bool is_event = false;
  };
  std::size_t max_bytes_;
  std::list<Item> items_;  // unlike std::deque, allocates nothing while empty
  std::size_t bytes_ = 0;
};

}  // namespace tb
