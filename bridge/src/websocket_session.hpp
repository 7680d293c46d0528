// One WebSocket client: the hello with its token (ws_hello.hpp) and the token's end, the paged
// replay and live events merged (replay_merge.hpp), the bounded send queue (send_queue.hpp), the
// rate limit, pings, and the close. All its handlers run on its strand; this class is the Beast
// glue around those parts.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/steady_timer.hpp>

#include "event_hub.hpp"
#include "replay_merge.hpp"
#include "send_queue.hpp"
#include "server_state.hpp"

namespace tb {

class WebSocketSession : public std::enable_shared_from_this<WebSocketSession>,
                         public EventSubscriber,
                         public FiguresSubscriber {
 public:
  // `client`: the client's address, for the log lines (the peer's, or the one a trusted proxy
  // names).
  WebSocketSession(tcp::socket&& socket, HttpServer::Impl* server, ConnectionLimits::Slot slot,
                   std::string client);

  // Accepts the upgrade; `refused` (the connection is over a cap): then closes with 1013.
  void run(http::request<http::string_body> req, bool refused = false);
  // Writer thread: hand over to our strand.
  void deliver(const std::shared_ptr<const StoredEvent>& event) override;
  // Any thread: another bridge made event `seq` of our uid (see EventSubscriber).
  void hint(std::optional<std::int64_t> seq) override;
  // The operator feed's thread: the venue's figures, for a client of /operator/ws.
  void figures(const std::shared_ptr<const std::string>& text) override;
  // Any thread: close with 1001 (server shutting down).
  void going_away();

 private:
  enum class State { AwaitHello, Replaying, Live, Closing, Done };

  Metrics& metrics() { return *server_->ws.metrics; }
  void on_accept(beast::error_code ec, bool refused);
  void read();
  void on_read(beast::error_code ec);
  bool within_rate();
  void on_hello(const std::string& text);
  void on_operator_hello(const std::string& credential);
  void unauthorized(const std::string& why);
  void read_page();
  void on_page(std::optional<Replay> r);
  void send_rotating_secret();
  void arm_expiry();
  void on_event(const std::shared_ptr<const StoredEvent>& e);
  void on_hint(std::optional<std::int64_t> seq);
  void read_again();
  void send(std::shared_ptr<const std::string> text, bool is_event, bool force = false);
  void write_next();
  void on_write(beast::error_code ec);
  void close_with(websocket::close_code code);
  void start_close();
  void hard_close();
  void arm_timer(std::chrono::milliseconds after);
  void on_timer();
  void finish();

  // A plain socket underneath: the WebSocket stream has its own handshake timeout, and our pings
  // and close grace cover the rest (a beast::tcp_stream would add ~500 bytes per connection).
  websocket::stream<tcp::socket> ws_;
  HttpServer::Impl* server_;
  ConnectionLimits::Slot slot_;  // its place under the connection caps, given back at the end
  const WsOptions& opts_;
  http::request<http::string_body> req_;
  beast::flat_buffer buf_;
  net::steady_timer timer_;
  net::steady_timer close_timer_;
  net::steady_timer expiry_timer_;  // the token's exp
  net::steady_timer retry_timer_;   // a page read again after the store failed

  State state_ = State::AwaitHello;
  const std::string client_;
  std::string uid_;
  std::string scope_;  // a ticket-scoped token's ticket: only its events and the pushes
  std::int64_t exp_s_ = 0;
  std::optional<std::int64_t> since_;
  bool wants_secret_ = false;  // the hello asked for the ticket's rotating secret
  bool welcomed_ = false;      // the first page came, and the welcome went out
  bool page_pending_ = false;  // a replay page is being read
  ReplayMerger merger_;
  SendQueue queue_;
  bool writing_ = false;
  std::optional<websocket::close_code> close_code_;
  bool subscribed_ = false;
  bool operator_ = false;  // a client of /operator/ws: the figures, never an owner's events
  bool watching_ = false;  // subscribed to the operator feed
  bool counted_ = false;
  bool awaiting_pong_ = false;
  std::chrono::steady_clock::time_point ping_sent_;
  std::chrono::steady_clock::time_point window_start_ = std::chrono::steady_clock::now();
  int window_count_ = 0;
};

}  // namespace tb
