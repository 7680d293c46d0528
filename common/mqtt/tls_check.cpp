// A TLS handshake with OpenSSL, for diagnosis only.
#include "tls_check.hpp"

#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace tb {

namespace {

struct HostPort {
  std::string host, port;
};

// "ssl://host:port", "mqtts://[::1]:8883", "ssl://host" -> host and port (default 8883, or 443
// for wss://).
HostPort parse_uri(const std::string& uri) {
  auto rest = uri.substr(uri.find("://") == std::string::npos ? 0 : uri.find("://") + 3);
  rest = rest.substr(0, rest.find('/'));
  HostPort out{rest, uri.rfind("wss://", 0) == 0 ? "443" : "8883"};
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    out.host = rest.substr(1, close - 1);
    if (close != std::string::npos && close + 1 < rest.size() && rest[close + 1] == ':') {
      out.port = rest.substr(close + 2);
    }
  } else if (const auto colon = rest.rfind(':'); colon != std::string::npos) {
    out.host = rest.substr(0, colon);
    out.port = rest.substr(colon + 1);
  }
  return out;
}

int connect_to(const HostPort& hp, std::string& error) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(hp.host.c_str(), hp.port.c_str(), &hints, &found); rc != 0) {
    error = "cannot resolve " + hp.host + ": " + gai_strerror(rc);
    return -1;
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(found, freeaddrinfo);
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const timeval timeout{3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) return fd;
    error = "cannot reach " + hp.host + ":" + hp.port + ": " + std::strerror(errno);
    close(fd);
  }
  return -1;
}

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "no detail";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

bool is_ip_address(const std::string& host) {
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0) return false;
  freeaddrinfo(found);
  return true;
}

}  // namespace

std::string diagnose_tls(const std::string& uri, const TlsSettings& tls) {
  const HostPort hp = parse_uri(uri);
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        SSL_CTX_free);
  if (!ctx) return "OpenSSL: " + openssl_error();
  if (tls.cafile) {
    if (SSL_CTX_load_verify_locations(ctx.get(), tls.cafile->c_str(), nullptr) != 1) {
      return "cannot read the CA file " + *tls.cafile + ": " + openssl_error();
    }
  } else {
    SSL_CTX_set_default_verify_paths(ctx.get());
  }
  if (tls.certfile && tls.keyfile &&
      (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.certfile->c_str()) != 1 ||
       SSL_CTX_use_PrivateKey_file(ctx.get(), tls.keyfile->c_str(), SSL_FILETYPE_PEM) != 1)) {
    return "cannot use the client certificate " + *tls.certfile + ": " + openssl_error();
  }
  std::string error;
  const int fd = connect_to(hp, error);
  if (fd < 0) return error;
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  SSL_set_fd(ssl.get(), fd);
  const bool ip = is_ip_address(hp.host);
  if (!ip) SSL_set_tlsext_host_name(ssl.get(), hp.host.c_str());
  std::string verdict;
  if (SSL_connect(ssl.get()) != 1) {
    verdict = "the TLS handshake with " + hp.host + ":" + hp.port + " failed: " + openssl_error();
  } else if (const long v = SSL_get_verify_result(ssl.get()); v != X509_V_OK) {
    verdict = "the broker's certificate does not verify against " +
              (tls.cafile ? "the CA file " + *tls.cafile : std::string("the system's CAs")) + ": " +
              X509_verify_cert_error_string(v);
  } else if (tls.check_hostname) {
    X509* peer = SSL_get1_peer_certificate(ssl.get());
    const int named = peer == nullptr ? 0
                      : ip            ? X509_check_ip_asc(peer, hp.host.c_str(), 0)
                                      : X509_check_host(peer, hp.host.c_str(), 0, 0, nullptr);
    X509_free(peer);
    if (named != 1) {
      verdict = "the broker's certificate does not name " + hp.host +
                " (connect by a name it holds, or turn the host name check off)";
    }
  }
  SSL_shutdown(ssl.get());
  close(fd);
  return verdict;
}

std::string connect_failure(const std::string& uri, const TlsSettings& tls,
                            const std::string& why) {
  std::string error = "cannot connect to the broker at " + uri + ": " + why;
  if (is_tls_url(uri)) {
    const auto found = diagnose_tls(uri, tls);
    error += found.empty() ? "; TLS itself works: check the credentials" : "; " + found;
  }
  return error;
}

}  // namespace tb
