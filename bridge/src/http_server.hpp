// The bridge's HTTP listener (Boost.Beast, kept behind this header so that only one translation
// unit compiles Beast). Requests are turned into plain structs and answered by a handler.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace tb {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query, as sent
  std::string authorization;
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0 picks a free port
  std::size_t body_limit = 64 * 1024;
  int threads = 1;
};

class HttpServer {
 public:
  HttpServer(HttpOptions options, HttpHandler handler);
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  ~HttpServer();

  // Binds and starts serving on background threads; an error text when it cannot bind.
  std::optional<std::string> start();
  std::uint16_t port() const;
  // Stops accepting, closes connections and joins the threads.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tb
