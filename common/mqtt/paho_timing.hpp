// Paho's connect timing, shared by the bridge and the scanner agent.
#pragma once

#include <chrono>

namespace tb {

// Paho's own limit for one connect attempt.
inline constexpr std::chrono::seconds kPahoConnectTimeout{5};
// How long to wait for an attempt to end. Paho checks its timeouts only every 3 s, so an attempt
// can take up to about 8 s to fail. Destroying a client (or connecting again) while its connect is
// still in flight crashes inside Paho, so callers wait this long for the attempt to end.
inline constexpr auto kPahoConnectWait = kPahoConnectTimeout + std::chrono::seconds(5);

}  // namespace tb
