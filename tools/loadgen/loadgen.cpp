// ticket-bridge load generator. Loopback only; every run is bounded in count and time.
//
//   loadgen floor --mqtt URL --rate R --seconds S
//       The broker alone at rate R: publish -> subscriber (one hop), and publish -> relay client
//       -> subscriber (two hops: the path of a scan to the bridge and of its answer back).
//   loadgen scans --mqtt URL --ws HOST:PORT --secret-file F --prefix P --owners N --rate R
//                 --seconds S [--publishers K] [--ws-clients W]
//       Scans of tickets P0, P1, ... (ticket i belongs to uid u<i % N>) at rate R over K MQTT
//       connections, W WebSocket owners and one native MQTT owner subscribed to users/+/events.
//       Records publish -> scanner answer, publish -> WebSocket event, publish -> MQTT event.
//   loadgen connections --ws HOST:PORT --secret-file F --count N --first K [--hold S]
//                 [--push-key-file F --http HOST:PORT]
//       N idle WebSocket connections for uids c<K>..; then, with a key, one push per uid through
//       the HTTP API, each of which must arrive.
//
// Latency is measured from each message's intended send time (rate-paced), so that a stall
// counts against every message it delays. Output: one JSON object on stdout; progress on stderr.
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp misses it

#include <mqtt/async_client.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "histogram.hpp"
#include "jwt.hpp"
#include "secrets.hpp"
#include "timeutil.hpp"
#include "topics.hpp"

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::map<std::string, std::string> g_args;

std::string arg(const std::string& name, const std::string& def = "") {
  const auto it = g_args.find(name);
  if (it != g_args.end()) return it->second;
  if (def.empty()) {
    std::cerr << "loadgen: --" << name << " is required\n";
    std::exit(2);
  }
  return def;
}
long num(const std::string& name, const std::string& def = "") {
  return std::stol(arg(name, def));
}

std::int64_t micros_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t).count();
}

json summary(const lg::Histogram& h) {
  const auto ms = [](std::int64_t us) { return static_cast<double>(us) / 1000.0; };
  return {{"count", h.count()},
          {"p50_ms", ms(h.quantile(0.5))},
          {"p90_ms", ms(h.quantile(0.9))},
          {"p99_ms", ms(h.quantile(0.99))},
          {"p999_ms", ms(h.quantile(0.999))},
          {"max_ms", ms(h.max())}};
}

// Receives and counts: latency of message i is measured against start + i / rate.
struct Tally {
  std::mutex mu;
  lg::Histogram hist;
  std::vector<std::uint8_t> seen;
  std::uint64_t duplicates = 0;
  Clock::time_point start;
  double rate = 1;

  explicit Tally(std::size_t n) : seen(n, 0) {}
  void got(std::size_t i) {
    const auto intended =
        start + std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 * i / rate));
    std::lock_guard lock(mu);
    if (i >= seen.size()) return;
    if (seen[i]++ != 0) {
      ++duplicates;
      return;
    }
    hist.record(micros_since(intended));
  }
  std::size_t received() {
    std::lock_guard lock(mu);
    std::size_t n = 0;
    for (auto s : seen) n += s != 0;
    return n;
  }
  json report() {
    std::lock_guard lock(mu);
    std::size_t n = 0;
    for (auto s : seen) n += s != 0;
    json j = summary(hist);
    j["lost"] = seen.size() - n;
    j["duplicates"] = duplicates;
    return j;
  }
};

std::unique_ptr<mqtt::async_client> mqtt_client(const std::string& url, const std::string& id) {
  // A deep queue: at high rates Paho otherwise refuses publishes ("No more messages can be
  // buffered") before the broker has acknowledged the earlier ones.
  auto create = mqtt::create_options_builder()
                    .mqtt_version(MQTTVERSION_5)
                    .send_while_disconnected(true, false)
                    .max_buffered_messages(1000000)
                    .finalize();
  return std::make_unique<mqtt::async_client>(url, id, create);
}

mqtt::token_ptr mqtt_connect(mqtt::async_client& c) {
  mqtt::connect_options o;
  o.set_mqtt_version(MQTTVERSION_5);
  o.set_clean_session(false);
  o.set_clean_start(true);
  o.set_keep_alive_interval(std::chrono::seconds(60));
  o.set_max_inflight(65535);
  return c.connect(o);
}

// Paces `total` sends at `rate` per second; calls send(i). Prints progress every second.
void paced(std::size_t total, double rate, Clock::time_point start,
           const std::function<void(std::size_t)>& send) {
  auto next_report = start + std::chrono::seconds(1);
  for (std::size_t i = 0; i < total; ++i) {
    const auto at = start + std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 * i / rate));
    std::this_thread::sleep_until(at);
    send(i);
    if (Clock::now() >= next_report) {
      std::cerr << "  sent " << i + 1 << "/" << total << "\r" << std::flush;
      next_report += std::chrono::seconds(1);
    }
  }
  std::cerr << "  sent " << total << "/" << total << "\n";
}

void drain(const std::vector<Tally*>& tallies, std::size_t total, std::chrono::seconds max) {
  const auto deadline = Clock::now() + max;
  while (Clock::now() < deadline) {
    bool done = true;
    for (auto* t : tallies) done = done && t->received() == total;
    if (done) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// ---------------------------------------------------------------------------------------------
// WebSocket owners

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

  void close() {
    for (auto& o : owners) {
      net::post(o->ws.get_executor(), [o] {
        beast::error_code ec;
        beast::get_lowest_layer(o->ws).socket().close(ec);
      });
    }
    work.reset();
    ioc.stop();
    for (auto& t : threads) t.join();
  }
};

// ---------------------------------------------------------------------------------------------

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
  const auto start = Clock::now() + std::chrono::milliseconds(100);
  one.start = two.start = start;
  one.rate = two.rate = rate;
  paced(total, rate, start, [&](std::size_t i) {
    const std::string p = std::to_string(i);
    pub->publish("bench/floor/one", p, 1, false);
    pub->publish("bench/floor/two-in", p, 1, false);
  });
  const auto sent_s = std::chrono::duration<double>(Clock::now() - start).count();
  drain({&one, &two}, total, std::chrono::seconds(15));
  json out = {{"mode", "floor"},         {"rate", rate},
              {"seconds", seconds},      {"achieved_rate", static_cast<double>(total) / sent_s},
              {"one_hop", one.report()}, {"two_hops", two.report()}};
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
  const auto total = static_cast<std::size_t>(rate * static_cast<double>(seconds));
  const std::string secret = tb::load_secret(arg("secret-file"), false, "JWT secret");
  Tally answers(total), ws_events(total), mqtt_events(total);

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

  // A native app subscribed to every owner's events, and the scanners.
  auto native = mqtt_client(url, "lg-native");
  native->set_message_callback([&](mqtt::const_message_ptr m) {
    std::size_t i = 0;
    if (index_of_code(m->get_payload_str(), i)) mqtt_events.got(i);
  });
  std::vector<std::unique_ptr<mqtt::async_client>> pubs;
  std::vector<mqtt::token_ptr> pending{mqtt_connect(*native)};
  for (std::size_t p = 0; p < publishers; ++p) {
    pubs.push_back(mqtt_client(url, "lg-scanner-" + std::to_string(p)));
    pubs.back()->set_message_callback([&](mqtt::const_message_ptr m) {
      const auto props = m->get_properties();
      if (props.contains(mqtt::property::CORRELATION_DATA)) {
        answers.got(std::stoul(mqtt::get<mqtt::binary>(props, mqtt::property::CORRELATION_DATA)));
      }
    });
    pending.push_back(mqtt_connect(*pubs.back()));  // all at once: sequential connects are slow
  }
  for (auto& t : pending) t->wait();
  native->subscribe("users/+/events", 1)->wait();
  for (std::size_t p = 0; p < publishers; ++p) {
    pubs[p]->subscribe(tb::topics::result("lg-" + std::to_string(p)), 1)->wait();
  }

  std::cerr << "scans: " << total << " at " << rate << "/s over " << publishers << " connections\n";
  const auto start = Clock::now() + std::chrono::milliseconds(200);
  for (auto* t : {&answers, &ws_events, &mqtt_events}) {
    t->start = start;
    t->rate = rate;
  }
  const auto run_id = std::to_string(tb::now_ms());
  paced(total, rate, start, [&](std::size_t i) {
    const std::size_t p = i % publishers;
    const std::string scanner = "lg-" + std::to_string(p);
    auto msg = mqtt::make_message(std::string(tb::topics::kScan),
                                  json{{"scan_id", "lg:" + run_id + ":" + std::to_string(i)},
                                       {"code", prefix + std::to_string(i)},
                                       {"scanner", scanner},
                                       {"gate", "bench"}}
                                      .dump(),
                                  1, false);
    msg->set_properties(
        mqtt::properties{{mqtt::property::RESPONSE_TOPIC, tb::topics::result(scanner)},
                         {mqtt::property::CORRELATION_DATA, std::to_string(i)}});
    pubs[p]->publish(msg);
  });
  const auto sent_s = std::chrono::duration<double>(Clock::now() - start).count();
  drain({&answers, &ws_events, &mqtt_events}, total, std::chrono::seconds(20));
  const auto done_s = std::chrono::duration<double>(Clock::now() - start).count();

  json out = {{"mode", "scans"},
              {"rate", rate},
              {"seconds", seconds},
              {"scans", total},
              {"achieved_send_rate", static_cast<double>(total) / sent_s},
              {"answered_per_s", static_cast<double>(answers.received()) / done_s},
              {"ws_clients", fleet.ready.load()},
              {"ws_connect_failed", fleet.failed.load()},
              {"answer", answers.report()},
              {"ws_event", ws_events.report()},
              {"mqtt_event", mqtt_events.report()}};
  std::cout << out.dump() << std::endl;
  native->disconnect()->wait();
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

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help") {
    std::cerr
        << "usage: loadgen floor|scans|connections --option value ... (see the source's header)\n";
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
  } catch (const std::exception& e) {
    std::cerr << "loadgen: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "loadgen: unknown mode " << mode << "\n";
  return 2;
}
