// QR codes as SVG (libqrencode), for the ticket page. No external service is involved.
#pragma once

#include <string>
#include <string_view>

namespace tb {

// An SVG image of `text` as a QR code (error correction M, quiet zone of 4 modules).
std::string qr_svg(std::string_view text);

}  // namespace tb
