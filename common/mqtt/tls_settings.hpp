// TLS settings for a connection to the broker, the same for the bridge and the scanner agent:
// the broker's certificate is verified against a CA file (or the system's CAs) and, unless turned
// off, must name the host of the URL. Free of Paho; paho_tls.hpp applies them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tb {

struct TlsSettings {
  std::optional<std::string> cafile, certfile, keyfile;
  bool check_hostname = true;
};

// True for ssl://, mqtts:// and wss:// URLs.
inline bool is_tls_url(std::string_view uri) {
  for (const std::string_view scheme : {"ssl://", "mqtts://", "wss://"}) {
    if (uri.substr(0, scheme.size()) == scheme) return true;
  }
  return false;
}

// What to check after a failed TLS connect, when nothing more precise is known.
inline std::string tls_failure_hint(const TlsSettings& tls) {
  std::string out = "; check that the CA file holds the CA that signed the broker's certificate";
  if (tls.check_hostname) out += ", that the certificate names the host name of the URL";
  return out + " and the credentials";
}

}  // namespace tb
