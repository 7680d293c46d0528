// The venue board: per-gate counts and their bound, the minute ring and its percentiles, presence,
// the last rejections, the ticket counts (from a real SQLite store), the Prometheus series, and
// the operator feed's rate.
#include "venue_board.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "process.hpp"
#include "sqlite_store.hpp"

namespace tb {
namespace {

constexpr Millis kNow = 1'900'000'000'000;  // a whole minute: 31'666'666 min + 40 s

Tally scan(const std::string& gate, Status status, Reason reason, Millis at = kNow,
           const std::string& scanner = "gate-1") {
  Tally t;
  t.gate = gate;
  t.scanner = scanner;
  t.code = "T1";
  t.holder = "Ada";
  t.status = status;
  t.reason = reason;
  t.at = at;
  return t;
}

const nlohmann::json& gate_in(const nlohmann::json& snap, const std::string& name) {
  for (const auto& g : snap["gates"]) {
    if (g["gate"] == name) return g;
  }
  static const nlohmann::json none;
  ADD_FAILURE() << "no gate " << name << " in " << snap.dump();
  return none;
}

TEST(VenueBoard, CountsEachGateByStatusAndReason) {
  VenueBoard b;
  b.record(scan("north", Status::Admitted, Reason::Ok), 0.002);
  b.record(scan("north", Status::Admitted, Reason::Ok), 0.002);
  b.record(scan("north", Status::Rejected, Reason::AlreadyUsed), 0.002);
  b.record(scan("south", Status::Exited, Reason::Ok), 0.002);
  b.record(scan("", Status::Rejected, Reason::Malformed), 0.002);
  const auto snap = b.snapshot(kNow, {});
  const auto& north = gate_in(snap, "north");
  EXPECT_EQ(north["scans"]["admitted"], 2);
  EXPECT_EQ(north["scans"]["rejected"], 1);
  EXPECT_EQ(north["rejected_by_reason"]["already_used"], 1);
  EXPECT_EQ(gate_in(snap, "south")["scans"]["exited"], 1);
  EXPECT_EQ(gate_in(snap, VenueBoard::kNoGate)["rejected_by_reason"]["malformed"], 1);
  EXPECT_EQ(snap["scans"]["admitted"], 2);
  EXPECT_EQ(snap["scans"]["rejected"], 2);
  EXPECT_EQ(snap["scans"]["exited"], 1);
}

TEST(VenueBoard, GatesBeyondTheBoundCountAsOther) {
  VenueBoard b(BoardOptions{2});
  for (const char* g : {"a", "b", "c", "d", "a"}) {
    b.record(scan(g, Status::Admitted, Reason::Ok), 0.001);
  }
  const auto snap = b.snapshot(kNow, {});
  ASSERT_EQ(snap["gates"].size(), 3U) << snap["gates"].dump();
  EXPECT_EQ(gate_in(snap, "a")["scans"]["admitted"], 2);
  EXPECT_EQ(gate_in(snap, "b")["scans"]["admitted"], 1);
  EXPECT_EQ(gate_in(snap, VenueBoard::kOtherGate)["scans"]["admitted"], 2);
  std::string prom;
  b.render_prometheus(prom);
  EXPECT_NE(prom.find("ticket_bridge_gate_scans_total{gate=\"other\",status=\"admitted\","
                      "reason=\"ok\"} 2\n"),
            std::string::npos)
      << prom;
  EXPECT_EQ(prom.find("gate=\"c\""), std::string::npos) << prom;
}

TEST(VenueBoard, TheMinuteRingKeepsThirtyMinutesAndForgetsOlderOnes) {
  VenueBoard b;
  b.record(scan("north", Status::Admitted, Reason::Ok, kNow), 0.001);
  b.record(scan("north", Status::Admitted, Reason::Ok, kNow), 0.001);
  b.record(scan("north", Status::Admitted, Reason::Ok, kNow - 60'000), 0.001);
  b.record(scan("north", Status::Rejected, Reason::Revoked, kNow - 29 * 60'000), 0.001);
  auto pm = gate_in(b.snapshot(kNow, {}), "north")["per_minute"];
  ASSERT_EQ(pm["admitted"].size(), VenueBoard::kMinutes);
  EXPECT_EQ(pm["admitted"][29], 2);  // this minute, last
  EXPECT_EQ(pm["admitted"][28], 1);
  EXPECT_EQ(pm["rejected"][0], 1);  // 29 minutes ago, first
  EXPECT_EQ(pm["rejected_by_reason"]["revoked"][0], 1);
  // A minute later the oldest one has left the window; the totals stay.
  const auto later = b.snapshot(kNow + 60'000, {});
  pm = gate_in(later, "north")["per_minute"];
  EXPECT_EQ(pm["rejected"][0], 0);
  EXPECT_EQ(pm["admitted"][28], 2);
  EXPECT_EQ(gate_in(later, "north")["scans"]["rejected"], 1);
  // A scan half an hour later reuses the ring's slot of the old minute.
  b.record(scan("north", Status::Admitted, Reason::Ok, kNow + 30 * 60'000), 0.001);
  pm = gate_in(b.snapshot(kNow + 30 * 60'000, {}), "north")["per_minute"];
  EXPECT_EQ(pm["admitted"][29], 1);
}

TEST(VenueBoard, PercentilesCoverTheLastFiveMinutes) {
  VenueBoard b;
  // Long ago (outside the window): slow decisions that must not count.
  for (int i = 0; i < 100; ++i) {
    b.record(scan("north", Status::Admitted, Reason::Ok, kNow - 10 * 60'000), 2.0);
  }
  for (int i = 0; i < 199; ++i) b.record(scan("north", Status::Admitted, Reason::Ok), 0.0003);
  b.record(scan("north", Status::Admitted, Reason::Ok), 0.2);
  const auto snap = b.snapshot(kNow, {});
  const auto& g = gate_in(snap, "north");
  // 0.3 ms is in the bucket (0.25, 0.5] ms.
  EXPECT_GT(g["decision_p50_ms"].get<double>(), 0.25);
  EXPECT_LE(g["decision_p50_ms"].get<double>(), 0.5);
  EXPECT_LE(g["decision_p99_ms"].get<double>(), 0.5);
  VenueBoard empty;
  empty.record(scan("north", Status::Admitted, Reason::Ok, kNow - 10 * 60'000), 0.001);
  EXPECT_TRUE(gate_in(empty.snapshot(kNow, {}), "north")["decision_p99_ms"].is_null());
}

TEST(VenueBoard, ScannersShowPresenceGateAndLastScan) {
  VenueBoard b;
  b.presence("gate-1", true, kNow - 5000);
  b.presence("gate-2", false, kNow - 4000);
  b.record(scan("north", Status::Admitted, Reason::Ok, kNow - 3000, "gate-1"), 0.001);
  const auto snap = b.snapshot(kNow, {});
  ASSERT_EQ(snap["scanners"].size(), 2U);
  const auto& one = snap["scanners"][0];
  EXPECT_EQ(one["id"], "gate-1");
  EXPECT_EQ(one["status"], "online");
  EXPECT_EQ(one["gate"], "north");
  EXPECT_EQ(one["seconds_since_last_scan"], 3);
  EXPECT_EQ(one["last_scan_status"], "admitted");
  EXPECT_EQ(snap["scanners"][1]["status"], "offline");
  EXPECT_TRUE(snap["scanners"][1]["last_scan"].is_null());
  EXPECT_EQ(snap["scanners_online"], 1);
  // A repeat changes nothing; going offline does.
  const auto v = b.version();
  b.presence("gate-1", true, kNow);
  EXPECT_EQ(b.version(), v);
  b.presence("gate-1", false, kNow);
  EXPECT_EQ(b.snapshot(kNow, {})["scanners"][0]["status"], "offline");
}

TEST(VenueBoard, ScannersBeyondTheBoundAreCountedNotListed) {
  BoardOptions o;
  o.max_scanners = 2;
  VenueBoard b(o);
  for (const char* id : {"s1", "s2", "s3", "s4"}) b.presence(id, true, kNow);
  const auto snap = b.snapshot(kNow, {});
  EXPECT_EQ(snap["scanners"].size(), 2U);
  EXPECT_EQ(snap["scanners_untracked"], 2);
}

TEST(VenueBoard, KeepsTheLastRejectionsNewestFirst) {
  BoardOptions o;
  o.recent_rejections = 3;
  VenueBoard b(o);
  for (int i = 0; i < 5; ++i) {
    Tally t = scan("north", Status::Rejected, Reason::AlreadyUsed, kNow + i);
    t.code = "C" + std::to_string(i);
    t.conflict = i == 4;
    b.record(t, 0.001);
  }
  b.record(scan("north", Status::Admitted, Reason::Ok), 0.001);  // not a rejection
  const auto r = b.snapshot(kNow, {})["recent_rejections"];
  ASSERT_EQ(r.size(), 3U);
  EXPECT_EQ(r[0]["code"], "C4");
  EXPECT_EQ(r[0]["conflict"], true);
  EXPECT_EQ(r[0]["holder"], "Ada");
  EXPECT_EQ(r[0]["reason"], "already_used");
  EXPECT_EQ(r[2]["code"], "C2");
}

TEST(VenueBoard, TicketCountsComeFromTheStoreAndFollowTheDecisions) {
  tbtest::TempDir dir;
  SqliteStore store(dir.path() + "/tb.db");
  for (const char* code : {"A1", "A2", "A3"}) {
    Ticket t;
    t.code = code;
    t.uid = "u";
    store.insert_ticket(t);
  }
  TicketUsage used;
  used.entries = 1;
  used.inside = true;
  store.save_usage("A1", used);
  store.revoke_ticket("A3");
  store.set_scanner(ScannerConfig{"gate-9", "east", Direction::In, kNow});
  VenueBoard b;
  b.load(store, kNow);
  auto snap = b.snapshot(kNow, {});
  EXPECT_EQ(snap["venue"]["tickets_sold"], 2);
  EXPECT_EQ(snap["venue"]["admitted"], 1);
  EXPECT_EQ(snap["venue"]["inside"], 1);
  ASSERT_EQ(snap["scanners"].size(), 1U);
  EXPECT_EQ(snap["scanners"][0]["gate"], "east");
  EXPECT_EQ(snap["scanners"][0]["status"], "unknown");
  Tally in = scan("east", Status::Admitted, Reason::Ok);
  in.admitted_delta = 1;
  in.inside_delta = 1;
  b.record(in, 0.001);
  Tally out = scan("east", Status::Exited, Reason::Ok);
  out.inside_delta = -1;
  b.record(out, 0.001);
  b.record(out, 0.001);
  snap = b.snapshot(kNow, {});
  EXPECT_EQ(snap["venue"]["admitted"], 2);
  EXPECT_EQ(snap["venue"]["inside"], 0);
  b.set_counts(store.venue_counts());  // the store's word wins at the recount
  EXPECT_EQ(b.snapshot(kNow, {})["venue"]["inside"], 1);
}

TEST(VenueBoard, PrometheusSeriesPerGate) {
  VenueBoard b;
  b.record(scan("north", Status::Admitted, Reason::Ok), 0.0003);
  b.record(scan("north", Status::Admitted, Reason::Ok), 0.2);
  std::string out;
  b.render_prometheus(out);
  for (const char* line :
       {"ticket_bridge_gate_scans_total{gate=\"north\",status=\"admitted\",reason=\"ok\"} 2\n",
        "ticket_bridge_gate_decision_seconds_bucket{gate=\"north\",le=\"0.0005\"} 1\n",
        "ticket_bridge_gate_decision_seconds_bucket{gate=\"north\",le=\"+Inf\"} 2\n",
        "ticket_bridge_gate_decision_seconds_count{gate=\"north\"} 2\n",
        "# TYPE ticket_bridge_tickets_inside gauge\n"}) {
    EXPECT_NE(out.find(line), std::string::npos) << line << " in\n" << out;
  }
}

// Collects what the feed sends.
struct Watcher : FiguresSubscriber {
  std::atomic<int> got{0};
  std::mutex mu;
  std::string last;
  void figures(const std::shared_ptr<const std::string>& text) override {
    std::lock_guard lock(mu);
    last = *text;
    ++got;
  }
};

TEST(OperatorFeed, SendsAtMostOncePerIntervalWhateverTheRate) {
  VenueBoard board;
  OperatorFeed feed(
      board, [] { return BridgeInfo{}; }, std::chrono::milliseconds(100));
  feed.start();
  auto w = std::make_shared<Watcher>();
  ASSERT_TRUE(feed.subscribe(w, 4));
  EXPECT_EQ(w->got.load(), 1);  // the figures at once
  {
    std::lock_guard lock(w->mu);
    EXPECT_EQ(nlohmann::json::parse(w->last)["type"], "figures");
  }
  // 20,000 decisions in about a second: about ten messages, never one per decision.
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 20'000; ++i) {
    board.record(scan("north", Status::Admitted, Reason::Ok), 0.001);
    if (i % 200 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start);
  const int got = w->got.load();
  EXPECT_GE(got, 2);
  // One per 100 ms interval at most, plus the first.
  EXPECT_LE(got, 2 + static_cast<int>(took.count() * 10));
  {
    std::lock_guard lock(w->mu);
    EXPECT_EQ(nlohmann::json::parse(w->last)["scans"]["admitted"], 20'000);
  }
  // Nothing changes: nothing is sent (until the heartbeat).
  const int before = w->got.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(w->got.load(), before);
  feed.unsubscribe(w.get());
  feed.stop();
}

TEST(OperatorFeed, RefusesWatchersOverItsBound) {
  VenueBoard board;
  OperatorFeed feed(board, [] { return BridgeInfo{}; });
  feed.start();
  auto a = std::make_shared<Watcher>();
  auto b = std::make_shared<Watcher>();
  EXPECT_TRUE(feed.subscribe(a, 1));
  EXPECT_FALSE(feed.subscribe(b, 1));
  feed.unsubscribe(a.get());
  EXPECT_TRUE(feed.subscribe(b, 1));
  feed.stop();
}

}  // namespace
}  // namespace tb
