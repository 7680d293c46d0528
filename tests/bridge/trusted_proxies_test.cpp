// --trusted-proxy: which peers may name the client, and which client they name. The hostile
// cases first: a client that writes X-Forwarded-For itself, directly or through the proxy.
#include "trusted_proxies.hpp"

#include <gtest/gtest.h>

namespace tb {
namespace {

TrustedProxies parse(const char* list) {
  std::string why;
  auto p = TrustedProxies::parse(list, &why);
  EXPECT_TRUE(p) << list << ": " << why;
  return p ? *p : TrustedProxies();
}

TEST(TrustedProxies, AHeaderFromAPeerThatIsNotTrustedIsIgnored) {
  const auto proxies = parse("127.0.0.1");
  EXPECT_EQ(proxies.client_of("127.0.0.2", "203.0.113.7"), "127.0.0.2");
  EXPECT_EQ(parse("").client_of("127.0.0.1", "203.0.113.7"), "127.0.0.1") << "none trusted";
}

TEST(TrustedProxies, TheClientIsTheFirstUntrustedAddressFromTheRight) {
  const auto proxies = parse("127.0.0.1, 10.0.0.0/8");
  EXPECT_EQ(proxies.client_of("127.0.0.1", "198.51.100.4"), "198.51.100.4");
  // The client wrote its own header; nginx appended what it saw: the left part is not believed.
  EXPECT_EQ(proxies.client_of("127.0.0.1", "127.0.0.9, 198.51.100.4"), "198.51.100.4");
  EXPECT_EQ(proxies.client_of("127.0.0.1", "1.2.3.4,198.51.100.4, 10.1.2.3"), "198.51.100.4")
      << "a chain of trusted hops is walked";
}

TEST(TrustedProxies, WithoutAUsableHeaderTheLastTrustedHopIsTheClient) {
  const auto proxies = parse("127.0.0.1,10.0.0.0/8");
  EXPECT_EQ(proxies.client_of("127.0.0.1", ""), "127.0.0.1");
  EXPECT_EQ(proxies.client_of("127.0.0.1", " , "), "127.0.0.1");
  EXPECT_EQ(proxies.client_of("127.0.0.1", "10.9.9.9"), "10.9.9.9") << "all trusted";
  EXPECT_EQ(proxies.client_of("127.0.0.1", "198.51.100.4, unknown, 10.0.0.5"), "10.0.0.5")
      << "garbage ends the walk: what lies left of it is the client's say";
  EXPECT_EQ(proxies.client_of("127.0.0.1", "198.51.100.4, 300.1.1.1"), "127.0.0.1");
}

TEST(TrustedProxies, IPv6AndTheFormsProxiesWrite) {
  const auto proxies = parse("::1, fd00::/8");
  EXPECT_EQ(proxies.client_of("::1", "2001:db8::7"), "2001:db8::7");
  EXPECT_EQ(proxies.client_of("::1", "[2001:db8::7]:4711"), "2001:db8::7");
  EXPECT_EQ(proxies.client_of("::1", "198.51.100.4:4711"), "198.51.100.4");
  EXPECT_EQ(proxies.client_of("::1", "2001:db8::7, fd12::1"), "2001:db8::7");
  EXPECT_EQ(proxies.client_of("fe80::1", "2001:db8::7"), "fe80::1") << "fe80:: is not fd00::/8";
  // An IPv4 network matches IPv4-mapped peers (a listener on "::"), and answers as IPv4.
  const auto v4 = parse("127.0.0.0/8");
  EXPECT_EQ(v4.client_of("::ffff:127.0.0.1", "198.51.100.4"), "198.51.100.4");
  EXPECT_EQ(v4.client_of("::ffff:192.0.2.1", "198.51.100.4"), "192.0.2.1");
  // A mapped entry is the same client as its IPv4 form: one per-source count, not two.
  EXPECT_EQ(v4.client_of("127.0.0.1", "::ffff:198.51.100.4"), "198.51.100.4");
  // An IPv6 network holds IPv6 peers only: ::/0 does not trust every IPv4 address.
  EXPECT_FALSE(parse("::/0").trusts("203.0.113.1"));
  EXPECT_FALSE(parse("::/0").trusts("::ffff:203.0.113.1"));
  EXPECT_TRUE(parse("::/0").trusts("2001:db8::1"));
}

TEST(TrustedProxies, AnOverlongOrBrokenEntryIsGarbage) {
  const auto proxies = parse("127.0.0.1");
  const std::string long_entry(200, '1');
  EXPECT_EQ(proxies.client_of("127.0.0.1", "198.51.100.4, " + long_entry), "127.0.0.1");
  EXPECT_EQ(proxies.client_of("127.0.0.1", "198.51.100.4, [2001:db8::1"), "127.0.0.1");
  EXPECT_EQ(proxies.client_of("127.0.0.1", "198.51.100.4, [2001:db8::1]x"), "127.0.0.1");
  EXPECT_EQ(proxies.client_of("127.0.0.1", std::string(100'000, ',')), "127.0.0.1");
}

TEST(TrustedProxies, PrefixesMatchByTheBit) {
  const auto proxies = parse("192.0.2.128/25, 2001:db8:8000::/33");
  EXPECT_TRUE(proxies.trusts("192.0.2.200"));
  EXPECT_FALSE(proxies.trusts("192.0.2.127"));
  EXPECT_TRUE(proxies.trusts("2001:db8:ffff::1"));
  EXPECT_FALSE(proxies.trusts("2001:db8:7fff::1"));
  EXPECT_TRUE(parse("0.0.0.0/0").trusts("203.0.113.1"));
  EXPECT_FALSE(parse("0.0.0.0/0").trusts("2001:db8::1")) << "an IPv4 network holds IPv4 only";
  EXPECT_FALSE(proxies.trusts("not an address"));
}

TEST(TrustedProxies, ABadEntryIsNamed) {
  for (const char* bad : {"localhost", "10.0.0.0/33", "::1/129", "10.0.0.0/", "10.0.0.0/8x",
                          "10.0.0.0/-0", "1.2.3", "[::1]", "127.0.0.1:80"}) {
    std::string why;
    EXPECT_FALSE(TrustedProxies::parse(bad, &why)) << bad;
    EXPECT_NE(why.find(bad), std::string::npos) << why;
  }
  std::string why;
  EXPECT_TRUE(TrustedProxies::parse(" 127.0.0.1 ,, ::1 ", &why)) << why;
}

}  // namespace
}  // namespace tb
