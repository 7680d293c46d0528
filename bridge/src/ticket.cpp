// Random ticket codes.
#include "ticket.hpp"

#include <openssl/rand.h>

#include <array>
#include <stdexcept>

namespace tb {

std::string random_ticket_code() {
  static constexpr std::string_view kAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";  // 32 symbols
  std::array<unsigned char, 12> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    throw std::runtime_error("no random bytes from OpenSSL");
  }
  std::string code;
  code.reserve(bytes.size());
  for (const unsigned char b : bytes) code.push_back(kAlphabet[b % kAlphabet.size()]);
  return code;
}

}  // namespace tb
