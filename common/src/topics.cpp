// Topic names and the Response Topic rule.
#include "topics.hpp"

#include <algorithm>

#include "ids.hpp"

namespace tb::topics {

namespace {

std::string join(std::string_view a, std::string_view b, std::string_view c = {}) {
  std::string out;
  out.reserve(a.size() + b.size() + c.size());
  out.append(a).append(b).append(c);
  return out;
}

// `topic` is `prefix` or lies below it (prefix/...).
bool at_or_below(std::string_view topic, std::string_view prefix) {
  return topic.substr(0, prefix.size()) == prefix &&
         (topic.size() == prefix.size() || topic[prefix.size()] == '/');
}

}  // namespace

std::string result(std::string_view scanner) {
  return join(kResultPrefix, scanner);
}
std::string result_text(std::string_view scanner) {
  return join(kResultPrefix, scanner, "/text");
}
std::string result_light(std::string_view scanner) {
  return join(kResultPrefix, scanner, "/light");
}
std::string device_scan(std::string_view scanner) {
  return join(kScan, "/", scanner);
}
std::string user_events(std::string_view uid) {
  return join("users/", uid, "/events");
}
std::string bridge_status(std::string_view instance) {
  return join("bridge/", instance, "/status");
}
std::string scanner_status(std::string_view scanner) {
  return join("scanners/", scanner, "/status");
}

namespace {
// `topic` is <prefix><one non-empty level><suffix>: that level.
std::optional<std::string_view> level_between(std::string_view topic, std::string_view prefix,
                                              std::string_view suffix) {
  if (topic.size() <= prefix.size() + suffix.size() || topic.substr(0, prefix.size()) != prefix ||
      topic.substr(topic.size() - suffix.size()) != suffix) {
    return std::nullopt;
  }
  const auto level = topic.substr(prefix.size(), topic.size() - prefix.size() - suffix.size());
  if (level.find('/') != std::string_view::npos) return std::nullopt;
  return level;
}
}  // namespace

std::optional<std::string_view> device_scan_scanner(std::string_view topic) {
  return level_between(topic, "tickets/scan/", "");
}

std::optional<std::string_view> status_scanner(std::string_view topic) {
  return level_between(topic, "scanners/", "/status");
}

std::optional<std::string_view> events_uid(std::string_view topic) {
  return level_between(topic, "users/", "/events");
}

std::string sync_snapshot(std::size_t chunk) {
  return join(kSyncSnapshotPrefix, std::to_string(chunk));
}

std::optional<std::size_t> sync_snapshot_chunk(std::string_view topic) {
  const auto level = level_between(topic, kSyncSnapshotPrefix, "");
  // Canonical decimal, as sync_snapshot() writes it: "0", "17"; not "01", "+1" or "1e2".
  if (!level || level->size() > 4 || ((*level)[0] == '0' && level->size() > 1) ||
      !std::all_of(level->begin(), level->end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return static_cast<std::size_t>(std::stoul(std::string(*level)));
}

bool is_scanners_own(std::string_view topic, std::string_view scanner) {
  return !scanner.empty() && topic.substr(0, kResultPrefix.size()) == kResultPrefix &&
         at_or_below(topic.substr(kResultPrefix.size()), scanner);
}

bool is_valid_topic_name(std::string_view topic) {
  if (topic.empty() || topic.size() > kMaxTopicBytes || topic.front() == '$') return false;
  if (topic.find_first_of("+#") != std::string_view::npos) return false;
  if (static_cast<std::size_t>(std::count(topic.begin(), topic.end(), '/')) > kMaxTopicSlashes) {
    return false;
  }
  return is_mqtt_text(topic);
}

std::optional<std::string_view> response_topic_refusal(std::string_view topic,
                                                       const std::optional<std::string>& scanner) {
  if (!is_valid_topic_name(topic)) {
    return "not a valid topic name (a wildcard, $, a control character, bad UTF-8, over 1,024 "
           "bytes or over 200 levels)";
  }
  if (at_or_below(topic, "tickets/result")) {
    if (scanner && is_scanners_own(topic, *scanner)) return std::nullopt;
    return "another scanner's answer topic";
  }
  for (const std::string_view ns :
       {"users", "bridge", "scanners", "tickets/scan", "tickets/sync"}) {
    if (at_or_below(topic, ns)) return "inside the bridge's own namespaces";
  }
  return std::nullopt;
}

}  // namespace tb::topics
