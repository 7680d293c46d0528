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
//
// Latency is measured from each message's intended send time (rate-paced), so that a stall
// counts against every message it delays. Output: one JSON object on stdout; progress on stderr.
#include <chrono>
#include <iostream>
#include <thread>

#include "jwt.hpp"
#include "lg_common.hpp"
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
                                       {"gate", "bench"}}
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
