// The load generator's WebSocket owners (Beast): each logs in with a token and tallies the events
// it receives. Included by loadgen.cpp alone: Beast is slow to compile.
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp misses it

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "lg_common.hpp"

namespace lg {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct WsOwner : std::enable_shared_from_this<WsOwner> {
  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer buf;
  std::string hello;
  std::function<void(const std::string&)> on_message;
  std::function<void(bool)> on_ready;  // welcome received (true) or failed (false)
  bool welcomed = false;

  explicit WsOwner(net::io_context& ioc) : ws(net::make_strand(ioc)) {}

  void start(const tcp::endpoint& ep, const std::string& host) {
    beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(30));
    beast::get_lowest_layer(ws).async_connect(ep, [self = shared_from_this(),
                                                   host](beast::error_code ec) {
      if (ec) return self->on_ready(false);
      beast::get_lowest_layer(self->ws).socket().set_option(tcp::no_delay(true));
      beast::get_lowest_layer(self->ws).expires_never();
      self->ws.async_handshake(host, "/ws", [self](beast::error_code ec2) {
        if (ec2) return self->on_ready(false);
        self->ws.text(true);
        self->ws.async_write(net::buffer(self->hello), [self](beast::error_code ec3, std::size_t) {
          if (ec3) return self->on_ready(false);
          self->read();
        });
      });
    });
  }

  void read() {
    ws.async_read(buf, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) {
        if (!self->welcomed) self->on_ready(false);
        return;
      }
      std::string text = beast::buffers_to_string(self->buf.data());
      self->buf.consume(self->buf.size());
      if (!self->welcomed) {
        self->welcomed = true;
        self->on_ready(text.find("\"welcome\"") != std::string::npos);
      } else {
        self->on_message(text);
      }
      self->read();
    });
  }
};

struct WsFleet {
  net::io_context ioc;
  std::vector<std::thread> threads;
  std::vector<std::shared_ptr<WsOwner>> owners;
  std::atomic<std::size_t> ready{0}, failed{0};
  std::unique_ptr<net::executor_work_guard<net::io_context::executor_type>> work;

  // Opens `count` connections for uids prefix<first + i>, at most 500 handshakes in flight.
  void open(const std::string& hostport, const std::string& secret, const std::string& uid_prefix,
            std::size_t first, std::size_t count, std::size_t uid_modulo,
            const std::function<void(const std::string&)>& on_message) {
    work = std::make_unique<net::executor_work_guard<net::io_context::executor_type>>(
        ioc.get_executor());
    for (int i = 0; i < 2; ++i) threads.emplace_back([this] { ioc.run(); });
    const auto colon = hostport.rfind(':');
    const tcp::endpoint ep(net::ip::make_address(hostport.substr(0, colon)),
                           static_cast<unsigned short>(std::stoi(hostport.substr(colon + 1))));
    const auto now_s = tb::now_ms() / 1000;
    for (std::size_t i = 0; i < count; ++i) {
      while (i - ready - failed >= 500) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      auto o = std::make_shared<WsOwner>(ioc);
      const std::string uid =
          uid_prefix + std::to_string(first + (uid_modulo ? i % uid_modulo : i));
      o->hello =
          json{{"type", "hello"}, {"token", tb::sign_token(uid, 7200, secret, now_s)}}.dump();
      o->on_message = on_message;
      o->on_ready = [this](bool ok) { (ok ? ready : failed).fetch_add(1); };
      owners.push_back(o);
      o->start(ep, hostport);
    }
    while (ready + failed < count) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }

  WsFleet() = default;
  WsFleet(const WsFleet&) = delete;
  WsFleet& operator=(const WsFleet&) = delete;
  // An error thrown past the fleet (a refused HTTP connection, say) still ends its threads.
  ~WsFleet() { close(); }

  void close() {
    if (threads.empty()) return;
    for (auto& o : owners) {
      net::post(o->ws.get_executor(), [o] {
        beast::error_code ec;
        beast::get_lowest_layer(o->ws).socket().close(ec);
      });
    }
    work.reset();
    ioc.stop();
    for (auto& t : threads) t.join();
    threads.clear();
  }
};

}  // namespace lg
