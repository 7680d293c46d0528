// One connection to the broker to see that it answers and takes the credentials, leaving nothing
// behind: a clean session that expires at once, no Will, no status, no subscription.
#pragma once

#include <optional>
#include <string>

#include "mqtt_session.hpp"

namespace tb {

// Connects with `options` (uri, client id, credentials, TLS; the rest is ignored) and disconnects.
// Nothing when it worked; else why not, in the words of MqttSession::connect_once.
std::optional<std::string> probe_broker(const MqttSessionOptions& options);

}  // namespace tb
