// The listener (http_server.hpp): binds, accepts, runs the io_context threads, hands each
// connection to an HTTP session, keeps the open WebSocket sessions for the stop.
#include <spdlog/spdlog.h>

#include <boost/asio/strand.hpp>

#include "http_session.hpp"
#include "websocket_session.hpp"

namespace tb {

void HttpServer::Impl::accept() {
  acceptor.async_accept(net::make_strand(ioc),
                        [self = this](beast::error_code ec, tcp::socket socket) {
                          if (ec) {
                            if (ec == net::error::operation_aborted) return;
                            // e.g. out of file descriptors: log, and keep accepting
                            spdlog::warn("accept: {}", ec.message());
                          } else {
                            std::make_shared<HttpSession>(std::move(socket), self)->run();
                          }
                          self->accept();
                        });
}

void HttpServer::Impl::start_ws(tcp::socket socket, http::request<http::string_body> req) {
  auto session = std::make_shared<WebSocketSession>(std::move(socket), this);
  {
    std::lock_guard lock(sessions_mu);
    ws_sessions.insert(session);
  }
  session->run(std::move(req));
}

void HttpServer::Impl::forget(const std::shared_ptr<WebSocketSession>& session) {
  std::lock_guard lock(sessions_mu);
  ws_sessions.erase(session);
}

HttpServer::HttpServer(HttpOptions options, HttpHandler handler, WsServices ws)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
  impl_->ws = std::move(ws);
}

HttpServer::~HttpServer() {
  stop();
}

std::optional<std::string> HttpServer::start() {
  auto& a = impl_->acceptor;
  beast::error_code ec;
  const auto address = net::ip::make_address(impl_->options.host, ec);
  if (ec) return "bad listen address '" + impl_->options.host + "': " + ec.message();
  const tcp::endpoint ep(address, impl_->options.port);
  const std::string where = impl_->options.host + ":" + std::to_string(impl_->options.port);
  if (a.open(ep.protocol(), ec)) return "cannot open a socket: " + ec.message();
  if (a.set_option(net::socket_base::reuse_address(true), ec)) return ec.message();
  if (a.bind(ep, ec)) return "cannot listen on " + where + ": " + ec.message();
  if (a.listen(net::socket_base::max_listen_connections, ec)) {
    return "cannot listen on " + where + ": " + ec.message();
  }
  impl_->accept();
  for (int i = 0; i < std::max(1, impl_->options.threads); ++i) {
    impl_->threads.emplace_back([impl = impl_.get()] {
      // A handler that throws must not take the server down with it: log, and serve on.
      for (;;) {
        try {
          impl->ioc.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("http/websocket handler failed: {}", e.what());
        }
      }
    });
  }
  return std::nullopt;
}

std::uint16_t HttpServer::port() const {
  return impl_->acceptor.local_endpoint().port();
}

void HttpServer::stop() {
  if (!impl_ || impl_->threads.empty()) return;
  net::post(impl_->ioc, [impl = impl_.get()] {
    beast::error_code ec;
    impl->acceptor.close(ec);
  });
  std::vector<std::shared_ptr<WebSocketSession>> open;
  {
    std::lock_guard lock(impl_->sessions_mu);
    open.assign(impl_->ws_sessions.begin(), impl_->ws_sessions.end());
  }
  for (const auto& s : open) s->going_away();
  open.clear();
  // Give clients a moment to answer the close frames.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(impl_->sessions_mu);
      if (impl_->ws_sessions.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  std::lock_guard lock(impl_->sessions_mu);
  impl_->ws_sessions.clear();  // the rest goes with the io_context's pending handlers
}

}  // namespace tb
