// A WebSocket test client (Boost.Beast) that many instances can share one I/O thread with:
// connect and hello synchronously, then messages are read in the background into a queue.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace tbtest {

// The I/O thread shared by clients.
class WsLoop {
 public:
  WsLoop();
  ~WsLoop();
  WsLoop(const WsLoop&) = delete;
  WsLoop& operator=(const WsLoop&) = delete;
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

class WsClient {
 public:
  // Connects to ws://127.0.0.1:port/ws (or `path`). With `read` false nothing is read (a client
  // that stalls); `rcvbuf` shrinks the socket's receive buffer when set.
  WsClient(WsLoop& loop, std::uint16_t port, bool read = true, int rcvbuf = 0,
           const std::string& path = "/ws");
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  void send(const std::string& text);
  // Sends {"type":"hello","token":token[,"since":since]}.
  void hello(const std::string& token, std::optional<std::int64_t> since = std::nullopt);
  // The next text message, or nothing when none came within `timeout` or the connection closed.
  std::optional<std::string> next(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Waits until the connection is closed; the close code the server sent, 0 when it closed
  // without a close frame, nothing when still open after `timeout`.
  std::optional<int> wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Starts reading (for a client made with read = false).
  void start_reading();
  void close();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace tbtest
