// QR code to SVG: one path of 1x1 squares in module coordinates.
#include "qr.hpp"

#include <qrencode.h>

#include <memory>
#include <stdexcept>

namespace tb {

namespace {

using Qr = std::unique_ptr<QRcode, decltype(&QRcode_free)>;

Qr encode(std::string_view text) {
  const std::string data(text);
  Qr qr(
      // Segments in the densest mode each allows: a signed code (upper-case base32 and '.') and a
      // random code go in alphanumeric mode, 5.5 bits per character against byte mode's 8.
      QRcode_encodeString(data.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1), &QRcode_free);
  if (!qr) throw std::runtime_error("cannot encode a QR code");
  return qr;
}

}  // namespace

int qr_version(std::string_view text) {
  return encode(text)->version;
}

std::string qr_svg(std::string_view text) {
  const auto qr = encode(text);
  const int w = qr->width;
  const int quiet = 4;
  const int size = w + 2 * quiet;
  std::string path;
  path.reserve(static_cast<std::size_t>(w * w) * 4);
  for (int y = 0; y < w; ++y) {
    for (int x = 0; x < w; ++x) {
      if ((qr->data[y * w + x] & 1) != 0) {
        // Appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict for
        // "literal" + std::string chains here (a known GCC 12 false positive).
        path += 'M';
        path += std::to_string(x + quiet);
        path += ' ';
        path += std::to_string(y + quiet);
        path += "h1v1h-1z";
      }
    }
  }
  const std::string dim = std::to_string(size);
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + dim + " " + dim +
         "\" shape-rendering=\"crispEdges\"><rect width=\"" + dim + "\" height=\"" + dim +
         "\" fill=\"#fff\"/><path fill=\"#000\" d=\"" + path + "\"/></svg>";
}

}  // namespace tb
