#include "api/cidr.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hookvault::api {
namespace {

IpAddress Ip(std::string_view text) {
  auto ip = IpAddress::Parse(text);
  EXPECT_TRUE(ip.has_value()) << text;
  return ip.value_or(IpAddress{});
}

Cidr Block(std::string_view text) {
  auto c = Cidr::Parse(text);
  EXPECT_TRUE(c.ok()) << text << ": " << c.status().message();
  return c.ok() ? *c : *Cidr::Parse("255.255.255.255/32");
}

std::vector<Cidr> Blocks(std::initializer_list<std::string_view> texts) {
  std::vector<Cidr> out;
  for (std::string_view t : texts) out.push_back(Block(t));
  return out;
}

// --- IpAddress::Parse -------------------------------------------------------------------------

TEST(IpAddressTest, ParsesIpv4) {
  auto ip = IpAddress::Parse("192.168.1.20");
  ASSERT_TRUE(ip.has_value());
  EXPECT_TRUE(ip->v4);
  EXPECT_EQ(ip->bytes[0], 192);
  EXPECT_EQ(ip->bytes[1], 168);
  EXPECT_EQ(ip->bytes[2], 1);
  EXPECT_EQ(ip->bytes[3], 20);
  EXPECT_EQ(ip->ToString(), "192.168.1.20");
}

TEST(IpAddressTest, ParsesIpv6) {
  auto ip = IpAddress::Parse("2001:db8::1");
  ASSERT_TRUE(ip.has_value());
  EXPECT_FALSE(ip->v4);
  EXPECT_EQ(ip->bytes[0], 0x20);
  EXPECT_EQ(ip->bytes[1], 0x01);
  EXPECT_EQ(ip->bytes[2], 0x0d);
  EXPECT_EQ(ip->bytes[3], 0xb8);
  EXPECT_EQ(ip->bytes[15], 0x01);
  EXPECT_EQ(ip->ToString(), "2001:db8::1");
}

TEST(IpAddressTest, ParsesIpv6Loopback) {
  auto ip = IpAddress::Parse("::1");
  ASSERT_TRUE(ip.has_value());
  EXPECT_FALSE(ip->v4);
  EXPECT_EQ(ip->ToString(), "::1");
}

TEST(IpAddressTest, TakesIpv4MappedIpv6AsIpv4) {
  auto ip = IpAddress::Parse("::ffff:1.2.3.4");
  ASSERT_TRUE(ip.has_value());
  EXPECT_TRUE(ip->v4);
  EXPECT_EQ(ip->bytes[0], 1);
  EXPECT_EQ(ip->bytes[1], 2);
  EXPECT_EQ(ip->bytes[2], 3);
  EXPECT_EQ(ip->bytes[3], 4);
  for (size_t i = 4; i < ip->bytes.size(); ++i) EXPECT_EQ(ip->bytes[i], 0) << i;
  EXPECT_EQ(ip->ToString(), "1.2.3.4");
}

TEST(IpAddressTest, TakesHexIpv4MappedAsIpv4) {
  auto ip = IpAddress::Parse("::ffff:0102:0304");
  ASSERT_TRUE(ip.has_value());
  EXPECT_TRUE(ip->v4);
  EXPECT_EQ(ip->ToString(), "1.2.3.4");
}

TEST(IpAddressTest, KeepsIpv4CompatibleAddressAsIpv6) {
  // ::1.2.3.4 (no ffff) is not IPv4-mapped.
  auto ip = IpAddress::Parse("::1.2.3.4");
  ASSERT_TRUE(ip.has_value());
  EXPECT_FALSE(ip->v4);
}

TEST(IpAddressTest, RefusesGarbage) {
  for (const char* text :
       {"", "hello", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-4", "::g", "1:2:3:4:5:6:7:8:9",
        " 1.2.3.4", "1.2.3.4 ", "01.2.3.4", "1.2.3.4/32", "unknown"}) {
    EXPECT_FALSE(IpAddress::Parse(text).has_value()) << "\"" << text << "\"";
  }
}

TEST(IpAddressTest, RefusesPortsAndZones) {
  for (const char* text : {"1.2.3.4:80", "[::1]:80", "[::1]", "fe80::1%eth0", "fe80::1%1"}) {
    EXPECT_FALSE(IpAddress::Parse(text).has_value()) << text;
  }
}

TEST(IpAddressTest, RefusesOverlongText) {
  EXPECT_FALSE(IpAddress::Parse(std::string(46, '1')).has_value());
  EXPECT_FALSE(IpAddress::Parse(std::string(1000, ':')).has_value());
}

// Found by tests/fuzz (json_pointer_cidr, regressions/json_pointer_cidr/): inet_pton stops at a
// NUL, so the text before one was taken as the whole address.
TEST(IpAddressTest, RefusesEmbeddedNul) {
  using namespace std::string_view_literals;
  EXPECT_FALSE(IpAddress::Parse("10.0.0.0\0\x08"sv).has_value());
  EXPECT_FALSE(IpAddress::Parse("::1\0"sv).has_value());
  EXPECT_FALSE(Cidr::Parse("10.0.0.0\0\x08"sv).ok());
}

// --- Cidr::Parse ------------------------------------------------------------------------------

TEST(CidrParseTest, AcceptsHostBitsZeroJustInsidePrefix) {
  EXPECT_TRUE(Cidr::Parse("10.128.0.0/9").ok());
  EXPECT_TRUE(Cidr::Parse("2001:db8:8000::/33").ok());
}

TEST(CidrParseTest, AcceptsValidIpv4Blocks) {
  for (const char* text : {"10.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12", "0.0.0.0/0",
                           "1.2.3.4/32", "1.2.3.4/31" /* bit 31 is the last bit */, "1.2.3.0/24"}) {
    auto c = Cidr::Parse(text);
    EXPECT_TRUE(c.ok()) << text << ": " << c.status().message();
    if (c.ok()) {
      EXPECT_EQ(c->text(), text);
    }
  }
}

TEST(CidrParseTest, AcceptsValidIpv6Blocks) {
  for (const char* text : {"2001:db8::/32", "::/0", "fe80::/10", "2001:db8:1:2::/64", "::1/128"}) {
    auto c = Cidr::Parse(text);
    EXPECT_TRUE(c.ok()) << text << ": " << c.status().message();
  }
}

TEST(CidrParseTest, BareIpv4AddressIsSlash32) {
  Cidr c = Block("10.1.2.3");
  EXPECT_TRUE(c.Contains(Ip("10.1.2.3")));
  EXPECT_FALSE(c.Contains(Ip("10.1.2.2")));
  EXPECT_FALSE(c.Contains(Ip("10.1.2.4")));
}

TEST(CidrParseTest, BareIpv6AddressIsSlash128) {
  Cidr c = Block("2001:db8::5");
  EXPECT_TRUE(c.Contains(Ip("2001:db8::5")));
  EXPECT_FALSE(c.Contains(Ip("2001:db8::4")));
  EXPECT_FALSE(c.Contains(Ip("2001:db8::6")));
}

TEST(CidrParseTest, RefusesNonNumericOrEmptyPrefix) {
  for (const char* text : {"10.0.0.0/", "10.0.0.0/x", "10.0.0.0/8x", "10.0.0.0/ 8", "10.0.0.0/8.0",
                           "10.0.0.0/+8", "10.0.0.0/8/8", "2001:db8::/abc"}) {
    auto c = Cidr::Parse(text);
    EXPECT_FALSE(c.ok()) << text;
    if (!c.ok()) {
      EXPECT_EQ(c.status().code(), storage::StatusCode::kInvalidArgument);
      EXPECT_NE(c.status().message().find(text), std::string::npos) << c.status().message();
    }
  }
}

TEST(CidrParseTest, RefusesPrefixOutOfRange) {
  for (const char* text : {"10.0.0.0/33", "10.0.0.0/-1", "0.0.0.0/64", "2001:db8::/129", "::/200",
                           "10.0.0.0/99999999999999"}) {
    auto c = Cidr::Parse(text);
    EXPECT_FALSE(c.ok()) << text;
    if (!c.ok()) {
      EXPECT_EQ(c.status().code(), storage::StatusCode::kInvalidArgument);
    }
  }
}

TEST(CidrParseTest, RefusesHostBitsPastPrefix) {
  for (const char* text : {"10.0.0.1/8", "10.64.0.0/9", "192.168.1.1/24", "1.2.3.5/31",
                           "2001:db8::1/64", "2001:db8:4000::/33"}) {
    auto c = Cidr::Parse(text);
    EXPECT_FALSE(c.ok()) << text;
    if (!c.ok()) {
      EXPECT_NE(c.status().message().find("host bits"), std::string::npos) << c.status().message();
    }
  }
}

TEST(CidrParseTest, RefusesBadAddresses) {
  for (const char* text : {"", "/8", "abc/8", "10.0.0/8", "300.0.0.0/8", "10.0.0.0:80/8",
                           "fe80::%eth0/64", "localhost"}) {
    EXPECT_FALSE(Cidr::Parse(text).ok()) << "\"" << text << "\"";
  }
}

TEST(CidrParseTest, MappedBareAddressIsIpv4Slash32) {
  Cidr c = Block("::ffff:10.0.0.1");
  EXPECT_TRUE(c.Contains(Ip("10.0.0.1")));
  EXPECT_FALSE(c.Contains(Ip("10.0.0.2")));
}

TEST(CidrParseTest, RefusesMappedBlockWithPrefix) {
  auto c = Cidr::Parse("::ffff:10.0.0.0/104");
  EXPECT_FALSE(c.ok());
}

// --- Cidr::Contains ---------------------------------------------------------------------------

TEST(CidrContainsTest, Slash8Boundaries) {
  Cidr c = Block("10.0.0.0/8");
  EXPECT_TRUE(c.Contains(Ip("10.0.0.0")));
  EXPECT_TRUE(c.Contains(Ip("10.255.255.255")));
  EXPECT_TRUE(c.Contains(Ip("10.1.2.3")));
  EXPECT_FALSE(c.Contains(Ip("11.0.0.0")));
  EXPECT_FALSE(c.Contains(Ip("9.255.255.255")));
}

TEST(CidrContainsTest, NonByteAlignedPrefix) {
  Cidr c = Block("172.16.0.0/12");
  EXPECT_TRUE(c.Contains(Ip("172.16.0.0")));
  EXPECT_TRUE(c.Contains(Ip("172.31.255.255")));
  EXPECT_FALSE(c.Contains(Ip("172.32.0.0")));
  EXPECT_FALSE(c.Contains(Ip("172.15.255.255")));
}

TEST(CidrContainsTest, Slash0ContainsEveryIpv4AddressOnly) {
  Cidr c = Block("0.0.0.0/0");
  EXPECT_TRUE(c.Contains(Ip("0.0.0.0")));
  EXPECT_TRUE(c.Contains(Ip("255.255.255.255")));
  EXPECT_TRUE(c.Contains(Ip("8.8.8.8")));
  EXPECT_FALSE(c.Contains(Ip("::1")));
  Cidr v6 = Block("::/0");
  EXPECT_TRUE(v6.Contains(Ip("2001:db8::1")));
  EXPECT_FALSE(v6.Contains(Ip("8.8.8.8")));
}

TEST(CidrContainsTest, Slash31HoldsTwoAddresses) {
  Cidr c = Block("192.168.1.2/31");
  EXPECT_FALSE(c.Contains(Ip("192.168.1.1")));
  EXPECT_TRUE(c.Contains(Ip("192.168.1.2")));
  EXPECT_TRUE(c.Contains(Ip("192.168.1.3")));
  EXPECT_FALSE(c.Contains(Ip("192.168.1.4")));
}

TEST(CidrContainsTest, Ipv6Slash64) {
  Cidr c = Block("2001:db8:1:2::/64");
  EXPECT_TRUE(c.Contains(Ip("2001:db8:1:2::")));
  EXPECT_TRUE(c.Contains(Ip("2001:db8:1:2:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(c.Contains(Ip("2001:db8:1:3::")));
  EXPECT_FALSE(c.Contains(Ip("2001:db8:1:1:ffff:ffff:ffff:ffff")));
}

TEST(CidrContainsTest, Ipv4NeverMatchesIpv6Block) {
  // 0.0.0.0 has all-zero bytes, like ::/96, but the families differ.
  EXPECT_FALSE(Block("::/96").Contains(Ip("0.0.0.1")));
  EXPECT_FALSE(Block("::/0").Contains(Ip("127.0.0.1")));
  EXPECT_FALSE(Block("10.0.0.0/8").Contains(Ip("a00::1")));  // 0x0a first byte
}

TEST(CidrContainsTest, MappedAddressMatchesIpv4Block) {
  EXPECT_TRUE(Block("127.0.0.0/8").Contains(Ip("::ffff:127.0.0.1")));
  EXPECT_FALSE(Block("127.0.0.0/8").Contains(Ip("::ffff:128.0.0.1")));
}

TEST(CidrContainsTest, AnyContains) {
  std::vector<Cidr> blocks = Blocks({"10.0.0.0/8", "2001:db8::/32"});
  EXPECT_TRUE(AnyContains(blocks, Ip("10.9.9.9")));
  EXPECT_TRUE(AnyContains(blocks, Ip("2001:db8::9")));
  EXPECT_FALSE(AnyContains(blocks, Ip("11.0.0.0")));
  EXPECT_FALSE(AnyContains({}, Ip("10.0.0.1")));
}

// --- ClientAddress ----------------------------------------------------------------------------

TEST(ClientAddressTest, HeaderAbsentGivesPeer) {
  auto trusted = Blocks({"127.0.0.1/32"});
  EXPECT_EQ(ClientAddress("127.0.0.1", nullptr, trusted), "127.0.0.1");
  EXPECT_EQ(ClientAddress("8.8.8.8", nullptr, trusted), "8.8.8.8");
}

TEST(ClientAddressTest, UntrustedPeerIgnoresForwardedFor) {
  auto trusted = Blocks({"127.0.0.1/32"});
  std::string xff = "10.0.0.7";
  EXPECT_EQ(ClientAddress("203.0.113.9", &xff, trusted), "203.0.113.9");
  EXPECT_EQ(ClientAddress("203.0.113.9", &xff, {}), "203.0.113.9");
}

TEST(ClientAddressTest, TrustedPeerTakesForwardedAddress) {
  auto trusted = Blocks({"127.0.0.1/32"});
  std::string xff = "203.0.113.9";
  EXPECT_EQ(ClientAddress("127.0.0.1", &xff, trusted), "203.0.113.9");
}

TEST(ClientAddressTest, TrustedPeerTakesRightmostNonTrustedEntry) {
  auto trusted = Blocks({"127.0.0.1/32", "10.0.0.0/8"});
  // The client claims 1.1.1.1; 203.0.113.9 is who really reached the first proxy 10.0.0.2.
  std::string xff = "1.1.1.1, 203.0.113.9, 10.0.0.2";
  EXPECT_EQ(ClientAddress("127.0.0.1", &xff, trusted), "203.0.113.9");
}

TEST(ClientAddressTest, AllEntriesTrustedGivesLeftmost) {
  auto trusted = Blocks({"10.0.0.0/8"});
  std::string xff = "10.0.0.3, 10.0.0.2, 10.0.0.1";
  EXPECT_EQ(ClientAddress("10.9.9.9", &xff, trusted), "10.0.0.3");
}

TEST(ClientAddressTest, GarbageEntryIsReturnedAsIs) {
  auto trusted = Blocks({"127.0.0.1/32"});
  std::string xff = "1.1.1.1, not-an-ip";
  EXPECT_EQ(ClientAddress("127.0.0.1", &xff, trusted), "not-an-ip");
  std::string with_port = "203.0.113.9:4711";
  EXPECT_EQ(ClientAddress("127.0.0.1", &with_port, trusted), "203.0.113.9:4711");
}

TEST(ClientAddressTest, GarbageEndsTheWalkEvenBehindTrustedHop) {
  auto trusted = Blocks({"127.0.0.0/8"});
  std::string xff = "9.9.9.9, unknown, 127.0.0.2";
  EXPECT_EQ(ClientAddress("127.0.0.1", &xff, trusted), "unknown");
}

TEST(ClientAddressTest, TrimsSpacesAndTabsAroundEntries) {
  auto trusted = Blocks({"127.0.0.1/32"});
  std::string xff = "  1.1.1.1 ,\t203.0.113.9\t ";
  EXPECT_EQ(ClientAddress("127.0.0.1", &xff, trusted), "203.0.113.9");
  std::string with_trusted = "203.0.113.9 ,   127.0.0.1  ";
  EXPECT_EQ(ClientAddress("127.0.0.1", &with_trusted, trusted), "203.0.113.9");
}

TEST(ClientAddressTest, SkipsEmptyEntries) {
  auto trusted = Blocks({"127.0.0.1/32"});
  std::string xff = "203.0.113.9,, ,";
  EXPECT_EQ(ClientAddress("127.0.0.1", &xff, trusted), "203.0.113.9");
  std::string empty;
  EXPECT_EQ(ClientAddress("127.0.0.1", &empty, trusted), "127.0.0.1");
}

TEST(ClientAddressTest, MappedPeerIsTrustedByIpv4Block) {
  auto trusted = Blocks({"127.0.0.1/32"});
  std::string xff = "203.0.113.9";
  EXPECT_EQ(ClientAddress("::ffff:127.0.0.1", &xff, trusted), "203.0.113.9");
}

TEST(ClientAddressTest, Ipv6ForwardedEntry) {
  auto trusted = Blocks({"::1/128"});
  std::string xff = "2001:db8::7";
  EXPECT_EQ(ClientAddress("::1", &xff, trusted), "2001:db8::7");
}

TEST(ClientAddressTest, UnparsablePeerIsReturnedAsIs) {
  auto trusted = Blocks({"0.0.0.0/0"});
  std::string xff = "1.1.1.1";
  EXPECT_EQ(ClientAddress("garbage", &xff, trusted), "garbage");
}

}  // namespace
}  // namespace hookvault::api
