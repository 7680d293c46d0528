// The bridge's MQTT adapter: scans in, answers and events out, over an MqttSession.
#include "mqtt_link.hpp"

#include <spdlog/spdlog.h>

#include "ids.hpp"
#include "scan.hpp"
#include "topics.hpp"

namespace tb {

namespace {

MqttSessionOptions session_options(const MqttOptions& o) {
  MqttSessionOptions s;
  s.uri = o.uri;
  s.client_id = "ticket-bridge-" + o.instance;
  s.username = o.username;
  s.password = o.password;
  s.tls = o.tls;
  s.keepalive = o.keepalive;
  s.session_expiry_s = o.session_expiry_s;
  s.status_topic = topics::bridge_status(o.instance);
  // Retained scans are never decided: the broker sends none at subscribe, and flags a live
  // retained publish as retained so that on_message can ignore it. The scanners' retained
  // statuses are wanted: they say who is online now. A QoS 0 scan stays QoS 0 (the broker
  // delivers at the lower of the two); queue_qos0_messages keeps it for us while we are away.
  for (auto& filter : MqttLink::scan_filters(o)) {
    s.subscriptions.push_back(MqttSubscription{std::move(filter), 1, true});
  }
  s.subscriptions.push_back(MqttSubscription{std::string(topics::kScannerStatusFilter), 1, false});
  s.max_buffered = o.max_buffered;
  s.buffer_while_disconnected = true;  // answers decided while away go out at the reconnect
  return s;
}

}  // namespace

// More distinct scanners than this are not tracked for presence: on the development broker any
// client may publish any scanner's status.
constexpr std::size_t kMaxTrackedScanners = 100'000;

std::vector<std::string> MqttLink::scan_filters(const MqttOptions& o) {
  // Appended, not "literal" + std::string: GCC 12 at -O3 reports a false -Wrestrict for that.
  std::string share;
  if (o.shared_group) {
    share = "$share/";
    share += *o.shared_group;
    share += '/';
  }
  return {share + std::string(topics::kScan), share + std::string(topics::kDeviceScanFilter)};
}

MqttLink::MqttLink(const MqttOptions& options, Metrics& metrics, Health& health)
    : metrics_(metrics),
      health_(health),
      session_(session_options(options),
               MqttSession::Handlers{[this](MqttInbound m) { on_message(std::move(m)); },
                                     [this] {
                                       health_.set_mqtt(true);
                                       if (on_connected_) on_connected_();
                                     },
                                     [this] { health_.set_mqtt(false); }},
               &metrics.mqtt) {}

std::optional<std::string> MqttLink::start(ScanHandler on_scan,
                                           std::function<void()> on_connected) {
  on_scan_ = std::move(on_scan);  // before the connect: a kept session delivers at once
  on_connected_ = std::move(on_connected);
  if (auto err = session_.connect_once()) return err;
  session_.keep_connected();
  return std::nullopt;
}

// Paho's thread: hand the scan over, nothing more.
void MqttLink::on_message(MqttInbound msg) {
  if (!on_scan_) return;  // not started: nothing is subscribed yet
  if (const auto scanner = topics::status_scanner(msg.topic)) {
    on_presence(*scanner, msg.payload);
    return;
  }
  std::optional<std::string> device;
  if (const auto scanner = topics::device_scan_scanner(msg.topic)) {
    device = std::string(*scanner);
  } else if (msg.topic != topics::kScan) {
    return;  // nothing else is subscribed
  }
  if (msg.retained) {
    // A retained scan would be delivered, and decided, again at every subscribe.
    metrics_.scans_retained_ignored.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn(
        "a scan with the retain flag set was ignored (SPEC.md: retained scans are never decided)");
    return;
  }
  on_scan_(InboundScan{std::move(msg.payload), std::move(msg.response_topic),
                       std::move(msg.correlation), std::chrono::steady_clock::now(),
                       std::move(device)});
}

void MqttLink::on_presence(std::string_view scanner, std::string_view payload) {
  const auto online = parse_presence(payload);
  if (!online || !is_valid_id(scanner)) return;
  if (presence_hook_) presence_hook_(scanner, *online);
  std::lock_guard lock(presence_mu_);
  const auto it = online_.find(scanner);
  if (*online == (it != online_.end())) return;  // no change
  if (*online) {
    if (online_.size() >= kMaxTrackedScanners) return;
    online_.emplace(scanner);
  } else {
    online_.erase(it);
  }
  metrics_.scanners_online.store(static_cast<std::int64_t>(online_.size()),
                                 std::memory_order_relaxed);
  spdlog::info("scanner {} is {}", scanner, *online ? "online" : "offline");
}

void MqttLink::publish_answer(const Answer& a, std::vector<MqttOutbound>* batch) {
  emit(
      MqttOutbound{
          a.topic, a.payload, false, std::nullopt, a.correlation, a.fallback_topic, {}, false},
      batch);
  if (!a.device) return;
  // Next to the JSON result, on the scanner's own topics (never its Response Topic).
  for (const auto& [topic, payload] : {std::pair{&a.device->text_topic, &a.device->text},
                                       std::pair{&a.device->light_topic, &a.device->light}}) {
    emit(MqttOutbound{*topic, *payload, false, {}, {}, {}, {}, false}, batch);
  }
}

void MqttLink::publish_event(const StoredEvent& e, Outbox* outbox,
                             std::vector<MqttOutbound>* batch) {
  MqttOutbound m{topics::user_events(e.uid), e.body, false, {}, {}, {}, {}, false};
  if (outbox != nullptr) {
    m.on_done = [outbox, uid = e.uid, seq = e.seq](Delivery d) {
      // A refusal is final: settled, or every connect would send it again. One not sent stays
      // unsettled: it goes out at the next connect.
      if (d != Delivery::NotSent) outbox->settled(uid, seq);
    };
  }
  m.drop_if_disconnected = true;
  emit(std::move(m), batch);
}

}  // namespace tb
