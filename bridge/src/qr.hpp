// QR codes as SVG (libqrencode), for the ticket page. No external service is involved.
#pragma once

#include <string>
#include <string_view>

namespace tb {

// An SVG image of `text` as a QR code (error correction M, quiet zone of 4 modules).
std::string qr_svg(std::string_view text);

// The QR version (1-40: the size, 17 + 4 x version modules a side) that qr_svg draws `text` in.
int qr_version(std::string_view text);

}  // namespace tb
