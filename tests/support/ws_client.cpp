// Beast WebSocket test client.
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp misses it

#include "ws_client.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

namespace tbtest {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct WsLoop::Impl {
  net::io_context ioc;
  net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  std::thread thread{[this] { ioc.run(); }};
};

WsLoop::WsLoop() : impl_(std::make_unique<Impl>()) {}

WsLoop::~WsLoop() {
  impl_->work.reset();
  impl_->ioc.stop();
  impl_->thread.join();
}

struct WsClient::Impl : std::enable_shared_from_this<WsClient::Impl> {
  explicit Impl(net::io_context& ioc) : ws(net::make_strand(ioc)) {}

  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer buf;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> inbox;
  bool closed = false;
  int close_code = 0;
  bool reading = false;

  void read() {
    ws.async_read(buf, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      std::lock_guard lock(self->mu);
      if (ec) {
        self->closed = true;
        self->close_code = self->ws.reason().code;
        self->cv.notify_all();
        return;
      }
      self->inbox.push_back(beast::buffers_to_string(self->buf.data()));
      self->buf.consume(self->buf.size());
      self->cv.notify_all();
      self->read();
    });
  }
};

WsClient::WsClient(WsLoop& loop, std::uint16_t port, bool read, int rcvbuf, const std::string& path)
    : impl_(std::make_shared<Impl>(loop.impl().ioc)) {
  auto& sock = beast::get_lowest_layer(impl_->ws).socket();
  sock.open(tcp::v4());
  if (rcvbuf > 0) sock.set_option(net::socket_base::receive_buffer_size(rcvbuf));
  sock.set_option(tcp::no_delay(true));
  sock.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  impl_->ws.handshake("127.0.0.1:" + std::to_string(port), path);
  if (read) start_reading();
}

WsClient::~WsClient() {
  close();
}

void WsClient::start_reading() {
  if (impl_->reading) return;
  impl_->reading = true;
  net::post(impl_->ws.get_executor(), [impl = impl_] { impl->read(); });
}

void WsClient::send(const std::string& text) {
  // Writes go through the strand so that they never overlap the background read's bookkeeping.
  std::promise<void> done;
  net::post(impl_->ws.get_executor(), [impl = impl_, &text, &done] {
    beast::error_code ec;
    impl->ws.text(true);
    impl->ws.write(net::buffer(text), ec);
    done.set_value();
  });
  done.get_future().wait();
}

void WsClient::hello(const std::string& token, std::optional<std::int64_t> since) {
  nlohmann::json h = {{"type", "hello"}, {"token", token}};
  if (since) h["since"] = *since;
  send(h.dump());
}

std::optional<std::string> WsClient::next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mu);
  impl_->cv.wait_for(lock, timeout, [this] { return !impl_->inbox.empty() || impl_->closed; });
  if (impl_->inbox.empty()) return std::nullopt;
  std::string m = std::move(impl_->inbox.front());
  impl_->inbox.pop_front();
  return m;
}

std::optional<int> WsClient::wait_closed(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mu);
  if (!impl_->cv.wait_for(lock, timeout, [this] { return impl_->closed; })) return std::nullopt;
  return impl_->close_code;
}

void WsClient::close() {
  std::promise<void> done;
  net::post(impl_->ws.get_executor(), [impl = impl_, &done] {
    beast::error_code ec;
    beast::get_lowest_layer(impl->ws).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(impl->ws).socket().close(ec);
    done.set_value();
  });
  done.get_future().wait();
}

}  // namespace tbtest
