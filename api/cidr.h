// IP addresses and CIDR blocks (IPv4 and IPv6) for allow-lists and trusted proxies.
#ifndef HOOKVAULT_API_CIDR_H_
#define HOOKVAULT_API_CIDR_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/status.h"

namespace hookvault::api {

// An IPv4 or IPv6 address. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is taken as IPv4, so
// one rule matches a client however the socket reports it.
struct IpAddress {
  bool v4 = true;
  std::array<uint8_t, 16> bytes{};  // v4 uses the first 4

  // Returns nullopt unless `text` is a literal address (no port, no zone).
  static std::optional<IpAddress> Parse(std::string_view text);
  std::string ToString() const;
};

// An address block, "10.0.0.0/8" or "2001:db8::/32"; a bare address is a /32 or /128.
class Cidr {
 public:
  // Returns kInvalidArgument naming `text` if it is not a valid block. Host bits past the
  // prefix must be zero ("10.0.0.1/8" is refused: it is almost always a typo).
  static storage::StatusOr<Cidr> Parse(std::string_view text);

  bool Contains(const IpAddress& address) const;
  const std::string& text() const { return text_; }

 private:
  IpAddress base_;
  int prefix_ = 0;
  std::string text_;
};

// Returns true if any block contains the address.
bool AnyContains(const std::vector<Cidr>& blocks, const IpAddress& address);

// Returns the client address of a request. From a peer that is not a trusted proxy, that is the
// peer. From a trusted proxy, it is the rightmost address in X-Forwarded-For that is not itself
// a trusted proxy (the left part is whatever the client chose to send); the peer when the
// header is absent. An entry that is not an address ends the walk and is returned as it is,
// so it matches no allow-list.
std::string ClientAddress(std::string_view peer, const std::string* forwarded_for,
                          const std::vector<Cidr>& trusted_proxies);

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_CIDR_H_
