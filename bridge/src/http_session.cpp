// An HTTP connection (http_session.hpp).
#include "http_session.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "logging.hpp"

namespace tb {

namespace {

constexpr auto kIdleTimeout = std::chrono::seconds(30);
// A lingering close, as nginx's lingering_time: after the last answer, what the client still
// sends is read and dropped for at most this long, so that a client still sending a body reads
// the answer instead of a reset.
constexpr auto kLingerTime = std::chrono::seconds(5);
constexpr std::size_t kLingerPiece = 16 * 1024;
// A connection over a cap has this long to send its request and hear why it is refused.
constexpr auto kRefusalTimeout = std::chrono::seconds(5);

std::string error_body(const char* error, const std::string& detail) {
  return nlohmann::json{{"error", error}, {"detail", detail}}.dump();
}

}  // namespace

void HttpSession::run() {
  beast::error_code ec;
  stream_.socket().set_option(tcp::no_delay(true), ec);
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
}

void HttpSession::read() {
  parser_.emplace();
  parser_->body_limit(server_->options.body_limit);
  stream_.expires_after(refused_ == Cap::None ? kIdleTimeout : kRefusalTimeout);
  http::async_read(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
}

void HttpSession::on_read(beast::error_code ec) {
  if (server_->options.access_log && (!ec || ec == http::error::body_limit)) {
    const auto& req = parser_->get();
    access_.method = std::string(req.method_string());
    access_.path = std::string(req.target().substr(0, req.target().find('?')));
    access_.client = client_of(req);
    access_.started = std::chrono::steady_clock::now();
  }
  if (ec == http::error::body_limit) {
    return reply(
        HttpResponse{413, "application/json",
                     error_body("payload_too_large",
                                "the body exceeds " + std::to_string(server_->options.body_limit) +
                                    " bytes"),
                     ""},
        false);
  }
  if (ec) {
    if (!ignorable(ec)) spdlog::debug("http read: {}", ec.message());
    return close();
  }
  auto& req = parser_->get();
  const std::string path(req.target().substr(0, req.target().find('?')));
  const bool ws_path = path == "/ws" || path == "/operator/ws";
  if (refused_ != Cap::None && !(websocket::is_upgrade(req) && ws_path)) {
    const char* which = refused_ == Cap::Total ? "the bridge" : "this address";
    return reply(HttpResponse{503, "application/json",
                              error_body("too_many_connections",
                                         std::string(which) +
                                             " holds as many connections as it takes; try again "
                                             "later"),
                              ""},
                 false);
  }
  if (websocket::is_upgrade(req)) {
    if (!ws_path) {
      return reply(
          HttpResponse{404, "application/json",
                       error_body("not_found", "WebSocket is served at /ws (and /operator/ws)"),
                       ""},
          false);
    }
    std::string client = client_of(req);
    Cap refused = refused_;
    if (proxied_ && refused == Cap::None &&
        server_->limits->attribute(slot_, client) == Cap::PerSource) {
      server_->ws.metrics->refused_per_source.fetch_add(1, std::memory_order_relaxed);
      refused = Cap::PerSource;
    }
    stream_.expires_never();
    if (server_->options.access_log) log_access(101, 0);
    return server_->start_ws(stream_.release_socket(), parser_->release(), std::move(slot_),
                             refused, std::move(client));
  }
  HttpRequest in;
  in.method = std::string(req.method_string());
  in.target = std::string(req.target());
  in.authorization = std::string(req[http::field::authorization]);
  in.content_type = std::string(req[http::field::content_type]);
  in.body = std::move(req.body());
  const bool keep_alive = req.keep_alive();
  const bool head = req.method() == http::verb::head;
  server_->handler(std::move(in), [self = shared_from_this(), keep_alive, head](HttpResponse r) {
    net::post(self->stream_.get_executor(), [self, r = std::move(r), keep_alive, head]() mutable {
      if (head) r.body.clear();
      self->reply(std::move(r), keep_alive);
    });
  });
}

void HttpSession::reply(HttpResponse out, bool keep_alive) {
  auto res = std::make_shared<http::response<http::string_body>>(
      static_cast<http::status>(out.status), 11);
  res->set(http::field::server, "ticket-bridge");
  res->set(http::field::content_type, out.content_type);
  res->set(http::field::cache_control, "no-store");
  if (!out.allow.empty()) res->set(http::field::allow, out.allow);
  res->keep_alive(keep_alive);
  res->body() = std::move(out.body);
  res->prepare_payload();
  http::async_write(stream_, *res,
                    [self = shared_from_this(), res](beast::error_code ec, std::size_t bytes) {
                      if (self->server_->options.access_log) {
                        self->log_access(res->result_int(), ec ? 0 : bytes);
                      }
                      if (ec || !res->keep_alive()) return self->close();
                      self->read();
                    });
}

// One line per answered request (--access-log): the path without its query, the status, the bytes
// written (0 when the write failed) and the time from the request read to the answer written.
void HttpSession::log_access(unsigned status, std::size_t bytes) {
  const std::chrono::duration<double, std::milli> took =
      std::chrono::steady_clock::now() - access_.started;
  logging::log(spdlog::level::info, "http request",
               {{"method", access_.method},
                {"path", access_.path},
                {"status", std::int64_t{status}},
                {"bytes", static_cast<std::int64_t>(bytes)},
                {"ms", took.count()},
                {"client", access_.client}});
}

// The client of a request: the peer, or behind a trusted proxy the address its X-Forwarded-For
// names (every such header, in order, as one list).
std::string HttpSession::client_of(const http::request<http::string_body>& req) const {
  if (!proxied_) return peer_;
  std::string forwarded;
  const auto [first, last] = req.equal_range("X-Forwarded-For");
  for (auto it = first; it != last; ++it) {
    if (!forwarded.empty()) forwarded += ',';
    forwarded.append(it->value().data(), it->value().size());
  }
  return server_->options.trusted_proxies.client_of(peer_, forwarded);
}

// The answer is out: stop sending, then read until the client closes (or the linger time ends).
// Closing with unread data would send a reset, and a reset can destroy the answer in the
// client's receive buffer before it is read.
void HttpSession::close() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) return;
  buffer_.consume(buffer_.size());
  stream_.expires_after(kLingerTime);
  linger();
}

void HttpSession::linger() {
  stream_.async_read_some(buffer_.prepare(kLingerPiece),
                          [self = shared_from_this()](beast::error_code ec, std::size_t) {
                            if (ec) return;  // closed by the client, or the linger time ended
                            self->linger();  // nothing was committed: the bytes are dropped
                          });
}

}  // namespace tb
