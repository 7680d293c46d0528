// One HTTP/1.1 connection: keep-alive, the body limit (413) with a lingering close, an idle
// timeout, and the hand-over of `GET /ws` upgrades to a WebSocket session. Requests become plain
// HttpRequest structs for the routes (api.cpp), answered from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <optional>

#include "server_state.hpp"

namespace tb {

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  // `refused`: the connection is over a cap; its one request is answered 503 (an upgrade: close
  // 1013), and `slot` is a refusal's. `peer`: the peer's address; `proxied`: the peer is a
  // trusted proxy, whose X-Forwarded-For names the client of each request.
  HttpSession(tcp::socket&& socket, HttpServer::Impl* server, ConnectionLimits::Slot slot,
              Cap refused, std::string peer, bool proxied)
      : stream_(std::move(socket)),
        server_(server),
        slot_(std::move(slot)),
        refused_(refused),
        peer_(std::move(peer)),
        proxied_(proxied) {}

  void run();

 private:
  void read();
  void on_read(beast::error_code ec);
  void reply(HttpResponse out, bool keep_alive);
  void close();
  void linger();
  void log_access(unsigned status, std::size_t bytes);
  std::string client_of(const http::request<http::string_body>& req) const;

  struct Access {  // the request being answered, for --access-log
    std::string method, path, client;
    std::chrono::steady_clock::time_point started;
  };

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpServer::Impl* server_;
  ConnectionLimits::Slot slot_;  // given back when the session ends, or moved to a WebSocket
  Cap refused_;
  const std::string peer_;
  const bool proxied_;
  Access access_;
};

}  // namespace tb
