// Raw TCP connections to the server under test, for tests that must send bytes no HTTP client
// would (malformed requests, half-sent bodies, early disconnects).
#ifndef HOOKVAULT_TESTS_TESTING_RAW_SOCKET_H_
#define HOOKVAULT_TESTS_TESTING_RAW_SOCKET_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>

namespace hookvault::testing {

// Returns a blocking socket connected to 127.0.0.1:port with TCP_NODELAY, or -1.
inline int ConnectLoopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

}  // namespace hookvault::testing

#endif  // HOOKVAULT_TESTS_TESTING_RAW_SOCKET_H_
