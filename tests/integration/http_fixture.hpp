// The HTTP API against a real bridge and broker: the fixture of http_api_test.cpp and
// http_edges_test.cpp.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "brokers.hpp"

namespace tbtest_http {

using nlohmann::json;
using tbtest::Bridge;

// A plain TCP connection to 127.0.0.1:port from `source` (any of 127.0.0.0/8, all loopback),
// blocking, its reads timing out after `timeout_s`; -1 when it cannot connect.
inline int connect_raw(std::uint16_t port, int timeout_s = 5, const char* source = "127.0.0.1") {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &from.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
    ::close(fd);
    return -1;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{timeout_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// Everything the peer sends until it closes, fails or stays silent for the read timeout.
inline std::string read_all(int fd) {
  std::string got;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return got;
    got.append(buf, static_cast<std::size_t>(n));
  }
}

class HttpApi : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<tbtest::Mosquitto>(dir_);
    bridge_ = std::make_unique<Bridge>(dir_, broker_->url(), extra_args());
    ASSERT_TRUE(bridge_->start()) << bridge_->log();
  }
  // Options of `serve` for a fixture of its own.
  virtual std::vector<std::string> extra_args() { return {}; }

  tbtest::HttpReply call(const std::string& method, const std::string& target,
                         const std::string& body = {}, bool with_key = true) {
    const std::string headers =
        with_key ? std::string("Authorization: Bearer ") + Bridge::kApiKey + "\r\n" : "";
    return tbtest::http_request(bridge_->http_port(), method, target, body, headers);
  }

  static json body(const tbtest::HttpReply& r) { return json::parse(r.body, nullptr, false); }

  tbtest::TempDir dir_;
  std::unique_ptr<tbtest::Mosquitto> broker_;
  std::unique_ptr<Bridge> bridge_;
};

}  // namespace tbtest_http
