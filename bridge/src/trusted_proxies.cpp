// The trusted proxies and the client behind them (trusted_proxies.hpp).
#include "trusted_proxies.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace tb {

namespace {

using Bytes = std::array<std::uint8_t, 16>;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The address in an X-Forwarded-For entry as a proxy may write it: bare, "[v6]", "[v6]:port" or
// "v4:port". Empty when the brackets are broken.
std::string_view without_port(std::string_view text) {
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return {};
    const auto rest = text.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return {};
    return text.substr(1, close - 1);
  }
  const auto colon = text.find(':');
  if (colon != std::string_view::npos && colon == text.rfind(':')) {
    return text.substr(0, colon);  // "v4:port": IPv6 has two colons at least
  }
  return text;
}

// A bare address; IPv4 becomes IPv4-mapped IPv6, so that one comparison covers both.
std::optional<Bytes> parse_address(std::string_view text) {
  text = trim(text);
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  Bytes out{};
  in_addr v4{};
  if (::inet_pton(AF_INET, buf, &v4) == 1) {
    out[10] = out[11] = 0xff;
    std::memcpy(out.data() + 12, &v4, 4);
    return out;
  }
  if (::inet_pton(AF_INET6, buf, out.data()) == 1) return out;
  return std::nullopt;
}

bool is_v4_mapped(const Bytes& b) {
  for (int i = 0; i < 10; ++i) {
    if (b[i] != 0) return false;
  }
  return b[10] == 0xff && b[11] == 0xff;
}

std::string to_text(const Bytes& b) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (is_v4_mapped(b)) {
    ::inet_ntop(AF_INET, b.data() + 12, buf, sizeof buf);
  } else {
    ::inet_ntop(AF_INET6, b.data(), buf, sizeof buf);
  }
  return buf;
}

}  // namespace

std::optional<TrustedProxies> TrustedProxies::parse(std::string_view list, std::string* error) {
  TrustedProxies out;
  while (!list.empty()) {
    const auto comma = list.find(',');
    const auto entry = trim(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (entry.empty()) continue;
    const auto slash = entry.find('/');
    const auto address = parse_address(entry.substr(0, slash));
    Net net;
    bool ok = address.has_value();
    if (ok) {
      net.bytes = *address;
      net.v4 = is_v4_mapped(net.bytes);
      if (slash != std::string_view::npos) {
        const auto digits = entry.substr(slash + 1);
        int bits = -1;
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
        ok = !digits.empty() && digits.front() != '-' && ec == std::errc() &&
             end == digits.data() + digits.size() && bits <= (net.v4 ? 32 : 128);
        net.prefix = net.v4 ? 96 + bits : bits;
      }
    }
    if (!ok) {
      if (error) {
        // Appended piece by piece: GCC 12 at -O2 reports a false -Wrestrict for "'" + string.
        error->assign(1, '\'');
        error->append(entry);
        error->append("' is not an address or a network (such as 10.0.0.0/8 or fd00::/8)");
      }
      return std::nullopt;
    }
    out.nets_.push_back(net);
  }
  return out;
}

bool TrustedProxies::contains(const Bytes& address) const {
  const bool v4 = is_v4_mapped(address);
  for (const auto& net : nets_) {
    if (net.v4 != v4) continue;  // ::/0 is not every IPv4 address
    const int whole = net.prefix / 8;
    const int bits = net.prefix % 8;
    if (std::memcmp(address.data(), net.bytes.data(), static_cast<std::size_t>(whole)) != 0) {
      continue;
    }
    if (bits == 0) return true;
    const auto mask = static_cast<std::uint8_t>(0xff << (8 - bits));
    if ((address[whole] & mask) == (net.bytes[whole] & mask)) return true;
  }
  return false;
}

bool TrustedProxies::trusts(std::string_view address) const {
  const auto bytes = parse_address(address);
  return bytes && contains(*bytes);
}

std::string TrustedProxies::client_of(std::string_view peer, std::string_view forwarded_for) const {
  const auto from = parse_address(peer);
  if (!from) return std::string(peer);
  Bytes client = *from;
  if (!contains(client)) return to_text(client);
  // From the right: each trusted hop wrote what it saw.
  while (!forwarded_for.empty()) {
    const auto comma = forwarded_for.rfind(',');
    const auto entry =
        comma == std::string_view::npos ? forwarded_for : forwarded_for.substr(comma + 1);
    forwarded_for =
        comma == std::string_view::npos ? std::string_view() : forwarded_for.substr(0, comma);
    if (trim(entry).empty()) continue;
    const auto hop = parse_address(without_port(trim(entry)));
    if (!hop) break;  // garbage: the last trusted hop is all that is known
    client = *hop;
    if (!contains(client)) break;
  }
  return to_text(client);
}

}  // namespace tb
