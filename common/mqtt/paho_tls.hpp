// TLS settings (tls_settings.hpp) applied to Paho's ssl_options.
#pragma once

#include <mqtt/ssl_options.h>

#include <string>

#include "tls_settings.hpp"

namespace tb {

// Paho's ssl_options for these settings. No OpenSSL error callback: Paho C++ 1.2 copies the
// connect options (connect() takes them by value) and leaves the callback's context pointing at a
// copy that is gone (ASan showed a use after scope). tls_check.hpp tells why a handshake failed.
inline mqtt::ssl_options make_ssl_options(const TlsSettings& tls) {
  mqtt::ssl_options ssl;
  if (tls.cafile) ssl.set_trust_store(*tls.cafile);  // else the system's CAs
  if (tls.certfile) ssl.set_key_store(*tls.certfile);
  if (tls.keyfile) ssl.set_private_key(*tls.keyfile);
  ssl.set_enable_server_cert_auth(true);
  ssl.set_verify(tls.check_hostname);  // Paho's post-connect check of the host name
  return ssl;
}

}  // namespace tb
