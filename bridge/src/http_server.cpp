// Boost.Beast HTTP/1.1 and WebSocket server: keep-alive, body limit, idle timeouts, TCP_NODELAY,
// token-authenticated WebSocket sessions with bounded send queues and pings.
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp misses it

#include "http_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <vector>

namespace tb {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr auto kIdleTimeout = std::chrono::seconds(30);
constexpr auto kCloseGrace = std::chrono::seconds(5);
constexpr std::size_t kReadPiece = 128;  // bytes per WebSocket read, see WsSession::read

std::string error_body(const char* error, const std::string& detail) {
  return nlohmann::json{{"error", error}, {"detail", detail}}.dump();
}

bool ignorable(const beast::error_code& ec) {
  return ec == net::error::operation_aborted || ec == websocket::error::closed ||
         ec == net::error::connection_reset || ec == net::error::eof ||
         ec == http::error::end_of_stream || ec == beast::error::timeout ||
         ec == net::error::broken_pipe;
}

}  // namespace

class WsSession;

// Shared by the acceptor, HTTP sessions and WebSocket sessions; outlives them all.
// Shared by the acceptor and the sessions, which hold a plain pointer to it: it owns the
// io_context, so it outlives every handler (a shared_ptr in a handler would be a cycle through
// the io_context and leak both).
struct HttpServer::Impl {
  HttpOptions options;
  HttpHandler handler;
  WsServices ws;
  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::vector<std::thread> threads;

  std::mutex sessions_mu;
  std::set<std::shared_ptr<WsSession>> ws_sessions;  // open WebSocket sessions

  void accept();
  void start_ws(tcp::socket socket, http::request<http::string_body> req);
};

// One WebSocket client. All its handlers run on its strand.
class WsSession : public std::enable_shared_from_this<WsSession>, public EventSubscriber {
 public:
  WsSession(tcp::socket&& socket, HttpServer::Impl* server)
      : ws_(std::move(socket)),
        server_(server),
        opts_(server_->options.ws),
        timer_(ws_.get_executor()),
        close_timer_(ws_.get_executor()) {}

  void run(http::request<http::string_body> req) {
    websocket::stream_base::timeout t{};
    t.handshake_timeout = opts_.hello_timeout;
    t.idle_timeout = websocket::stream_base::none();  // our own pings, see on_timer
    t.keep_alive_pings = false;
    ws_.set_option(t);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "ticket-bridge"); }));
    ws_.read_message_max(opts_.max_message_bytes);
    ws_.auto_fragment(false);
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::pong) awaiting_pong_ = false;
    });
    req_ = std::move(req);
    ws_.async_accept(req_,
                     [self = shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
  }

  // Writer thread: hand over to our strand.
  void deliver(const std::shared_ptr<const StoredEvent>& event) override {
    net::post(ws_.get_executor(), [self = shared_from_this(), event] { self->on_event(event); });
  }

  // Any thread: close with 1001 (server shutting down).
  void going_away() {
    net::post(ws_.get_executor(),
              [self = shared_from_this()] { self->close_with(websocket::close_code::going_away); });
  }

 private:
  enum class State { AwaitHello, Replaying, Live, Closing, Done };

  struct Outgoing {
    std::shared_ptr<const std::string> text;
    bool is_event = false;
  };

  Metrics& metrics() { return *server_->ws.metrics; }

  void on_accept(beast::error_code ec) {
    if (ec) {
      spdlog::debug("websocket handshake: {}", ec.message());
      return finish();
    }
    req_ = {};  // the upgrade request is no longer needed: do not keep it per connection
    metrics().ws_connections.fetch_add(1);
    counted_ = true;
    arm_timer(opts_.hello_timeout);
    read();
  }

  // Reads in small pieces: the buffer a pending read holds is sized by the piece, and an idle
  // connection always has a read pending (for pongs and the close), so this is per-connection
  // memory (a whole-message read would hold 1.5 KiB). A message is handled once complete.
  void read() {
    ws_.async_read_some(
        buf_, kReadPiece,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      if (!ignorable(ec)) spdlog::debug("websocket read: {}", ec.message());
      if (ec == websocket::error::message_too_big)
        return close_with(websocket::close_code::too_big);
      return finish();
    }
    if (!ws_.is_message_done()) return read();
    const std::string text = beast::buffers_to_string(buf_.data());
    buf_.consume(buf_.size());
    buf_.shrink_to_fit();  // idle connections keep no read buffer between client messages
    if (!within_rate()) {
      spdlog::info("websocket client of uid '{}' sends too fast; closing", uid_);
      return close_with(websocket::close_code::policy_error);
    }
    if (state_ == State::AwaitHello) on_hello(text);
    // Later client messages carry nothing we act on; reading goes on to see pongs and the close.
    if (state_ != State::Done) read();
  }

  bool within_rate() {
    const auto now = std::chrono::steady_clock::now();
    if (now - window_start_ > std::chrono::seconds(10)) {
      window_start_ = now;
      window_count_ = 0;
    }
    return ++window_count_ <= opts_.max_messages_per_10s;
  }

  void on_hello(const std::string& text) {
    const auto hello = nlohmann::json::parse(text, nullptr, false);
    std::string why;
    std::optional<std::int64_t> since;
    // Compared as JSON: a "type" that is not a string is simply not a hello (no exception).
    if (!hello.is_object() || !hello.contains("type") || hello["type"] != "hello") {
      why = "first message is not a hello";
    } else if (!hello.contains("token") || !hello["token"].is_string()) {
      why = "no token";
    } else if (hello.contains("since") && !hello["since"].is_null()) {
      if (!hello["since"].is_number_integer() || hello["since"].get<std::int64_t>() < 0) {
        why = "since must be a whole number >= 0";
      } else {
        since = hello["since"].get<std::int64_t>();
      }
    }
    if (why.empty()) {
      auto v = server_->ws.verify(hello["token"].get<std::string>());
      if (auto* claims = std::get_if<TokenClaims>(&v)) {
        uid_ = claims->uid;
      } else {
        why = std::get<std::string>(v);
      }
    }
    if (!why.empty()) return unauthorized(why);

    timer_.cancel();
    state_ = State::Replaying;
    since_ = since;
    // Subscribe before reading the replay: an event committed meanwhile is then either in the
    // replay or delivered live (or both, and the seq check drops the second copy).
    server_->ws.hub->subscribe(uid_, shared_from_this());
    subscribed_ = true;
    server_->ws.replay(uid_, since, [self = shared_from_this()](std::optional<Replay> r) {
      net::post(self->ws_.get_executor(),
                [self, r = std::move(r)]() mutable { self->on_replay(std::move(r)); });
    });
  }

  void unauthorized(const std::string& why) {
    metrics().ws_auth_failures.fetch_add(1);
    spdlog::info("websocket client refused: {}", why);
    timer_.cancel();
    send(std::make_shared<const std::string>(R"({"type":"error","reason":"unauthorized"})"), false,
         true);
    close_with(websocket::close_code::policy_error);
  }

  void on_replay(std::optional<Replay> r) {
    if (state_ != State::Replaying) return;
    if (!r) {
      send(std::make_shared<const std::string>(R"({"type":"error","reason":"unavailable"})"), false,
           true);
      return close_with(websocket::close_code::try_again_later);
    }
    nlohmann::json welcome = {
        {"type", "welcome"}, {"uid", uid_}, {"seq", r->last_seq}, {"recovered", r->recovered}};
    send(std::make_shared<const std::string>(welcome.dump()), false);
    // A client ahead of the log (it saw another database) gets everything from now on.
    last_sent_ = since_ && *since_ <= r->last_seq ? *since_ : r->last_seq;
    if (since_) metrics().ws_replays.fetch_add(1);
    for (auto& e : r->events) {
      if (e.seq <= last_sent_) continue;
      send(std::make_shared<const std::string>(std::move(e.body)), true);
      last_sent_ = e.seq;
    }
    state_ = State::Live;
    for (const auto& e : pending_live_) on_event(e);
    pending_live_.clear();
    arm_timer(opts_.ping_interval);
  }

  void on_event(const std::shared_ptr<const StoredEvent>& e) {
    if (state_ == State::Replaying) {
      pending_live_.push_back(e);
      return;
    }
    if (state_ != State::Live || e->seq <= last_sent_) return;
    last_sent_ = e->seq;
    // The body is shared with every other connection of the uid: no copy per connection.
    send(std::shared_ptr<const std::string>(e, &e->body), true);
  }

  // Queues a message. `force` skips the slow-consumer bound (for the last words before a close).
  void send(std::shared_ptr<const std::string> text, bool is_event, bool force = false) {
    if (state_ == State::Closing || state_ == State::Done) return;
    if (!force && queued_bytes_ + text->size() > opts_.max_queue_bytes) {
      metrics().ws_slow_closes.fetch_add(1);
      spdlog::info("websocket client of uid '{}' reads too slowly ({} bytes queued); closing", uid_,
                   queued_bytes_);
      return close_with(websocket::close_code::try_again_later);
    }
    queued_bytes_ += text->size();
    queue_.push_back(Outgoing{std::move(text), is_event});
    if (!writing_) write_next();
  }

  void write_next() {
    writing_ = true;
    ws_.text(true);
    ws_.async_write(
        net::buffer(*queue_.front().text),
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    writing_ = false;
    if (state_ == State::Done) return;  // finish() ran meanwhile (hard close): the queue is gone
    if (ec) {
      if (!ignorable(ec)) spdlog::debug("websocket write: {}", ec.message());
      return finish();
    }
    if (queue_.front().is_event) metrics().ws_events_delivered.fetch_add(1);
    queued_bytes_ -= queue_.front().text->size();
    queue_.pop_front();
    if (!queue_.empty()) return write_next();
    if (close_code_) start_close();
  }

  // Ends the session with a close frame after what is queued for the close is written.
  void close_with(websocket::close_code code) {
    if (state_ == State::Done || close_code_) return;
    if (state_ != State::Closing) {
      // Drop unsent events: the client catches up with `since`. Keep forced last words.
      bool first = true;
      std::erase_if(queue_, [&](const Outgoing& o) {
        const bool in_flight = writing_ && first;
        first = false;
        return !in_flight && o.is_event;
      });
      queued_bytes_ = 0;
      for (const auto& o : queue_) queued_bytes_ += o.text->size();
    }
    state_ = State::Closing;
    close_code_ = code;
    timer_.cancel();
    // A client that never reads would keep the close pending forever: cut it after a grace.
    close_timer_.expires_after(kCloseGrace);
    close_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->hard_close();
    });
    if (!writing_ && queue_.empty()) start_close();
  }

  void start_close() {
    ws_.async_close(websocket::close_reason(*close_code_),
                    [self = shared_from_this()](beast::error_code) { self->finish(); });
  }

  void hard_close() {
    beast::error_code ec;
    ws_.next_layer().shutdown(tcp::socket::shutdown_both, ec);
    ws_.next_layer().close(ec);
    finish();
  }

  void arm_timer(std::chrono::milliseconds after) {
    timer_.expires_after(after);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->on_timer();
    });
  }

  // Hello deadline, then the ping cycle: a ping every ping_interval, and a client that has not
  // answered the previous ping by pong_timeout after it is cut off.
  void on_timer() {
    if (state_ == State::AwaitHello) return unauthorized("no hello in time");
    if (state_ != State::Live && state_ != State::Replaying) return;
    if (awaiting_pong_) {
      if (ping_sent_ + opts_.pong_timeout <= std::chrono::steady_clock::now()) {
        spdlog::info("websocket client of uid '{}' did not answer a ping; closing", uid_);
        return hard_close();
      }
      return arm_timer(std::chrono::duration_cast<std::chrono::milliseconds>(
          ping_sent_ + opts_.pong_timeout - std::chrono::steady_clock::now()));
    }
    awaiting_pong_ = true;
    ping_sent_ = std::chrono::steady_clock::now();
    ws_.async_ping({}, [self = shared_from_this()](beast::error_code ec) {
      if (ec && !ignorable(ec)) spdlog::debug("websocket ping: {}", ec.message());
    });
    arm_timer(std::min(opts_.pong_timeout, opts_.ping_interval));
  }

  void finish() {
    if (state_ == State::Done) return;
    state_ = State::Done;
    beast::error_code ec;
    timer_.cancel(ec);
    close_timer_.cancel(ec);
    if (subscribed_) server_->ws.hub->unsubscribe(uid_, this);
    if (counted_) metrics().ws_connections.fetch_sub(1);
    queue_.clear();
    pending_live_.clear();
    auto self = shared_from_this();
    std::lock_guard lock(server_->sessions_mu);
    server_->ws_sessions.erase(self);
  }

  // A plain socket underneath: the WebSocket stream has its own handshake timeout, and our pings
  // and close grace cover the rest (a beast::tcp_stream would add ~500 bytes per connection).
  websocket::stream<tcp::socket> ws_;
  HttpServer::Impl* server_;
  const WsOptions& opts_;
  http::request<http::string_body> req_;
  beast::flat_buffer buf_;
  net::steady_timer timer_;
  net::steady_timer close_timer_;

  State state_ = State::AwaitHello;
  std::string uid_;
  std::optional<std::int64_t> since_;
  std::int64_t last_sent_ = 0;
  std::vector<std::shared_ptr<const StoredEvent>> pending_live_;
  std::list<Outgoing> queue_;  // unlike std::deque, allocates nothing while empty
  std::size_t queued_bytes_ = 0;
  bool writing_ = false;
  std::optional<websocket::close_code> close_code_;
  bool subscribed_ = false;
  bool counted_ = false;
  bool awaiting_pong_ = false;
  std::chrono::steady_clock::time_point ping_sent_;
  std::chrono::steady_clock::time_point window_start_ = std::chrono::steady_clock::now();
  int window_count_ = 0;
};

namespace {

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket&& socket, HttpServer::Impl* server)
      : stream_(std::move(socket)), server_(server) {}

  void run() {
    beast::error_code ec;
    stream_.socket().set_option(tcp::no_delay(true), ec);
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(server_->options.body_limit);
    stream_.expires_after(kIdleTimeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return reply(
          HttpResponse{413, "application/json",
                       error_body("payload_too_large",
                                  "the body exceeds " +
                                      std::to_string(server_->options.body_limit) + " bytes"),
                       ""},
          false);
    }
    if (ec) {
      if (!ignorable(ec)) spdlog::debug("http read: {}", ec.message());
      return close();
    }
    auto& req = parser_->get();
    const std::string path(req.target().substr(0, req.target().find('?')));
    if (websocket::is_upgrade(req)) {
      if (path != "/ws") {
        return reply(HttpResponse{404, "application/json",
                                  error_body("not_found", "WebSocket is served at /ws"), ""},
                     false);
      }
      stream_.expires_never();
      return server_->start_ws(stream_.release_socket(), parser_->release());
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

  void reply(HttpResponse out, bool keep_alive) {
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
  HttpServer::Impl* server_;
};

}  // namespace

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
  auto session = std::make_shared<WsSession>(std::move(socket), this);
  {
    std::lock_guard lock(sessions_mu);
    ws_sessions.insert(session);
  }
  session->run(std::move(req));
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
  std::vector<std::shared_ptr<WsSession>> open;
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
