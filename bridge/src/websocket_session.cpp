// A WebSocket client's session (websocket_session.hpp).
#include "websocket_session.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "signed_code.hpp"
#include "ws_hello.hpp"

namespace tb {

namespace {

constexpr std::size_t kReadPiece = 128;  // bytes per WebSocket read, see read()
constexpr int kPageEvents = 500;         // a replay page's events, at most
// A timer this far ahead is re-armed when it fires rather than armed at once: a token's exp may
// be centuries away, beyond what the steady clock can add without overflowing.
constexpr auto kLongestWait = std::chrono::hours(24);
// A page that could not be read after the welcome (the store is away) is read again after this.
constexpr auto kPageRetry = std::chrono::seconds(1);

}  // namespace

WebSocketSession::WebSocketSession(tcp::socket&& socket, HttpServer::Impl* server,
                                   ConnectionLimits::Slot slot, std::string client)
    : ws_(std::move(socket)),
      server_(server),
      slot_(std::move(slot)),
      opts_(server_->options.ws),
      timer_(ws_.get_executor()),
      close_timer_(ws_.get_executor()),
      expiry_timer_(ws_.get_executor()),
      retry_timer_(ws_.get_executor()),
      client_(std::move(client)),
      queue_(opts_.max_queue_bytes) {}

void WebSocketSession::run(http::request<http::string_body> req, bool refused) {
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
  operator_ = req.target().substr(0, req.target().find('?')) == "/operator/ws";
  req_ = std::move(req);
  ws_.async_accept(req_, [self = shared_from_this(), refused](beast::error_code ec) {
    self->on_accept(ec, refused);
  });
}

void WebSocketSession::deliver(const std::shared_ptr<const StoredEvent>& event) {
  net::post(ws_.get_executor(), [self = shared_from_this(), event] { self->on_event(event); });
}

void WebSocketSession::hint(std::optional<std::int64_t> seq) {
  net::post(ws_.get_executor(), [self = shared_from_this(), seq] { self->on_hint(seq); });
}

void WebSocketSession::figures(const std::shared_ptr<const std::string>& text) {
  net::post(ws_.get_executor(), [self = shared_from_this(), text] {
    // One message larger than the bound still goes to a client that keeps up (nothing queued but
    // what is being written, the welcome included): the bound is on what piles up behind it.
    if (self->state_ == State::Live) self->send(text, true, self->queue_.size() <= 1);
  });
}

void WebSocketSession::going_away() {
  net::post(ws_.get_executor(),
            [self = shared_from_this()] { self->close_with(websocket::close_code::going_away); });
}

void WebSocketSession::on_accept(beast::error_code ec, bool refused) {
  if (ec) {
    spdlog::debug("websocket handshake: {}", ec.message());
    return finish();
  }
  req_ = {};  // the upgrade request is no longer needed: do not keep it per connection
  if (refused) {
    read();  // to see the client's answer to the close
    return close_with(websocket::close_code::try_again_later);
  }
  metrics().ws_connections.fetch_add(1);
  counted_ = true;
  arm_timer(opts_.hello_timeout);
  read();
}

// Reads in small pieces: the buffer a pending read holds is sized by the piece, and an idle
// connection always has a read pending (for pongs and the close), so this is per-connection
// memory (a whole-message read would hold 1.5 KiB). A message is handled once complete.
void WebSocketSession::read() {
  ws_.async_read_some(
      buf_, kReadPiece,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
}

void WebSocketSession::on_read(beast::error_code ec) {
  if (ec) {
    if (!ignorable(ec)) spdlog::debug("websocket read: {}", ec.message());
    if (ec == websocket::error::message_too_big) return close_with(websocket::close_code::too_big);
    return finish();
  }
  if (!ws_.is_message_done()) return read();
  const std::string text = beast::buffers_to_string(buf_.data());
  buf_.consume(buf_.size());
  buf_.shrink_to_fit();  // idle connections keep no read buffer between client messages
  if (!within_rate()) {
    spdlog::info("websocket client of uid '{}' at {} sends too fast; closing", uid_, client_);
    return close_with(websocket::close_code::policy_error);
  }
  if (state_ == State::AwaitHello) on_hello(text);
  // Later client messages carry nothing we act on; reading goes on to see pongs and the close.
  if (state_ != State::Done) read();
}

bool WebSocketSession::within_rate() {
  const auto now = std::chrono::steady_clock::now();
  if (now - window_start_ > std::chrono::seconds(10)) {
    window_start_ = now;
    window_count_ = 0;
  }
  return ++window_count_ <= opts_.max_messages_per_10s;
}

void WebSocketSession::on_hello(const std::string& text) {
  auto parsed = parse_hello(text);
  if (auto* why = std::get_if<std::string>(&parsed)) return unauthorized(*why);
  auto& hello = std::get<Hello>(parsed);
  if (operator_) return on_operator_hello(hello.token);
  auto verified = server_->ws.verify(hello.token);
  if (auto* why = std::get_if<std::string>(&verified)) return unauthorized(*why);
  auto& claims = std::get<TokenClaims>(verified);
  if (!claims.role.empty()) return unauthorized("a '" + claims.role + "' token is no owner's");
  uid_ = claims.uid;
  scope_ = claims.code;
  exp_s_ = claims.exp;

  timer_.cancel();
  // Subscribe before reading the replay: an event committed meanwhile is then either in the
  // replay or delivered live (or both, and the merger drops the second copy).
  if (!server_->ws.hub->subscribe(uid_, shared_from_this(), opts_.max_per_uid)) {
    metrics().refused_per_uid.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("websocket client of uid '{}' at {} refused: the uid holds {} connections already",
                 uid_, client_, opts_.max_per_uid);
    return close_with(websocket::close_code::try_again_later);
  }
  subscribed_ = true;
  state_ = State::Replaying;
  since_ = hello.since;
  wants_secret_ = hello.rotating_secret;
  arm_expiry();
  arm_timer(opts_.ping_interval);  // a client that stops reading during a replay is found too
  if (since_) metrics().ws_replays.fetch_add(1);
  read_page();
}

// /operator/ws: the API key or an operator's token, then the figures (venue_board.hpp) at most a
// few times a second. The client sends nothing more that we act on; it is bounded like an owner's.
void WebSocketSession::on_operator_hello(const std::string& credential) {
  auto& ws = server_->ws;
  if (!ws.verify_operator || ws.feed == nullptr) return unauthorized("no operator feed here");
  auto verified = ws.verify_operator(credential);
  if (auto* why = std::get_if<std::string>(&verified)) return unauthorized(*why);
  timer_.cancel();
  uid_ = "(operator)";  // for the log lines
  exp_s_ = std::get<std::int64_t>(verified);
  state_ = State::Live;
  send(std::make_shared<const std::string>(R"({"type":"welcome","role":"operator"})"), false);
  if (!ws.feed->subscribe(shared_from_this(), opts_.max_operators)) {
    metrics().refused_per_uid.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("operator client at {} refused: {} operator clients are connected already",
                 client_, opts_.max_operators);
    return close_with(websocket::close_code::try_again_later);
  }
  watching_ = true;
  spdlog::info("operator client at {} connected", client_);
  if (exp_s_ > 0) arm_expiry();
  arm_timer(opts_.ping_interval);
}

void WebSocketSession::unauthorized(const std::string& why) {
  metrics().ws_auth_failures.fetch_add(1);
  spdlog::info("websocket client at {} refused: {}", client_, why);
  timer_.cancel();
  send(std::make_shared<const std::string>(R"({"type":"error","reason":"unauthorized"})"), false,
       true);
  close_with(websocket::close_code::policy_error);
}

// SPEC.md v1.1: at the token's exp the stream ends; the client comes back with a fresh token and
// its `since`, and misses nothing.
void WebSocketSession::arm_expiry() {
  const auto left = std::chrono::milliseconds(exp_s_ * 1000 - now_ms());
  expiry_timer_.expires_after(std::min<std::chrono::milliseconds>(left, kLongestWait));
  expiry_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec || self->state_ == State::Closing || self->state_ == State::Done) return;
    if (now_ms() < self->exp_s_ * 1000) return self->arm_expiry();
    self->metrics().ws_token_expiries.fetch_add(1);
    spdlog::debug("websocket client of uid '{}': token expired", self->uid_);
    self->send(std::make_shared<const std::string>(R"({"type":"error","reason":"token_expired"})"),
               false, true);
    self->close_with(websocket::close_code::policy_error);
  });
}

// The replay is read a page at a time, the next one once the client has read the last: a backlog
// of any size goes through a send queue of a fixed bound.
void WebSocketSession::read_page() {
  page_pending_ = true;
  merger_.begin_page();
  // The first page from the client's `since`, the next ones from where the last one ended.
  const auto since = welcomed_ ? std::optional(merger_.next_since()) : since_;
  const ReplayPage page{kPageEvents, std::max<std::size_t>(opts_.max_queue_bytes / 2, 1), scope_};
  server_->ws.replay(uid_, since, page, [self = shared_from_this()](std::optional<Replay> r) {
    net::post(self->ws_.get_executor(),
              [self, r = std::move(r)]() mutable { self->on_page(std::move(r)); });
  });
}

void WebSocketSession::on_page(std::optional<Replay> r) {
  page_pending_ = false;
  if (state_ != State::Replaying) return;
  if (!r && welcomed_) {
    // A page of another bridge's events, read while the store is away: the client has everything
    // up to where it is, and keeps its connection; the page is read again in a while.
    retry_timer_.expires_after(kPageRetry);
    retry_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec && self->state_ == State::Replaying && !self->page_pending_) self->read_page();
    });
    return;
  }
  if (!r) {
    send(std::make_shared<const std::string>(R"({"type":"error","reason":"unavailable"})"), false,
         true);
    return close_with(websocket::close_code::try_again_later);
  }
  if (!welcomed_) {
    welcomed_ = true;
    nlohmann::json welcome = {
        {"type", "welcome"}, {"uid", uid_}, {"seq", r->last_seq}, {"recovered", r->recovered}};
    send(std::make_shared<const std::string>(welcome.dump()), false);
    if (wants_secret_) send_rotating_secret();
  }
  // The page's size is bounded by the read: it goes into the queue whatever the queue's bound.
  for (auto& text : merger_.on_page(*r, since_)) send(std::move(text), true, true);
  if (merger_.live()) {
    state_ = State::Live;
  } else if (queue_.empty() && !writing_) {
    read_page();
  }  // else on_write asks for the next page when the queue has drained
}

// The secret a ticket page computes its rotating code with (rotating_code.hpp), to a token scoped
// to that ticket only: the token names the ticket, so the secret is derived, never read from the
// store. The page keeps it, and asks again only when it has none or the key id changed.
void WebSocketSession::send_rotating_secret() {
  const auto& key = server_->ws.rotating_key;
  if (scope_.empty() || !key) {
    spdlog::info("websocket client of uid '{}' at {} asked for a rotating secret: {}", uid_,
                 client_, scope_.empty() ? "its token names no ticket" : "no rotating key here");
    return;
  }
  const auto secret = ticket_rotating_secret(*key, scope_);
  const nlohmann::json msg = {{"type", "rotating_secret"},
                              {"code", scope_},
                              {"secret", base32_encode(secret.data(), secret.size())},
                              {"key_id", rotating_key_id(*key)},
                              {"algorithm", "HMAC-SHA256"},
                              {"digits", kRotatingDigits},
                              {"step", kRotatingStepMs / 1000}};
  send(std::make_shared<const std::string>(msg.dump()), false);
}

void WebSocketSession::on_event(const std::shared_ptr<const StoredEvent>& e) {
  if (state_ != State::Replaying && state_ != State::Live) return;
  // Another ticket's event than a scoped token's is not sent, but the merger counts it.
  const bool in_scope = scope_.empty() || e->code.empty() || e->code == scope_;
  if (auto text = merger_.on_live(e, in_scope)) return send(std::move(text), true);
  if (state_ == State::Live && !merger_.live()) read_again();
}

void WebSocketSession::on_hint(std::optional<std::int64_t> seq) {
  if (state_ != State::Replaying && state_ != State::Live) return;
  if (merger_.on_hint(seq) && state_ == State::Live) read_again();
}

// Live, but the store holds events this client has not had (another bridge's): back to pages,
// from where it was. The page is read now, or once the queue has drained (on_write).
void WebSocketSession::read_again() {
  state_ = State::Replaying;
  if (!page_pending_ && queue_.empty() && !writing_) read_page();
}

// Queues a message. `force` skips the slow-consumer bound (for the last words before a close).
void WebSocketSession::send(std::shared_ptr<const std::string> text, bool is_event, bool force) {
  if (state_ == State::Closing || state_ == State::Done) return;
  if (!queue_.push(std::move(text), is_event, force)) {
    metrics().ws_slow_closes.fetch_add(1);
    spdlog::info("websocket client of uid '{}' at {} reads too slowly ({} bytes queued); closing",
                 uid_, client_, queue_.bytes());
    return close_with(websocket::close_code::try_again_later);
  }
  if (!writing_) write_next();
}

void WebSocketSession::write_next() {
  writing_ = true;
  ws_.text(true);
  ws_.async_write(
      net::buffer(queue_.front()),
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
}

void WebSocketSession::on_write(beast::error_code ec) {
  writing_ = false;
  if (state_ == State::Done) return;  // finish() ran meanwhile (hard close): the queue is gone
  if (ec) {
    if (!ignorable(ec)) spdlog::debug("websocket write: {}", ec.message());
    return finish();
  }
  if (queue_.pop() && !operator_) metrics().ws_events_delivered.fetch_add(1);
  if (!queue_.empty()) return write_next();
  if (close_code_) return start_close();
  if (state_ == State::Replaying && !page_pending_ && welcomed_) read_page();
}

// Ends the session with a close frame after what is queued for the close is written.
void WebSocketSession::close_with(websocket::close_code code) {
  if (state_ == State::Done || close_code_) return;
  if (state_ != State::Closing) queue_.drop_events(writing_);
  state_ = State::Closing;
  close_code_ = code;
  timer_.cancel();
  expiry_timer_.cancel();
  retry_timer_.cancel();
  // A client that never reads would keep the close pending forever: cut it after a grace. The
  // grace is the ping cycle, what a silent client is allowed anyway: a client that paused
  // reading (an app in the background) and comes back within it reads the close code.
  close_timer_.expires_after(opts_.ping_interval + opts_.pong_timeout);
  close_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) self->hard_close();
  });
  if (!writing_ && queue_.empty()) start_close();
}

void WebSocketSession::start_close() {
  ws_.async_close(websocket::close_reason(*close_code_),
                  [self = shared_from_this()](beast::error_code) { self->finish(); });
}

void WebSocketSession::hard_close() {
  beast::error_code ec;
  ws_.next_layer().shutdown(tcp::socket::shutdown_both, ec);
  ws_.next_layer().close(ec);
  finish();
}

void WebSocketSession::arm_timer(std::chrono::milliseconds after) {
  timer_.expires_after(after);
  timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) self->on_timer();
  });
}

// Hello deadline, then the ping cycle: a ping every ping_interval, and a client that has not
// answered the previous ping by pong_timeout after it is cut off.
void WebSocketSession::on_timer() {
  if (state_ == State::AwaitHello) return unauthorized("no hello in time");
  if (state_ != State::Live && state_ != State::Replaying) return;
  if (awaiting_pong_) {
    if (ping_sent_ + opts_.pong_timeout <= std::chrono::steady_clock::now()) {
      spdlog::info("websocket client of uid '{}' at {} did not answer a ping; closing", uid_,
                   client_);
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

void WebSocketSession::finish() {
  if (state_ == State::Done) return;
  state_ = State::Done;
  beast::error_code ec;
  timer_.cancel(ec);
  close_timer_.cancel(ec);
  expiry_timer_.cancel(ec);
  retry_timer_.cancel(ec);
  if (subscribed_) server_->ws.hub->unsubscribe(uid_, this);
  if (watching_) server_->ws.feed->unsubscribe(this);
  if (counted_) metrics().ws_connections.fetch_sub(1);
  queue_.clear();
  server_->forget(shared_from_this());
}

}  // namespace tb
