// The load generator's helpers: arguments, the rate-paced sender, tallies of latency, Paho
// clients. Included by loadgen.cpp alone (one translation unit).
#pragma once

#include <mqtt/async_client.h>
#include <sys/resource.h>

#include <chrono>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "histogram.hpp"

namespace lg {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

inline std::map<std::string, std::string> g_args;

inline std::string arg(const std::string& name, const std::string& def = "") {
  const auto it = g_args.find(name);
  if (it != g_args.end()) return it->second;
  if (def.empty()) {
    std::cerr << "loadgen: --" << name << " is required\n";
    std::exit(2);
  }
  return def;
}
inline long num(const std::string& name, const std::string& def = "") {
  return std::stol(arg(name, def));
}

inline std::int64_t micros_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t).count();
}

inline json summary(const Histogram& h) {
  const auto ms = [](std::int64_t us) { return static_cast<double>(us) / 1000.0; };
  return {{"count", h.count()},
          {"p50_ms", ms(h.quantile(0.5))},
          {"p90_ms", ms(h.quantile(0.9))},
          {"p99_ms", ms(h.quantile(0.99))},
          {"p999_ms", ms(h.quantile(0.999))},
          {"max_ms", ms(h.max())}};
}

// Receives and counts: latency of message i is measured against start + i / rate. Message i is
// expected when `expected(i)` (by default every one of the n).
struct Tally {
  std::mutex mu;
  Histogram hist;
  std::vector<std::uint8_t> seen;
  std::vector<std::uint8_t> wanted;
  std::size_t wanted_count = 0;
  std::uint64_t duplicates = 0, unexpected = 0;
  Clock::time_point start;
  double rate = 1;

  explicit Tally(std::size_t n, const std::function<bool(std::size_t)>& expected = {})
      : seen(n, 0), wanted(n, 1) {
    for (std::size_t i = 0; i < n; ++i) wanted[i] = !expected || expected(i);
    for (auto w : wanted) wanted_count += w;
  }
  void got(std::size_t i) {
    const auto intended =
        start + std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 * i / rate));
    std::lock_guard lock(mu);
    if (i >= seen.size()) return;
    if (wanted[i] == 0) {
      ++unexpected;
      return;
    }
    if (seen[i]++ != 0) {
      ++duplicates;
      return;
    }
    hist.record(micros_since(intended));
  }
  // Expected messages received so far.
  std::size_t received() {
    std::lock_guard lock(mu);
    return static_cast<std::size_t>(hist.count());
  }
  json report() {
    std::lock_guard lock(mu);
    json j = summary(hist);
    j["expected"] = wanted_count;
    j["lost"] = wanted_count - hist.count();
    j["duplicates"] = duplicates;
    j["unexpected"] = unexpected;
    return j;
  }
};

// This process's CPU time so far (user + system), in microseconds: the load generator reports its
// own cost next to the bridge's.
inline std::int64_t own_cpu_us() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  const auto us = [](const timeval& t) {
    return static_cast<std::int64_t>(t.tv_sec) * 1'000'000 + t.tv_usec;
  };
  return us(u.ru_utime) + us(u.ru_stime);
}

inline std::unique_ptr<mqtt::async_client> mqtt_client(const std::string& url,
                                                       const std::string& id) {
  // A deep queue: at high rates Paho otherwise refuses publishes ("No more messages can be
  // buffered") before the broker has acknowledged the earlier ones.
  auto create = mqtt::create_options_builder()
                    .mqtt_version(MQTTVERSION_5)
                    .send_while_disconnected(true, false)
                    .max_buffered_messages(1000000)
                    .finalize();
  return std::make_unique<mqtt::async_client>(url, id, create);
}

inline mqtt::token_ptr mqtt_connect(mqtt::async_client& c) {
  mqtt::connect_options o;
  o.set_mqtt_version(MQTTVERSION_5);
  o.set_clean_session(false);
  o.set_clean_start(true);
  o.set_keep_alive_interval(std::chrono::seconds(60));
  o.set_max_inflight(65535);
  return c.connect(o);
}

// Paces `total` sends at `rate` per second, woken at most once per `tick` and never before the
// next message is due: send(first, last) gets the messages [first, last) that are due by then
// (message i at start + i / rate). With a tick, a message waits up to one tick past its intended
// time, which counts against the system measured (latency is taken from the intended time).
// Prints progress every second.
inline void paced_ticks(std::size_t total, double rate, Clock::time_point start,
                        Clock::duration tick,
                        const std::function<void(std::size_t, std::size_t)>& send) {
  const auto intended = [&](std::size_t i) {
    return start + std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 * i / rate));
  };
  std::size_t next = 0;
  auto next_report = start + std::chrono::seconds(1);
  for (auto wake = start; next < total; wake = std::max(wake + tick, intended(next))) {
    std::this_thread::sleep_until(wake);
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const auto due = std::min(total, static_cast<std::size_t>(elapsed * rate) + 1);
    if (due > next) {
      send(next, due);
      next = due;
    }
    if (Clock::now() >= next_report) {
      std::cerr << "  sent " << next << "/" << total << "\r" << std::flush;
      next_report += std::chrono::seconds(1);
    }
  }
  std::cerr << "  sent " << total << "/" << total << "\n";
}

// The same woken at each message's own intended time: calls send(i).
inline void paced(std::size_t total, double rate, Clock::time_point start,
                  const std::function<void(std::size_t)>& send) {
  paced_ticks(total, rate, start, Clock::duration::zero(),
              [&](std::size_t first, std::size_t last) {
                for (std::size_t i = first; i < last; ++i) send(i);
              });
}

inline void drain(const std::vector<Tally*>& tallies, std::chrono::seconds max) {
  const auto deadline = Clock::now() + max;
  while (Clock::now() < deadline) {
    bool done = true;
    for (auto* t : tallies) done = done && t->received() == t->wanted_count;
    if (done) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace lg
