// Turns Nagle's algorithm off on every TCP connection this process opens, including the ones
// inside libraries that offer no socket option hook (Paho MQTT C 1.3 never sets TCP_NODELAY).
//
// Why: an MQTT exchange is many small packets. With Nagle on, a small publish written while an
// earlier one is unacknowledged waits for the peer's delayed ACK: a scan's round trip measured
// 88 ms instead of well under 1 ms on loopback.
//
// How: this definition of connect() in the executable takes precedence over libc's for the
// shared libraries too (ELF symbol interposition); it sets TCP_NODELAY and calls the next
// connect() in the lookup order (libc's, or a sanitizer's interceptor).
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

extern "C" int connect(int fd, const struct sockaddr* addr, socklen_t len) {
  using ConnectFn = int (*)(int, const struct sockaddr*, socklen_t);
  static const auto next = reinterpret_cast<ConnectFn>(dlsym(RTLD_NEXT, "connect"));
  if (addr != nullptr && (addr->sa_family == AF_INET || addr->sa_family == AF_INET6)) {
    int type = 0;
    socklen_t type_len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) == 0 && type == SOCK_STREAM) {
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
  }
  return next(fd, addr, len);
}
