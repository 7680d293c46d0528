// The bridge's HTTP and WebSocket server, as the rest of the bridge sees it: free of Beast. HTTP
// requests become plain structs answered by a handler (the routes, api.cpp); `GET /ws` upgrades
// become WebSocket sessions that authenticate with a token, replay what the client missed and
// then stream the uid's live events. The rooms behind it: listener.cpp, http_session.cpp,
// websocket_session.cpp (one translation unit, see bridge/CMakeLists.txt).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "event_hub.hpp"
#include "jwt.hpp"
#include "metrics.hpp"
#include "rotating_code.hpp"
#include "store.hpp"
#include "trusted_proxies.hpp"
#include "venue_board.hpp"

namespace tb {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query, as sent
  std::string authorization;
  std::string content_type;
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::string allow;  // the Allow header, for 405
};

// Answers a request exactly once, from any thread.
using Responder = std::function<void(HttpResponse)>;
using HttpHandler = std::function<void(HttpRequest, Responder)>;

struct WsOptions {
  std::chrono::milliseconds hello_timeout{10000};
  std::chrono::milliseconds ping_interval{25000};
  std::chrono::milliseconds pong_timeout{10000};
  std::size_t max_queue_bytes = 256 * 1024;   // unsent bytes before a client counts as too slow
  std::size_t max_message_bytes = 16 * 1024;  // largest frame/message accepted from a client
  int max_messages_per_10s = 20;              // client messages allowed per 10 s window
  std::size_t max_per_uid = 16;               // open connections of one uid; more: close 1013
  std::size_t max_operators = 32;             // open /operator/ws connections; more: close 1013
};

// What the WebSocket sessions need from the rest of the bridge.
struct WsServices {
  std::function<std::variant<TokenClaims, std::string>(std::string_view token)> verify;
  EventHub* hub = nullptr;
  // Reads a page of a replay off the network threads; calls `done` from any thread.
  std::function<void(const std::string& uid, std::optional<std::int64_t> since,
                     const ReplayPage& page, std::function<void(std::optional<Replay>)> done)>
      replay;
  Metrics* metrics = nullptr;
  // The venue's rotating key (rotating_code.hpp): a ticket page whose hello asks for it gets its
  // ticket's secret. Null: none is given.
  std::shared_ptr<const RotatingKey> rotating_key;
  // /operator/ws (the operator page): checks the hello's credential, the API key or a token with
  // the operator role; gives its exp in seconds (0: it has none), or why it is refused. With the
  // feed the figures come from. Null: /operator/ws refuses every client.
  std::function<std::variant<std::int64_t, std::string>(std::string_view credential)>
      verify_operator;
  OperatorFeed* feed = nullptr;
};

struct HttpOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0 picks a free port
  std::size_t body_limit = 64 * 1024;
  int threads = 1;
  bool access_log = false;  // one info line per answered request (HttpSession::log_access)
  WsOptions ws;
  // Open connections (HTTP and WebSocket) in total and from one source address; more: 503, or
  // close 1013 for a WebSocket (connection_limits.hpp).
  std::size_t max_connections = 10000;
  std::size_t max_per_source = 4000;
  // Peers whose X-Forwarded-For names the client (--trusted-proxy): for the per-source cap of
  // WebSocket connections and for the logs. Empty: the header is ignored.
  TrustedProxies trusted_proxies;
};

class HttpServer {
 public:
  HttpServer(HttpOptions options, HttpHandler handler, WsServices ws);
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  ~HttpServer();

  // Binds and starts serving on background threads; an error text when it cannot bind.
  std::optional<std::string> start();
  std::uint16_t port() const;
  // Stops accepting, sends WebSocket clients a close frame (1001, going away), waits briefly for
  // them, closes the rest and joins the threads.
  void stop();

  struct Impl;  // server_state.hpp; public so that the sessions can name it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tb
