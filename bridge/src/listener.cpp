// The listener (http_server.hpp): binds, accepts, runs the io_context threads, hands each
// connection to an HTTP session, keeps the open WebSocket sessions for the stop.
#include <spdlog/spdlog.h>

#include <boost/asio/strand.hpp>

#include "http_session.hpp"
#include "thread_name.hpp"
#include "websocket_session.hpp"

namespace tb {

namespace {

// The peer's address, IPv4-mapped IPv6 as IPv4 (a listener on "::" sees those).
std::string peer_of(const tcp::socket& socket) {
  beast::error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  if (ec) return "?";
  const auto a = peer.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6()).to_string();
  }
  return a.to_string();
}

bool out_of_resources(const beast::error_code& ec) {
  return ec == net::error::no_descriptors || ec == net::error::no_buffer_space ||
         ec == net::error::no_memory || ec.value() == ENFILE;
}

}  // namespace

void HttpServer::Impl::accept() {
  if (!acceptor.is_open()) return;  // stopping
  acceptor.async_accept(net::make_strand(ioc),
                        [self = this](beast::error_code ec, tcp::socket socket) {
                          if (ec == net::error::operation_aborted) return;
                          if (ec) return self->on_accept_error(ec);
                          self->admit(std::move(socket));
                          self->accept();
                        });
}

// A failed accept is counted and logged at most once a second. Out of file descriptors (or
// memory), the pending connection stays in the backlog and accepting again at once would fail
// again at once: wait a little, as nginx does.
void HttpServer::Impl::on_accept_error(const beast::error_code& ec) {
  ws.metrics->accept_errors.fetch_add(1, std::memory_order_relaxed);
  const auto now = std::chrono::steady_clock::now();
  if (now - accept_logged >= std::chrono::seconds(1)) {
    spdlog::warn("accept failed: {} ({} more since the last report)", ec.message(),
                 accept_unlogged);
    accept_logged = now;
    accept_unlogged = 0;
  } else {
    ++accept_unlogged;
  }
  if (!out_of_resources(ec)) return accept();
  accept_pause.expires_after(std::chrono::milliseconds(100));
  accept_pause.async_wait([self = this](beast::error_code wait_ec) {
    if (!wait_ec) self->accept();
  });
}

// A connection counts against --max-connections-per-source by its peer's address. A trusted
// proxy's connection counts against the total only until its request names the client: then an
// upgrade to a WebSocket counts against the client (HttpSession::on_read). Plain requests through
// a proxy are short, and the proxy buffers them; per-client request limits are the proxy's job.
void HttpServer::Impl::admit(tcp::socket socket) {
  std::string peer = peer_of(socket);
  const bool proxied = options.trusted_proxies.trusts(peer);
  auto [slot, cap] = limits->admit(proxied ? std::string() : peer);
  if (cap != Cap::None) {
    auto& counter = cap == Cap::Total ? ws.metrics->refused_total : ws.metrics->refused_per_source;
    counter.fetch_add(1, std::memory_order_relaxed);
    if (!slot) return;  // too many refusals under way: the socket closes unanswered
  }
  std::make_shared<HttpSession>(std::move(socket), this, std::move(slot), cap, std::move(peer),
                                proxied)
      ->run();
}

void HttpServer::Impl::start_ws(tcp::socket socket, http::request<http::string_body> req,
                                ConnectionLimits::Slot slot, Cap refused, std::string client) {
  auto session = std::make_shared<WebSocketSession>(std::move(socket), this, std::move(slot),
                                                    std::move(client));
  {
    std::lock_guard lock(sessions_mu);
    ws_sessions.insert(session);
  }
  session->run(std::move(req), refused != Cap::None);
}

void HttpServer::Impl::forget(const std::shared_ptr<WebSocketSession>& session) {
  std::lock_guard lock(sessions_mu);
  ws_sessions.erase(session);
}

HttpServer::HttpServer(HttpOptions options, HttpHandler handler, WsServices ws)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->limits = std::make_unique<ConnectionLimits>(impl_->options.max_connections,
                                                     impl_->options.max_per_source);
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
      name_this_thread("tb-http");
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
  net::post(impl_->accept_strand, [impl = impl_.get()] {
    beast::error_code ec;
    impl->acceptor.close(ec);
    impl->accept_pause.cancel();
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
