// Why a TLS connection to the broker fails, told in words an operator can act on. Paho reports
// only "TCP/TLS connect failure" (its OpenSSL error callback cannot be used safely with Paho C++
// 1.2: the options are copied and the callback's context left dangling), so after a failed
// connect the bridge repeats the handshake itself with OpenSSL and checks what Paho checks.
#pragma once

#include <string>

#include "tls_settings.hpp"

namespace tb {

// Connects to the broker of `uri` (ssl://, mqtts://; bounded to a few seconds) and returns what is
// wrong: the host cannot be reached, the CA file cannot be read, the handshake fails, the
// certificate does not verify against the CA, or (with check_hostname) it does not name the
// host. Empty when TLS itself looks fine.
std::string diagnose_tls(const std::string& uri, const TlsSettings& tls);

// "cannot connect to the broker at URI: WHY", and for a TLS URL what diagnose_tls finds.
std::string connect_failure(const std::string& uri, const TlsSettings& tls, const std::string& why);

}  // namespace tb
