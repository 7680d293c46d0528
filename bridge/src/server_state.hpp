// What the listener and the HTTP and WebSocket sessions share (Beast's chat-multi calls it
// shared_state): the io_context and its threads, the acceptor, the open WebSocket sessions, and
// the options and services. Private to listener.cpp, http_session.cpp and websocket_session.cpp,
// which CMake compiles as one translation unit: Beast is slow to compile.
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp misses it

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "connection_limits.hpp"
#include "http_server.hpp"

namespace tb {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

class WebSocketSession;

// The sessions hold a plain pointer to it: it owns the io_context, so it outlives every handler
// (a shared_ptr in a handler would be a cycle through the io_context and leak both).
struct HttpServer::Impl {
  HttpOptions options;
  HttpHandler handler;
  WsServices ws;
  // Before the io_context: the sessions its pending handlers still own at the end give their
  // slots back as they are destroyed with it.
  std::unique_ptr<ConnectionLimits> limits;
  net::io_context ioc;
  // The acceptor, its pause and the stop's close share a strand: with several HTTP threads they
  // would otherwise race.
  net::strand<net::io_context::executor_type> accept_strand{net::make_strand(ioc)};
  tcp::acceptor acceptor{accept_strand};
  net::steady_timer accept_pause{accept_strand};  // out of descriptors: wait, then accept again
  std::chrono::steady_clock::time_point accept_logged{};
  std::uint64_t accept_unlogged = 0;
  std::vector<std::thread> threads;

  std::mutex sessions_mu;
  std::set<std::shared_ptr<WebSocketSession>> ws_sessions;  // open WebSocket sessions

  void accept();
  void on_accept_error(const beast::error_code& ec);
  void admit(tcp::socket socket);
  // An upgrade request handed over by an HTTP session, with its place under the caps and the
  // client's address; `refused` when the connection is over a cap (then closed at once with 1013).
  void start_ws(tcp::socket socket, http::request<http::string_body> req,
                ConnectionLimits::Slot slot, Cap refused, std::string client);
  void forget(const std::shared_ptr<WebSocketSession>& session);
};

// Errors that end a connection in the normal course of things: not worth a log line.
inline bool ignorable(const beast::error_code& ec) {
  return ec == net::error::operation_aborted || ec == websocket::error::closed ||
         ec == net::error::connection_reset || ec == net::error::eof ||
         ec == http::error::end_of_stream || ec == beast::error::timeout ||
         ec == net::error::broken_pipe;
}

}  // namespace tb
