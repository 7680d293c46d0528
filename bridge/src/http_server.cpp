// Boost.Beast HTTP/1.1 server: keep-alive, body limit, idle timeouts, TCP_NODELAY.
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp misses it

#include "http_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <thread>
#include <vector>

namespace tb {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr auto kIdleTimeout = std::chrono::seconds(30);

std::string error_body(const char* error, const std::string& detail) {
  // Hand-built: the detail strings come from Beast and are plain ASCII.
  return std::string(R"({"error":")") + error + R"(","detail":")" + detail + "\"}";
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, const HttpHandler& handler, std::size_t body_limit)
      : stream_(std::move(socket)), handler_(handler), body_limit_(body_limit) {}

  void run() {
    beast::error_code ec;
    stream_.socket().set_option(tcp::no_delay(true), ec);
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(body_limit_);
    stream_.expires_after(kIdleTimeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream) return close();
    if (ec == http::error::body_limit) {
      return reply(413,
                   error_body("payload_too_large",
                              "the body exceeds " + std::to_string(body_limit_) + " bytes"),
                   false);
    }
    if (ec) {
      if (ec != beast::error::timeout && ec != net::error::operation_aborted &&
          ec != net::error::connection_reset) {
        spdlog::debug("http read: {}", ec.message());
      }
      return close();
    }
    auto& req = parser_->get();
    HttpRequest in;
    in.method = std::string(req.method_string());
    in.target = std::string(req.target());
    in.authorization = std::string(req[http::field::authorization]);
    in.body = std::move(req.body());
    const bool keep_alive = req.keep_alive();
    HttpResponse out;
    try {
      out = handler_(in);
    } catch (const std::exception& e) {
      spdlog::error("http handler for {} {} failed: {}", in.method, in.target, e.what());
      out = HttpResponse{500, "application/json", error_body("internal", "see the bridge's log")};
    }
    reply(out.status, std::move(out.body), keep_alive, out.content_type);
  }

  void reply(int status, std::string body, bool keep_alive,
             const std::string& content_type = "application/json") {
    auto res =
        std::make_shared<http::response<http::string_body>>(static_cast<http::status>(status), 11);
    res->set(http::field::server, "ticket-bridge");
    res->set(http::field::content_type, content_type);
    res->set(http::field::cache_control, "no-store");
    res->keep_alive(keep_alive);
    res->body() = std::move(body);
    res->prepare_payload();
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                        if (ec || !res->keep_alive()) return self->close();
                        self->read();
                      });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  const HttpHandler& handler_;
  std::size_t body_limit_;
};

}  // namespace

struct HttpServer::Impl {
  HttpOptions options;
  HttpHandler handler;
  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::vector<std::thread> threads;

  void accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec == net::error::operation_aborted) return;
        spdlog::warn("accept: {}", ec.message());  // e.g. out of file descriptors
      } else {
        std::make_shared<Session>(std::move(socket), handler, options.body_limit)->run();
      }
      accept();
    });
  }
};

HttpServer::HttpServer(HttpOptions options, HttpHandler handler) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
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
    impl_->threads.emplace_back([this] { impl_->ioc.run(); });
  }
  return std::nullopt;
}

std::uint16_t HttpServer::port() const {
  return impl_->acceptor.local_endpoint().port();
}

void HttpServer::stop() {
  if (!impl_ || impl_->threads.empty()) return;
  net::post(impl_->ioc, [this] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
  });
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
}

}  // namespace tb
