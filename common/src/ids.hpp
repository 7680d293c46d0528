// Identifiers and free text that travel in MQTT topics and payloads: ticket codes, uids,
// scanner ids, gate names. Shared by the bridge, the scanner agent and the broker plugin.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace tb {

inline constexpr std::size_t kMaxIdLength = 128;

// Ticket codes, uids and scanner ids: 1 to 128 characters, none of them '/', '+', '#',
// whitespace or control characters (they become parts of MQTT topic names), valid UTF-8.
bool is_valid_id(std::string_view s);

// Free text such as a gate or holder name: 1..max_chars characters of valid UTF-8, no control
// characters (C0, DEL, C1) and no Unicode noncharacters.
bool is_valid_label(std::string_view s, std::size_t max_chars);

// Number of code points of valid UTF-8, or nothing when `s` is not valid UTF-8.
std::optional<std::size_t> utf8_length(std::string_view s);

// Valid UTF-8 without the code points MQTT forbids in its strings and Mosquitto refuses in a topic
// (a client that publishes one is disconnected): U+0000-U+001F, U+007F-U+009F, U+FDD0-U+FDEF and
// U+xFFFE/U+xFFFF.
bool is_mqtt_text(std::string_view s);

}  // namespace tb
