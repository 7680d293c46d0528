// Rotating codes: RFC 6238 TOTP over a per-ticket secret (rotating_code.hpp).
#include "rotating_code.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstring>
#include <stdexcept>
#include <vector>

namespace tb {
namespace {

constexpr std::string_view kSecretDomain = "tb-rotating-v1";

std::array<std::uint8_t, 32> hmac_sha256(const std::uint8_t* key, std::size_t key_size,
                                         const std::uint8_t* data, std::size_t size) {
  std::array<std::uint8_t, 32> out{};
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key, static_cast<int>(key_size), data, size, out.data(), &len) ==
          nullptr ||
      len != out.size()) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

RotatingKey generate_rotating_key() {
  RotatingKey k{};
  if (RAND_bytes(k.data(), static_cast<int>(k.size())) != 1) {
    throw std::runtime_error("no random bytes from OpenSSL");
  }
  return k;
}

std::string rotating_key_text(const RotatingKey& key) {
  return hex_encode(key.data(), key.size()) + "\n";
}

RotatingKey rotating_key_from_text(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const auto first = text.find_first_not_of(kSpace);
  const auto last = text.find_last_not_of(kSpace);
  const std::string_view hex =
      first == std::string_view::npos ? std::string_view() : text.substr(first, last - first + 1);
  RotatingKey k{};
  if (hex.size() != k.size() * 2) {
    throw std::runtime_error("a rotating key is 64 hex digits");
  }
  for (std::size_t i = 0; i < k.size(); ++i) {
    const int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) throw std::runtime_error("a rotating key is 64 hex digits");
    k[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return k;
}

std::string rotating_key_id(const RotatingKey& key) {
  std::array<std::uint8_t, SHA256_DIGEST_LENGTH> digest{};
  SHA256(key.data(), key.size(), digest.data());
  return hex_encode(digest.data(), 4);
}

RotatingSecret ticket_rotating_secret(const RotatingKey& key, std::string_view plain_code) {
  std::vector<std::uint8_t> message(kSecretDomain.size() + 1 + plain_code.size());
  std::memcpy(message.data(), kSecretDomain.data(), kSecretDomain.size());
  message[kSecretDomain.size()] = 0;
  if (!plain_code.empty()) {
    std::memcpy(message.data() + kSecretDomain.size() + 1, plain_code.data(), plain_code.size());
  }
  return hmac_sha256(key.data(), key.size(), message.data(), message.size());
}

std::int64_t rotating_step(Millis at) {
  const std::int64_t q = at / kRotatingStepMs;
  return (at % kRotatingStepMs < 0) ? q - 1 : q;
}

std::string rotating_value(const RotatingSecret& secret, std::int64_t step) {
  // RFC 4226's HOTP over the step as an 8-byte big-endian counter, with dynamic truncation.
  std::array<std::uint8_t, 8> counter{};
  auto c = static_cast<std::uint64_t>(step);
  for (int i = 7; i >= 0; --i) {
    counter[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(c & 0xff);
    c >>= 8;
  }
  const auto mac = hmac_sha256(secret.data(), secret.size(), counter.data(), counter.size());
  const std::size_t offset = mac[mac.size() - 1] & 0x0f;
  const std::uint32_t bin = (static_cast<std::uint32_t>(mac[offset] & 0x7f) << 24) |
                            (static_cast<std::uint32_t>(mac[offset + 1]) << 16) |
                            (static_cast<std::uint32_t>(mac[offset + 2]) << 8) |
                            static_cast<std::uint32_t>(mac[offset + 3]);
  std::uint32_t value = bin % 100'000'000u;
  std::string out(kRotatingDigits, '0');
  for (int i = kRotatingDigits - 1; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return out;
}

bool rotating_value_fresh(const RotatingSecret& secret, std::string_view value, Millis at) {
  if (value.size() != static_cast<std::size_t>(kRotatingDigits)) return false;
  const std::int64_t now = rotating_step(at);
  bool fresh = false;
  for (std::int64_t step = now - kRotatingWindowSteps; step <= now + kRotatingWindowSteps; ++step) {
    const std::string expected = rotating_value(secret, step);
    fresh |= CRYPTO_memcmp(expected.data(), value.data(), value.size()) == 0;
  }
  return fresh;
}

std::variant<SplitCode, std::string> split_rotating(std::string_view text) {
  if (!looks_signed(text)) return SplitCode{text, std::nullopt};
  const auto dot = text.rfind('.');
  if (dot < kSignedCodePrefix.size()) return SplitCode{text, std::nullopt};
  const std::string_view value = text.substr(dot + 1);
  bool digits = value.size() == static_cast<std::size_t>(kRotatingDigits);
  for (const char ch : value) digits = digits && ch >= '0' && ch <= '9';
  if (!digits) {
    return "a signed code whose rotating value is not " + std::to_string(kRotatingDigits) +
           " digits";
  }
  return SplitCode{text.substr(0, dot), value};
}

std::variant<ScannedSignedCode, std::string> decode_scanned_signed_code(std::string_view text) {
  if (text.size() > kMaxSignedCodeLength) {
    return "a signed code of " + std::to_string(text.size()) + " characters (at most " +
           std::to_string(kMaxSignedCodeLength) + ")";
  }
  auto split = split_rotating(text);
  if (auto* why = std::get_if<std::string>(&split)) return std::move(*why);
  const auto& parts = std::get<SplitCode>(split);
  auto decoded = decode_signed_code(parts.code);
  if (auto* why = std::get_if<std::string>(&decoded)) return std::move(*why);
  ScannedSignedCode out{std::move(std::get<DecodedCode>(decoded)), std::nullopt};
  if (parts.value) out.rotating_value = std::string(*parts.value);
  return out;
}

}  // namespace tb
