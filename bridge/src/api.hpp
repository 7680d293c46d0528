// The HTTP API of SPEC.md for the venue's backend (push, tickets, tokens) plus /healthz and
// /metrics. No Beast here: requests and responses are plain structs; writes run on the single
// writer thread, reads on the reader thread, so no network thread ever waits on the database.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "health.hpp"
#include "http_server.hpp"
#include "metrics.hpp"
#include "read_pool.hpp"
#include "signed_code.hpp"
#include "venue_board.hpp"
#include "writer.hpp"

namespace tb {

struct ApiConfig {
  std::string api_key;
  std::string jwt_secret;
  std::int64_t max_token_ttl_s = 30 * 24 * 3600;
  // When set, new tickets get a signed code (SPEC.md v1.1).
  std::shared_ptr<const SigningKey> signing_key;
  // New tickets that do not say need a rotating code (the rotating-codes setting).
  bool rotating_default = false;
  // The rotating key's id, when there is one: a rotating ticket's page compares it with the id
  // of the secret it holds.
  std::string rotating_key_id;
};

class Api {
 public:
  Api(ApiConfig config, Writer& writer, ReadPool& reader, Metrics& metrics, const Health& health)
      : api_key_(std::make_shared<const std::string>(config.api_key)),
        config_(std::move(config)),
        writer_(writer),
        reader_(reader),
        metrics_(metrics),
        health_(health) {}

  void handle(HttpRequest req, Responder respond);
  // The figures of GET /api/v1/stats and the per-gate series of /metrics (venue_board.hpp); set
  // before serving.
  void set_board(const VenueBoard* board, std::function<BridgeInfo()> bridge) {
    board_ = board;
    bridge_ = std::move(bridge);
  }
  // An operator's credential (the operator page, read-only routes): the API key, or a token with
  // the operator role. Its exp in seconds (0: the key, which has none), or why it is refused.
  std::variant<std::int64_t, std::string> verify_operator(std::string_view credential) const;
  // A new API key (SIGHUP), from any thread; requests in flight finish with the old one.
  void set_api_key(std::string key) {
    api_key_.store(std::make_shared<const std::string>(std::move(key)));
  }

 private:
  bool is_api_key(std::string_view given) const;
  bool authorized(const HttpRequest& req) const;
  void stats(const Responder& respond) const;
  void push(const HttpRequest& req, const Responder& respond);
  void create_ticket(const HttpRequest& req, const Responder& respond);
  void get_ticket(const std::string& code, const Responder& respond);
  void revoke_ticket(const std::string& code, const Responder& respond);
  void create_token(const HttpRequest& req, const Responder& respond);
  void owner_ticket(const HttpRequest& req, const std::string& code, const Responder& respond);
  HttpResponse health() const;

  std::atomic<std::shared_ptr<const std::string>> api_key_;
  ApiConfig config_;  // its api_key is the one at the start: api_key_ is the current one
  Writer& writer_;
  ReadPool& reader_;
  Metrics& metrics_;
  const Health& health_;
  const VenueBoard* board_ = nullptr;
  std::function<BridgeInfo()> bridge_;
};

}  // namespace tb
