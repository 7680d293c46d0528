// One probing connection to the broker (mqtt_probe.hpp).
#include "mqtt_probe.hpp"

#include <mqtt/async_client.h>

#include "paho_timing.hpp"
#include "paho_tls.hpp"
#include "tls_check.hpp"

namespace tb {

std::optional<std::string> probe_broker(const MqttSessionOptions& options) {
  std::optional<std::string> why;
  try {
    const auto create = mqtt::create_options_builder().mqtt_version(MQTTVERSION_5).finalize();
    mqtt::async_client client(options.uri, options.client_id, create);
    // Set field by field, never copied (Paho 1.2's connect_options keeps pointers into itself).
    mqtt::connect_options opts;
    opts.set_mqtt_version(MQTTVERSION_5);
    opts.set_clean_session(false);  // MQTT 3 field; must be off for v5
    opts.set_clean_start(true);     // no session is taken over
    opts.set_connect_timeout(kPahoConnectTimeout);
    if (options.username) opts.set_user_name(*options.username);
    if (options.password) opts.set_password(*options.password);
    if (is_tls_url(options.uri)) opts.set_ssl(make_ssl_options(options.tls));
    auto tok = client.connect(opts);
    // Waited out fully: destroying a client with a connect in flight crashes inside Paho.
    if (!tok->wait_for(kPahoConnectWait) && !tok->wait_for(kPahoConnectWait)) {
      why = "no answer from the broker";
    } else {
      client.disconnect()->wait_for(kPahoConnectWait);
    }
  } catch (const mqtt::exception& e) {
    why = e.what();
  }
  if (!why) return std::nullopt;
  return connect_failure(options.uri, options.tls, *why);
}

}  // namespace tb
