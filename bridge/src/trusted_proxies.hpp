// Which peers may tell the bridge who the client is (--trusted-proxy), and who the client then
// is. Behind nginx every connection comes from nginx; nginx names the real client in
// X-Forwarded-For, and anyone else can write that header too. So the header counts only on a
// connection from a trusted address, and it is read from the right: each trusted hop appended the
// address it saw, and the first address from the right that is not trusted is the client.
// Whatever the client itself put further left is never believed.
//
// Free of Beast and Asio (addresses are parsed with inet_pton), so that the listener and the unit
// tests share it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tb {

class TrustedProxies {
 public:
  // A comma-separated list of addresses and networks ("127.0.0.1, ::1, 10.0.0.0/8"); the empty
  // string trusts no one. nullopt and a reason when an entry is not an address or a network.
  static std::optional<TrustedProxies> parse(std::string_view list, std::string* error);

  bool empty() const { return nets_.empty(); }
  bool trusts(std::string_view address) const;

  // The client behind a connection from `peer` (an address, as the socket gives it) that sent
  // `forwarded_for` (the X-Forwarded-For values, comma-joined; empty when absent). The peer
  // itself unless it is trusted; an entry that is not an address ends the walk at the last
  // trusted hop. IPv4-mapped IPv6 addresses come back as IPv4.
  std::string client_of(std::string_view peer, std::string_view forwarded_for) const;

 private:
  struct Net {
    std::array<std::uint8_t, 16> bytes{};  // IPv4 as IPv4-mapped IPv6
    int prefix = 128;                      // in bits of the 16 bytes
    bool v4 = false;  // an IPv4 network holds IPv4 peers only, an IPv6 one IPv6 peers only
  };
  bool contains(const std::array<std::uint8_t, 16>& address) const;

  std::vector<Net> nets_;
};

}  // namespace tb
