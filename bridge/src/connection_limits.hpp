// How many connections the HTTP/WebSocket listener holds: in total and per source address, so
// that a hostile crowd (or one broken client in a loop) cannot take every file descriptor. The
// listener asks for a slot at accept; the connection gives it back when it ends.
//
// A connection over a cap is not dropped unanswered: it gets a slot of its own kind, to be told
// 503 (or close 1013 on a WebSocket), and there are at most `max_refusing` of those at a time;
// beyond that the listener closes at once. Thread-safe; knows nothing of sockets (the source is
// a string, see listener.cpp for where it comes from).
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

namespace tb {

enum class Cap { None, Total, PerSource };

class ConnectionLimits {
 public:
  ConnectionLimits(std::size_t max_total, std::size_t max_per_source,
                   std::size_t max_refusing = 256)
      : max_total_(max_total), max_per_source_(max_per_source), max_refusing_(max_refusing) {}

  // A connection's place under the caps, given back when destroyed. Empty when it was refused.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& o) noexcept
        : owner_(std::exchange(o.owner_, nullptr)),
          source_(std::move(o.source_)),
          refusal_(o.refusal_) {}
    Slot& operator=(Slot&& o) noexcept {
      if (this != &o) {
        release();
        owner_ = std::exchange(o.owner_, nullptr);
        source_ = std::move(o.source_);
        refusal_ = o.refusal_;
      }
      return *this;
    }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { release(); }
    explicit operator bool() const { return owner_ != nullptr; }

   private:
    friend class ConnectionLimits;
    Slot(ConnectionLimits* owner, std::string source, bool refusal)
        : owner_(owner), source_(std::move(source)), refusal_(refusal) {}
    void release();
    ConnectionLimits* owner_ = nullptr;
    std::string source_;
    bool refusal_ = false;
  };

  // A slot for a connection from `source` and Cap::None; over a cap, the cap and a slot to
  // refuse it with (empty when too many are being refused already). An empty source counts
  // against the total only: a trusted proxy's connection, whose client is not known yet.
  std::pair<Slot, Cap> admit(const std::string& source);
  // Counts a served slot admitted with an empty source against `source` from now on (the client
  // a trusted proxy names). Cap::PerSource, and the slot unchanged, when `source` is at its cap.
  Cap attribute(Slot& slot, const std::string& source);
  std::size_t open() const;

 private:
  void give_back(const std::string& source, bool refusal);

  const std::size_t max_total_;
  const std::size_t max_per_source_;
  const std::size_t max_refusing_;
  mutable std::mutex mu_;
  std::size_t total_ = 0;
  std::size_t refusing_ = 0;
  std::unordered_map<std::string, std::size_t> per_source_;
};

}  // namespace tb
