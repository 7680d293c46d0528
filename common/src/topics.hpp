// The MQTT topics of ticket-bridge (SPEC.md), in one place, and the checks that keep untrusted
// topic names (a scan's Response Topic) out of the bridge's own namespaces. Shared by the bridge
// and the broker plugin.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tb::topics {

inline constexpr std::string_view kScan = "tickets/scan";             // scanners -> bridge
inline constexpr std::string_view kResultPrefix = "tickets/result/";  // + <scanner>
// Embedded scanners (SPEC.md v1.1): the code as plain text on tickets/scan/<scanner>, and two
// answers a small device can show, tickets/result/<scanner>/text and .../light.
inline constexpr std::string_view kDeviceScanFilter = "tickets/scan/+";
inline constexpr std::string_view kScannerStatusFilter = "scanners/+/status";
// The gates' feed (gate_sync.hpp): bridge -> scanners.
inline constexpr std::string_view kSyncUpdates = "tickets/sync/updates";
inline constexpr std::string_view kSyncSnapshotPrefix = "tickets/sync/snapshot/";  // + <chunk>
inline constexpr std::string_view kSyncSnapshotFilter = "tickets/sync/snapshot/+";

std::string result(std::string_view scanner);          // tickets/result/<scanner>
std::string result_text(std::string_view scanner);     // tickets/result/<scanner>/text
std::string result_light(std::string_view scanner);    // tickets/result/<scanner>/light
std::string device_scan(std::string_view scanner);     // tickets/scan/<scanner>
std::string user_events(std::string_view uid);         // users/<uid>/events
std::string bridge_status(std::string_view instance);  // bridge/<instance>/status
std::string scanner_status(std::string_view scanner);  // scanners/<scanner>/status
std::string sync_snapshot(std::size_t chunk);          // tickets/sync/snapshot/<chunk>

// The <scanner> level of tickets/scan/<scanner>, or of scanners/<scanner>/status; nothing for any
// other topic (tickets/scan itself included). The level is not checked to be a valid id.
std::optional<std::string_view> device_scan_scanner(std::string_view topic);
std::optional<std::string_view> status_scanner(std::string_view topic);
// The <uid> level of users/<uid>/events; nothing for any other topic.
std::optional<std::string_view> events_uid(std::string_view topic);

// The <chunk> of tickets/sync/snapshot/<chunk> (canonical decimal, below 10,000); nothing for
// any other topic.
std::optional<std::size_t> sync_snapshot_chunk(std::string_view topic);

// True for tickets/result/<scanner> and tickets/result/<scanner>/... (a topic or a filter).
bool is_scanners_own(std::string_view topic, std::string_view scanner);

// A topic NAME a client may publish to without being disconnected: 1 to 1,024 bytes of MQTT text
// (is_mqtt_text: valid UTF-8, no control characters or noncharacters), no `+` or `#`, not
// starting with `$`, at most 200 `/` (Mosquitto's TOPIC_HIERARCHY_LIMIT). Mosquitto 2.0 refuses
// a PUBLISH to anything else with a protocol error, and Paho would send it again at every
// reconnect.
inline constexpr std::size_t kMaxTopicBytes = 1024;
inline constexpr std::size_t kMaxTopicSlashes = 200;
bool is_valid_topic_name(std::string_view topic);

// Why a scan's Response Topic must not be used (SPEC.md v1.1), or nothing when it may: it must be
// a valid topic name outside the bridge's own namespaces (users/..., bridge/..., scanners/...,
// tickets/scan, tickets/sync and below, tickets/result and below) unless it is the scanning
// scanner's own tickets/result/<scanner>[/...]. `scanner` is the scanner the scan names, when
// known.
std::optional<std::string_view> response_topic_refusal(std::string_view topic,
                                                       const std::optional<std::string>& scanner);

}  // namespace tb::topics
