// ticket-bridge load generator. Loopback only; every run is bounded in count and time.
//
//   loadgen floor --mqtt URL --rate R --seconds S
//       The broker alone at rate R: publish -> subscriber (one hop), and publish -> relay client
//       -> subscriber (two hops: the path of a scan to the bridge and of its answer back).
//   loadgen scans --mqtt URL --ws HOST:PORT --secret-file F --prefix P --owners N --rate R
//                 --seconds S [--publishers K] [--ws-clients W] [--native-owners M] [--device 1]
//       Scans of tickets P0, P1, ... (ticket i belongs to uid u<i % N>) at rate R over K MQTT
//       connections, W WebSocket owners (u0..u<W-1>), and native MQTT owners: one app subscribed
//       to users/+/events, or with M, M apps each on users/u<k>/events alone. JSON scans on
//       tickets/scan, or with --device 1 plain-text scans on tickets/scan/<scanner>.
//       Records publish -> scanner answer, publish -> WebSocket event, publish -> MQTT event, and
//       the generator's own CPU time while it sends and drains.
//   loadgen connections --ws HOST:PORT --secret-file F --count N --first K [--hold S]
//                 [--push-key-file F --http HOST:PORT]
//       N idle WebSocket connections for uids c<K>..; then, with a key, one push per uid through
//       the HTTP API, each of which must arrive.
//   loadgen push --ws HOST:PORT --http HOST:PORT --secret-file F --key-file F --clients N
//                --rates R1,R2,... --seconds S [--connections C] [--watch-pid P]
//       The push API open-loop: N WebSocket clients (uids p0..p<N-1>), then for each rate a step
//       of S seconds of POST /api/v1/push to p<i % N> in turn, pipelined over C keep-alive
//       connections (push_client.hpp). Records request -> answer and request -> WebSocket event,
//       and the CPU time of this process and of process P (the bridge) in each step.
//
// Latency is measured from each message's intended send time (rate-paced), so that a stall
// counts against every message it delays. Output: one JSON object on stdout; progress on stderr.
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "jwt.hpp"
#include "lg_common.hpp"
#include "push_client.hpp"
#include "secrets.hpp"
#include "timeutil.hpp"
#include "topics.hpp"
#include "ws_fleet.hpp"

namespace {

using namespace lg;

int run_floor() {
  const std::string url = arg("mqtt");
  const double rate = static_cast<double>(num("rate"));
  const auto seconds = num("seconds");
  const auto total = static_cast<std::size_t>(rate * static_cast<double>(seconds));
  Tally one(total), two(total);

  auto pub = mqtt_client(url, "lg-floor-pub");
  auto sub = mqtt_client(url, "lg-floor-sub");
  auto relay = mqtt_client(url, "lg-floor-relay");
  sub->set_message_callback([&](mqtt::const_message_ptr m) {
    const auto i = std::stoul(m->get_payload_str());
    (m->get_topic() == "bench/floor/one" ? one : two).got(i);
  });
  relay->set_message_callback([&](mqtt::const_message_ptr m) {
    relay->publish("bench/floor/two-out", m->get_payload_str(), 1,
                   false);  // no wait: callback thread
  });
  auto t1 = mqtt_connect(*pub), t2 = mqtt_connect(*sub), t3 = mqtt_connect(*relay);
  t1->wait();
  t2->wait();
  t3->wait();
  sub->subscribe("bench/floor/one", 1)->wait();
  sub->subscribe("bench/floor/two-out", 1)->wait();
  relay->subscribe("bench/floor/two-in", 1)->wait();

  std::cerr << "floor: " << total << " messages each path at " << rate << "/s\n";
  const auto cpu0 = own_cpu_us();
  const auto start = Clock::now() + std::chrono::milliseconds(100);
  one.start = two.start = start;
  one.rate = two.rate = rate;
  paced(total, rate, start, [&](std::size_t i) {
    const std::string p = std::to_string(i);
    pub->publish("bench/floor/one", p, 1, false);
    pub->publish("bench/floor/two-in", p, 1, false);
  });
  const auto sent_s = std::chrono::duration<double>(Clock::now() - start).count();
  drain({&one, &two}, std::chrono::seconds(15));
  json out = {{"mode", "floor"},
              {"rate", rate},
              {"seconds", seconds},
              {"achieved_rate", static_cast<double>(total) / sent_s},
              {"loadgen_cpu_us", own_cpu_us() - cpu0},
              {"one_hop", one.report()},
              {"two_hops", two.report()}};
  std::cout << out.dump() << std::endl;
  for (auto* c : {pub.get(), sub.get(), relay.get()}) c->disconnect()->wait();
  return 0;
}

int run_scans() {
  const std::string url = arg("mqtt");
  const std::string prefix = arg("prefix");
  const auto owners = static_cast<std::size_t>(num("owners"));
  const double rate = static_cast<double>(num("rate"));
  const auto seconds = num("seconds");
  const auto publishers = static_cast<std::size_t>(num("publishers", "4"));
  const auto ws_clients = static_cast<std::size_t>(num("ws-clients", std::to_string(owners)));
  // 0: one native app on users/+/events; N: N apps, app k on users/u<k>/events alone.
  const auto natives = static_cast<std::size_t>(num("native-owners", "0"));
  // 1: embedded scanners (plain text on tickets/scan/<scanner>), else JSON scans on tickets/scan.
  const bool device = num("device", "0") != 0;
  const auto total = static_cast<std::size_t>(rate * static_cast<double>(seconds));
  const std::string secret = tb::load_secret(arg("secret-file"), false, "JWT secret");
  if (natives > owners) {
    std::cerr << "loadgen: --native-owners must not exceed --owners\n";
    return 2;
  }
  Tally answers(total), ws_events(total, [&](std::size_t i) { return i % owners < ws_clients; }),
      mqtt_events(total, [&](std::size_t i) { return natives == 0 || i % owners < natives; });

  const auto index_of_code = [&](const std::string& text, std::size_t& out) {
    const auto at = text.find("\"code\":\"" + prefix);
    if (at == std::string::npos) return false;
    const auto start = at + 8 + prefix.size();
    out = std::stoul(text.substr(start, text.find('"', start) - start));
    return true;
  };

  // Owners on WebSocket first: they must be connected before the scans start.
  WsFleet fleet;
  std::cerr << "scans: connecting " << ws_clients << " WebSocket owners\n";
  const auto c0 = Clock::now();
  fleet.open(arg("ws"), secret, "u", 0, ws_clients, owners, [&](const std::string& text) {
    std::size_t i = 0;
    if (text.find("ticket.admitted") != std::string::npos && index_of_code(text, i))
      ws_events.got(i);
  });
  const double connect_s = std::chrono::duration<double>(Clock::now() - c0).count();
  std::cerr << "  " << fleet.ready << " ready, " << fleet.failed << " failed in " << connect_s
            << " s\n";

  // Native apps subscribed to owners' events, and the scanners.
  std::vector<std::unique_ptr<mqtt::async_client>> apps, pubs;
  std::vector<mqtt::token_ptr> pending;
  for (std::size_t k = 0; k < std::max<std::size_t>(natives, 1); ++k) {
    apps.push_back(mqtt_client(url, "lg-native-" + std::to_string(k)));
    apps.back()->set_message_callback([&](mqtt::const_message_ptr m) {
      std::size_t i = 0;
      if (index_of_code(m->get_payload_str(), i)) mqtt_events.got(i);
    });
    pending.push_back(mqtt_connect(*apps.back()));  // all at once: sequential connects are slow
  }
  for (std::size_t p = 0; p < publishers; ++p) {
    pubs.push_back(mqtt_client(url, "lg-scanner-" + std::to_string(p)));
    pubs.back()->set_message_callback([&](mqtt::const_message_ptr m) {
      std::size_t i = 0;
      const auto props = m->get_properties();
      if (props.contains(mqtt::property::CORRELATION_DATA)) {
        answers.got(std::stoul(mqtt::get<mqtt::binary>(props, mqtt::property::CORRELATION_DATA)));
      } else if (device && index_of_code(m->get_payload_str(), i)) {
        answers.got(i);  // a device's JSON result names the code; its text and light do not
      }
    });
    pending.push_back(mqtt_connect(*pubs.back()));
  }
  for (auto& t : pending) t->wait();
  pending.clear();
  for (std::size_t k = 0; k < apps.size(); ++k) {
    const std::string uid = natives == 0 ? "+" : "u" + std::to_string(k);
    pending.push_back(apps[k]->subscribe(tb::topics::user_events(uid), 1));
  }
  for (std::size_t p = 0; p < publishers; ++p) {
    pending.push_back(pubs[p]->subscribe(tb::topics::result("lg-" + std::to_string(p)), 1));
  }
  for (auto& t : pending) t->wait();

  std::cerr << "scans: " << total << (device ? " device" : " JSON") << " scans at " << rate
            << "/s over " << publishers << " connections, " << natives << " native owners\n";
  const auto start = Clock::now() + std::chrono::milliseconds(200);
  for (auto* t : {&answers, &ws_events, &mqtt_events}) {
    t->start = start;
    t->rate = rate;
  }
  const auto run_id = std::to_string(tb::now_ms());
  const auto cpu0 = own_cpu_us();
  paced(total, rate, start, [&](std::size_t i) {
    const std::size_t p = i % publishers;
    const std::string scanner = "lg-" + std::to_string(p);
    if (device) {
      pubs[p]->publish(tb::topics::device_scan(scanner), prefix + std::to_string(i), 1, false);
      return;
    }
    auto msg = mqtt::make_message(std::string(tb::topics::kScan),
                                  json{{"scan_id", "lg:" + run_id + ":" + std::to_string(i)},
                                       {"code", prefix + std::to_string(i)},
                                       {"scanner", scanner},
                                       {"gate", "bench-" + std::to_string(p)}}
                                      .dump(),
                                  1, false);
    msg->set_properties(
        mqtt::properties{{mqtt::property::RESPONSE_TOPIC, tb::topics::result(scanner)},
                         {mqtt::property::CORRELATION_DATA, std::to_string(i)}});
    pubs[p]->publish(msg);
  });
  const auto sent_s = std::chrono::duration<double>(Clock::now() - start).count();
  drain({&answers, &ws_events, &mqtt_events}, std::chrono::seconds(20));
  const auto done_s = std::chrono::duration<double>(Clock::now() - start).count();

  json out = {{"mode", "scans"},
              {"rate", rate},
              {"seconds", seconds},
              {"scans", total},
              {"device", device},
              {"achieved_send_rate", static_cast<double>(total) / sent_s},
              {"answered_per_s", static_cast<double>(answers.received()) / done_s},
              {"loadgen_cpu_us", own_cpu_us() - cpu0},
              {"ws_clients", fleet.ready.load()},
              {"ws_connect_failed", fleet.failed.load()},
              {"native_owners", natives},
              {"answer", answers.report()},
              {"ws_event", ws_events.report()},
              {"mqtt_event", mqtt_events.report()}};
  std::cout << out.dump() << std::endl;
  for (auto& c : apps) c->disconnect()->wait();
  for (auto& p : pubs) p->disconnect()->wait();
  fleet.close();
  return 0;
}

int run_connections() {
  const auto count = static_cast<std::size_t>(num("count"));
  const auto first = static_cast<std::size_t>(num("first", "0"));
  const auto hold = num("hold", "0");
  const std::string secret = tb::load_secret(arg("secret-file"), false, "JWT secret");
  std::atomic<std::size_t> events{0};
  WsFleet fleet;
  const auto c0 = Clock::now();
  fleet.open(arg("ws"), secret, "c", first, count, 0, [&](const std::string& text) {
    if (text.find("\"push\"") != std::string::npos) events.fetch_add(1);
  });
  const double connect_s = std::chrono::duration<double>(Clock::now() - c0).count();
  json out = {{"mode", "connections"},
              {"requested", count},
              {"connected", fleet.ready.load()},
              {"failed", fleet.failed.load()},
              {"connect_seconds", connect_s}};
  std::cerr << "connections: " << fleet.ready << " connected in " << connect_s << " s\n";
  // Tell a waiting script that the connections are up.
  std::cout << json{{"mode", "connections"},
                    {"phase", "connected"},
                    {"connected", fleet.ready.load()}}
                   .dump()
            << std::endl;

  if (g_args.count("push-key-file") != 0) {
    // One push per uid over one keep-alive HTTP connection; every one must arrive.
    const std::string key = tb::load_secret(arg("push-key-file"), false, "API key");
    const std::string hostport = arg("http");
    const auto colon = hostport.rfind(':');
    net::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.connect(
        tcp::endpoint(net::ip::make_address(hostport.substr(0, colon)),
                      static_cast<unsigned short>(std::stoi(hostport.substr(colon + 1)))));
    beast::flat_buffer buf;
    const auto p0 = Clock::now();
    std::size_t accepted = 0;
    for (std::size_t i = 0; i < count; ++i) {
      http::request<http::string_body> req{http::verb::post, "/api/v1/push", 11};
      req.set(http::field::host, hostport);
      req.set(http::field::authorization, "Bearer " + key);
      req.set(http::field::content_type, "application/json");
      req.body() = json{{"uid", "c" + std::to_string(first + i)}, {"data", {{"n", i}}}}.dump();
      req.prepare_payload();
      http::write(stream, req);
      http::response<http::string_body> res;
      http::read(stream, buf, res);
      accepted += res.result_int() == 202;
    }
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (events < fleet.ready && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    out["pushes_accepted"] = accepted;
    out["push_seconds"] = std::chrono::duration<double>(Clock::now() - p0).count();
    out["events_received"] = events.load();
  }
  if (hold > 0) {
    std::cerr << "connections: holding for " << hold << " s\n";
    std::this_thread::sleep_for(std::chrono::seconds(hold));
  }
  std::cout << out.dump() << std::endl;
  fleet.close();
  return 0;
}

// CPU time (user + system) of another process so far, in microseconds; 0 when it cannot be read.
std::int64_t process_cpu_us(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto paren = stat.rfind(')');  // the command name may hold spaces
  if (paren == std::string::npos) return 0;
  std::istringstream fields(stat.substr(paren + 2));
  std::string f;
  std::int64_t utime = 0, stime = 0;
  for (int field = 3; field <= 15 && fields >> f; ++field) {
    if (field == 14) utime = std::stoll(f);
    if (field == 15) stime = std::stoll(f);
  }
  return (utime + stime) * 1'000'000 / sysconf(_SC_CLK_TCK);
}

std::vector<double> rate_list(const std::string& text) {
  std::vector<double> rates;
  std::istringstream in(text);
  for (std::string r; std::getline(in, r, ',');) rates.push_back(std::stod(r));
  return rates;
}

int run_push() {
  const auto clients = static_cast<std::size_t>(num("clients"));
  const auto connections = static_cast<std::size_t>(num("connections", "64"));
  const auto rates = rate_list(arg("rates"));
  const auto seconds = num("seconds");
  const long watched = num("watch-pid", "0");
  const std::string secret = tb::load_secret(arg("secret-file"), false, "JWT secret");
  const std::string key = tb::load_secret(arg("key-file"), false, "API key");
  const std::string host = arg("http");
  if (clients == 0 || connections == 0 || rates.empty() || seconds <= 0 ||
      std::any_of(rates.begin(), rates.end(), [](double r) { return !(r > 0); })) {
    std::cerr << "loadgen: --clients, --connections, --seconds and every rate must be above 0\n";
    return 2;
  }

  // One step per rate; a request's number n is global, its step's requests are base..base+total.
  struct Step {
    double rate;
    std::size_t base, total;
    Tally answers, events;
    std::atomic<std::uint64_t> not_accepted{0};
    // How late the generator's HTTP thread took a tick's requests, at worst: lateness that is
    // the generator's, not the bridge's.
    std::atomic<std::int64_t> hand_over_late_us{0};
    Step(double r, std::size_t b, std::size_t n)
        : rate(r), base(b), total(n), answers(n), events(n) {}
  };
  std::vector<std::unique_ptr<Step>> steps;
  std::size_t base = 0;
  for (const double r : rates) {
    const auto n = static_cast<std::size_t>(r * static_cast<double>(seconds));
    steps.push_back(std::make_unique<Step>(r, base, n));
    base += n;
  }
  const auto step_of = [&](std::size_t n) -> Step* {
    for (auto& s : steps)
      if (n >= s->base && n < s->base + s->total) return s.get();
    return nullptr;
  };

  std::atomic<std::size_t> broken{0};  // before the fleet: the HTTP thread runs on past it
  WsFleet fleet;
  std::cerr << "push: connecting " << clients << " WebSocket clients\n";
  fleet.open(arg("ws"), secret, "p", 0, clients, 0, [&](const std::string& text) {
    const auto at = text.find("\"n\":");
    if (text.find("\"type\":\"push\"") == std::string::npos || at == std::string::npos) return;
    std::size_t n = 0;
    const char* digits = text.data() + at + 4;
    if (std::from_chars(digits, text.data() + text.size(), n).ec != std::errc()) return;
    if (auto* s = step_of(n)) s->events.got(n - s->base);
  });
  std::cerr << "  " << fleet.ready << " ready, " << fleet.failed << " failed\n";
  if (fleet.failed != 0) {
    std::cerr << "loadgen: " << fleet.failed << " WebSocket clients did not connect\n";
    return 1;
  }

  const auto colon = host.rfind(':');
  const tcp::endpoint ep(net::ip::make_address(host.substr(0, colon)),
                         static_cast<unsigned short>(std::stoi(host.substr(colon + 1))));
  // The HTTP side has its own thread: the fleet's two are busy with 10,000 sockets.
  net::io_context http_ioc;
  auto http_work = net::make_work_guard(http_ioc);
  std::vector<std::shared_ptr<PushConn>> conns;
  for (std::size_t c = 0; c < connections; ++c) {
    auto conn = std::make_shared<PushConn>(http_ioc);
    conn->on_answer = [&](std::size_t n, unsigned status) {
      auto* s = step_of(n);
      if (s == nullptr) return;
      if (status == 202) {
        s->answers.got(n - s->base);
      } else {
        s->not_accepted.fetch_add(1);
      }
    };
    conn->on_broken = [&] { broken.fetch_add(1); };
    conn->connect(ep);
    conns.push_back(std::move(conn));
  }
  std::thread http_thread([&] { http_ioc.run(); });
  struct Joiner {  // an error thrown past here still ends the thread
    net::io_context& ioc;
    std::thread& thread;
    ~Joiner() {
      if (!thread.joinable()) return;
      ioc.stop();
      thread.join();
    }
  } joiner{http_ioc, http_thread};

  json out_steps = json::array();
  for (auto& sp : steps) {
    auto& s = *sp;
    std::cerr << "push: " << s.total << " pushes at " << s.rate << "/s over " << connections
              << " connections\n";
    const auto start = Clock::now() + std::chrono::milliseconds(200);
    for (auto* t : {&s.answers, &s.events}) {
      t->start = start;
      t->rate = s.rate;
    }
    const auto cpu0 = own_cpu_us();
    const auto watched0 = watched != 0 ? process_cpu_us(watched) : 0;
    // One hand-over to the HTTP thread per millisecond, not per request.
    paced_ticks(s.total, s.rate, start, std::chrono::milliseconds(1),
                [&](std::size_t first, std::size_t last) {
                  std::vector<std::pair<std::size_t, std::string>> due;
                  for (std::size_t i = first; i < last; ++i) {
                    const std::size_t n = s.base + i;
                    due.emplace_back(i % connections,
                                     push_request(host, key, "p" + std::to_string(i % clients), n));
                  }
                  net::post(http_ioc, [&conns, &s, first, start, due = std::move(due)]() mutable {
                    const auto intended =
                        start + std::chrono::nanoseconds(static_cast<std::int64_t>(
                                    1e9 * static_cast<double>(first) / s.rate));
                    const auto late = micros_since(intended);
                    if (late > s.hand_over_late_us)
                      s.hand_over_late_us = late;  // this thread alone
                    for (std::size_t k = 0; k < due.size(); ++k) {
                      conns[due[k].first]->add(s.base + first + k, std::move(due[k].second));
                    }
                  });
                });
    const auto sent_s = std::chrono::duration<double>(Clock::now() - start).count();
    drain({&s.answers, &s.events}, std::chrono::seconds(20));
    const auto done_s = std::chrono::duration<double>(Clock::now() - start).count();
    json step = {{"rate", s.rate},
                 {"pushes", s.total},
                 {"achieved_send_rate", static_cast<double>(s.total) / sent_s},
                 {"answered_per_s", static_cast<double>(s.answers.received()) / done_s},
                 {"not_accepted", s.not_accepted.load()},
                 {"hand_over_late_max_ms", static_cast<double>(s.hand_over_late_us.load()) / 1000},
                 {"loadgen_cpu_us", own_cpu_us() - cpu0},
                 {"answer", s.answers.report()},
                 {"ws_event", s.events.report()}};
    if (watched != 0) step["watched_cpu_us"] = process_cpu_us(watched) - watched0;
    // As the gate's steps: p99 <= 50 ms for the answer and the event, nothing lost or refused,
    // and 95 % of the rate answered (over the step and its drain).
    step["sustained"] = step["answer"]["lost"] == 0 && step["ws_event"]["lost"] == 0 &&
                        s.not_accepted == 0 && step["answer"]["p99_ms"] <= 50.0 &&
                        step["ws_event"]["p99_ms"] <= 50.0 &&
                        step["answered_per_s"] >= 0.95 * s.rate;
    std::cerr << "  answer p99 " << step["answer"]["p99_ms"] << " ms, event p99 "
              << step["ws_event"]["p99_ms"] << " ms, " << (step["sustained"] ? "" : "not ")
              << "sustained\n";
    out_steps.push_back(std::move(step));
    if (broken != 0) {
      std::cerr << "push: " << broken << " HTTP connections failed; no further step\n";
      break;
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
  std::cout << json{{"mode", "push"},
                    {"clients", fleet.ready.load()},
                    {"clients_failed", fleet.failed.load()},
                    {"connections", connections},
                    {"seconds", seconds},
                    {"broken_connections", broken.load()},
                    {"steps", out_steps}}
                   .dump()
            << std::endl;
  net::post(http_ioc, [&conns] {
    for (auto& c : conns) c->close();
  });
  http_work.reset();
  http_thread.join();
  fleet.close();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help") {
    std::cerr << "usage: loadgen floor|scans|connections|push --option value ... (see the source's "
                 "header)\n";
    return argc < 2 ? 2 : 0;
  }
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0) {
      std::cerr << "loadgen: expected --option value, got " << k << "\n";
      return 2;
    }
    g_args[k.substr(2)] = argv[i + 1];
  }
  const std::string mode = argv[1];
  try {
    if (mode == "floor") return run_floor();
    if (mode == "scans") return run_scans();
    if (mode == "connections") return run_connections();
    if (mode == "push") return run_push();
  } catch (const std::exception& e) {
    std::cerr << "loadgen: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "loadgen: unknown mode " << mode << "\n";
  return 2;
}
