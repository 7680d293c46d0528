// The load generator's open-loop HTTP client (Beast): keep-alive connections that pipeline, so
// that request i goes out at its intended time whether or not the answers to earlier ones are in.
// A closed-loop client (wrk) waits for each answer before it sends again: when the server slows
// down, so does the load, and the time requests would have queued never shows in the latency.
// The bridge answers a connection's pipelined requests one at a time: that queueing is part of
// what is measured. Included by loadgen.cpp alone.
#pragma once

#include <deque>
#include <optional>

#include "ws_fleet.hpp"

namespace lg {

// One of these per connection, all on one io_context run by one thread (no strands needed).
struct PushConn : std::enable_shared_from_this<PushConn> {
  beast::tcp_stream stream;
  beast::flat_buffer buf;
  std::optional<http::response_parser<http::string_body>> parser;
  std::string queued;                // requests waiting for the write in flight
  std::string writing;               // the requests of the write in flight
  std::deque<std::size_t> awaiting;  // requests whose answers are due, in the order sent
  std::function<void(std::size_t request, unsigned status)> on_answer;
  std::function<void()> on_broken;  // once, when the connection fails
  bool broken = false;

  explicit PushConn(net::io_context& ioc) : stream(ioc) {}

  // Blocking; before the io_context runs anything of this connection.
  void connect(const tcp::endpoint& ep) {
    stream.connect(ep);
    stream.socket().set_option(tcp::no_delay(true));
    read();
  }

  // On the io_context's thread. Requests added while a write is in flight go out together in
  // the next one.
  void add(std::size_t i, std::string wire) {
    if (broken) return;
    awaiting.push_back(i);
    queued += wire;
    if (writing.empty()) write();
  }

  void close() {
    beast::error_code ec;
    stream.socket().close(ec);
  }

 private:
  void write() {
    writing.swap(queued);
    net::async_write(stream, net::buffer(writing),
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       self->writing.clear();
                       if (ec) return self->fail();
                       if (!self->queued.empty()) self->write();
                     });
  }

  void read() {
    parser.emplace();
    http::async_read(stream, buf, *parser,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec || self->awaiting.empty()) return self->fail();
                       const auto i = self->awaiting.front();
                       self->awaiting.pop_front();
                       self->on_answer(i, self->parser->get().result_int());
                       self->read();
                     });
  }

  void fail() {
    if (broken) return;
    broken = true;
    on_broken();
  }
};

// POST /api/v1/push for `uid` with {"n": n} as its data, on the wire.
inline std::string push_request(const std::string& host, const std::string& key,
                                const std::string& uid, std::size_t n) {
  const std::string body = R"({"uid":")" + uid + R"(","data":{"n":)" + std::to_string(n) + "}}";
  return "POST /api/v1/push HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + key +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

}  // namespace lg
