#include "api/cidr.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include "storage/base/strings.h"

namespace hookvault::api {

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  // inet_pton reads a C string: without the NUL check "10.0.0.1\0junk" would be 10.0.0.1.
  if (text.empty() || text.size() > 45 || text.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  std::string s(text);
  IpAddress a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
    a.v4 = true;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a.bytes.data(), kMappedPrefix, 12) == 0) {
    std::memmove(a.bytes.data(), a.bytes.data() + 12, 4);
    std::memset(a.bytes.data() + 4, 0, 12);
    a.v4 = true;
    return a;
  }
  a.v4 = false;
  return a;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(v4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof(buf));
  return buf;
}

storage::StatusOr<Cidr> Cidr::Parse(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return storage::Status::InvalidArgument("invalid CIDR \"" + std::string(text) +
                                            "\": " + std::string(why));
  };
  std::string_view addr = text;
  std::optional<int> prefix;
  if (size_t slash = text.find('/'); slash != std::string_view::npos) {
    addr = text.substr(0, slash);
    std::string_view digits = text.substr(slash + 1);
    int value = -1;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
      return bad("prefix length is not a number");
    }
    prefix = value;
  }
  auto ip = IpAddress::Parse(addr);
  if (!ip) return bad("not an IP address");
  int max = ip->v4 ? 32 : 128;
  if (addr.find(':') != std::string_view::npos && ip->v4 && prefix) {
    return bad("use the IPv4 form for IPv4-mapped blocks");
  }
  int bits = prefix.value_or(max);
  if (bits < 0 || bits > max) return bad("prefix length out of range");
  for (int i = bits; i < max; ++i) {
    if (ip->bytes[i / 8] & (0x80 >> (i % 8))) return bad("host bits set past the prefix");
  }
  Cidr c;
  c.base_ = *ip;
  c.prefix_ = bits;
  c.text_ = std::string(text);
  return c;
}

bool Cidr::Contains(const IpAddress& address) const {
  if (address.v4 != base_.v4) return false;
  int full = prefix_ / 8;
  if (std::memcmp(address.bytes.data(), base_.bytes.data(), full) != 0) return false;
  int rest = prefix_ % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (address.bytes[full] & mask) == (base_.bytes[full] & mask);
}

bool AnyContains(const std::vector<Cidr>& blocks, const IpAddress& address) {
  for (const Cidr& c : blocks) {
    if (c.Contains(address)) return true;
  }
  return false;
}

std::string ClientAddress(std::string_view peer, const std::string* forwarded_for,
                          const std::vector<Cidr>& trusted_proxies) {
  auto peer_ip = IpAddress::Parse(peer);
  if (!forwarded_for || !peer_ip || !AnyContains(trusted_proxies, *peer_ip)) {
    return std::string(peer);
  }
  std::string_view rest = *forwarded_for;
  std::string client(peer);
  while (!rest.empty()) {
    size_t comma = rest.rfind(',');
    std::string_view entry = base::TrimOptionalWhitespace(
        comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    if (entry.empty()) continue;
    auto ip = IpAddress::Parse(entry);
    if (!ip) return std::string(entry);
    client = ip->ToString();
    if (!AnyContains(trusted_proxies, *ip)) return client;
  }
  return client;
}

}  // namespace hookvault::api
