// The HTTP API of SPEC.md for the venue's backend (push, tickets, tokens) plus /healthz and
// /metrics. No Beast here: requests and responses are plain structs; writes run on the single
// writer thread, reads on the reader thread, so no network thread ever waits on the database.
#pragma once

#include <string>

#include "health.hpp"
#include "http_server.hpp"
#include "metrics.hpp"
#include "read_pool.hpp"
#include "writer.hpp"

namespace tb {

struct ApiConfig {
  std::string api_key;
  std::string jwt_secret;
  std::int64_t max_token_ttl_s = 30 * 24 * 3600;
};

class Api {
 public:
  Api(ApiConfig config, Writer& writer, ReadPool& reader, Metrics& metrics, const Health& health)
      : config_(std::move(config)),
        writer_(writer),
        reader_(reader),
        metrics_(metrics),
        health_(health) {}

  void handle(HttpRequest req, Responder respond);

 private:
  bool authorized(const HttpRequest& req) const;
  void push(const HttpRequest& req, const Responder& respond);
  void create_ticket(const HttpRequest& req, const Responder& respond);
  void get_ticket(const std::string& code, const Responder& respond);
  void revoke_ticket(const std::string& code, const Responder& respond);
  void create_token(const HttpRequest& req, const Responder& respond);
  void owner_ticket(const HttpRequest& req, const std::string& code, const Responder& respond);
  HttpResponse health() const;

  ApiConfig config_;
  Writer& writer_;
  ReadPool& reader_;
  Metrics& metrics_;
  const Health& health_;
};

}  // namespace tb
