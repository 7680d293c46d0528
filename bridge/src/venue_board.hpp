// The venue at a glance (docs/operations.md, "The operator page"): what the operator page,
// GET /api/v1/stats and the per-gate series of /metrics show. Per gate, the scans decided by
// status and reason, a decision-time histogram, and a ring of the last 30 minutes; every scanner
// with its gate, presence (its retained scanners/<id>/status and Last Will) and last scan; the
// last rejections; the venue's ticket counts (read from the store at the start and every
// kVenueRecount, kept up to date by each decision in between).
//
// The writer records each committed decision (record(), one short lock, no allocation for a gate
// and scanner it knows); readers take a snapshot. The number of gates is bounded: beyond
// `max_gates`, scans count under the gate "other". Scans with no gate count under "none".
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "admission.hpp"
#include "metrics.hpp"
#include "store.hpp"

namespace tb {

// One committed decision, as the board counts it.
struct Tally {
  std::string gate;  // empty: the scan named none (a malformed one)
  std::string scanner;
  std::string code;
  std::string holder;
  Status status = Status::Rejected;
  Reason reason = Reason::Malformed;
  Millis at = 0;
  int admitted_delta = 0;  // 1: the ticket's first admission
  int inside_delta = 0;    // +1 in, -1 out, 0 no change
  bool conflict = false;   // a gate's offline verdict differed (docs/offline.md)
};

// This bridge, as the page shows it.
struct BridgeInfo {
  std::string instance;
  std::string version;
  std::string store;  // "sqlite" or "postgresql"
  bool mqtt_connected = false;
  bool store_up = false;
  std::int64_t queue_depth = 0;
  std::int64_t ws_connections = 0;
  std::int64_t uptime_s = 0;
};

struct BoardOptions {
  std::size_t max_gates = 64;
  std::size_t max_scanners = 1000;  // tracked on the page; more are counted, not listed
  std::size_t recent_rejections = 50;
};

class VenueBoard {
 public:
  static constexpr std::size_t kMinutes = 30;          // the per-minute ring
  static constexpr std::size_t kPercentileWindow = 5;  // minutes the page's p50/p99 cover
  static constexpr const char* kOtherGate = "other";
  static constexpr const char* kNoGate = "none";

  explicit VenueBoard(BoardOptions options = {});

  // The scanner table and the counts, at the start (any thread; takes the store's lock).
  void load(Store& store, Millis now);
  void set_counts(const Store::VenueCounts& counts);
  void record(const Tally& t, double seconds);
  void presence(std::string_view scanner, bool online, Millis now);

  // The figures as JSON: GET /api/v1/stats and the operator page's "figures" message.
  nlohmann::json snapshot(Millis now, const BridgeInfo& bridge) const;
  // The per-gate Prometheus series and the venue's gauges, appended to /metrics.
  void render_prometheus(std::string& out) const;
  // Changes with every change of the figures (the feed sends only what changed).
  std::uint64_t version() const;

 private:
  struct Minute {
    std::int64_t index = -1;  // minutes since the epoch
    std::uint32_t admitted = 0;
    std::uint32_t exited = 0;
    std::array<std::uint32_t, kReasonCount> rejected{};
    std::array<std::uint32_t, Histogram::kBounds.size() + 1> buckets{};
  };
  struct Gate {
    std::array<std::array<std::uint64_t, kReasonCount>, kStatusCount> scans{};
    std::array<std::uint64_t, Histogram::kBounds.size() + 1> buckets{};
    double seconds_sum = 0;
    std::uint64_t count = 0;
    std::array<Minute, kMinutes> minutes{};
  };
  struct Scanner {
    std::string gate;
    bool online = false;
    bool heard = false;    // a status was received
    Millis since = 0;      // when its presence last changed
    Millis last_scan = 0;  // 0: none yet
    std::string last_status;
  };
  struct Rejection {
    Millis at;
    std::string gate, scanner, code, holder;
    Reason reason;
    bool conflict;
  };

  Gate& gate_of(const std::string& name);
  Scanner* scanner_of(std::string_view id);

  BoardOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, Gate, std::less<>> gates_;
  std::map<std::string, Scanner, std::less<>> scanners_;
  std::uint64_t scanners_untracked_ = 0;
  std::deque<Rejection> rejections_;
  Store::VenueCounts counts_;
  std::uint64_t version_ = 0;
};

// Sends the board's figures to the operator page's WebSocket clients (/operator/ws): at most
// once per `interval` and only when they changed (or every kHeartbeat), whatever the scan rate;
// nothing at all while nobody watches.
class FiguresSubscriber {
 public:
  virtual ~FiguresSubscriber() = default;
  // From the feed's thread: hand over, never block.
  virtual void figures(const std::shared_ptr<const std::string>& text) = 0;
};

class OperatorFeed {
 public:
  static constexpr std::chrono::seconds kHeartbeat{5};

  OperatorFeed(const VenueBoard& board, std::function<BridgeInfo()> bridge,
               std::chrono::milliseconds interval = std::chrono::milliseconds(500));
  OperatorFeed(const OperatorFeed&) = delete;
  OperatorFeed& operator=(const OperatorFeed&) = delete;
  ~OperatorFeed();

  void start();
  void stop();
  // False when `max` clients watch already. The new client gets the figures at once.
  bool subscribe(const std::shared_ptr<FiguresSubscriber>& s, std::size_t max);
  void unsubscribe(const FiguresSubscriber* s);
  std::uint64_t messages_sent() const;  // figures messages handed to clients, in total

  // The figures message: {"type":"figures", ...snapshot}.
  std::shared_ptr<const std::string> message() const;

 private:
  void run();

  const VenueBoard& board_;
  std::function<BridgeInfo()> bridge_;
  std::chrono::milliseconds interval_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<FiguresSubscriber>> subscribers_;
  bool stopping_ = false;
  std::uint64_t sent_ = 0;
  std::thread thread_;
};

}  // namespace tb
