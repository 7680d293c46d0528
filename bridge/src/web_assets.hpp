// The files of bridge/web/, compiled into the bridge (see web/assets.cpp.in).
#pragma once

#include <string_view>

namespace tb {

extern const std::string_view kTicketBridgeJs;    // GET /ticket-bridge.js
extern const std::string_view kTicketPageHtml;    // GET /ticket
extern const std::string_view kOperatorPageHtml;  // GET /operator
extern const std::string_view kQrcodeJs;          // GET /qrcode.js (node-qrcode-generator)

}  // namespace tb
