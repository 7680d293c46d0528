// Signed ticket codes (SPEC.md v1.1): a ticket's plain code together with what a gate needs to
// decide alone (validity window, gates, entries, re-entry), signed with the venue's Ed25519 key.
//
//   TB1.<base32 of: payload, then the 64-byte Ed25519 signature of "tb-signed-code-v1" + payload>
//
// Base32 (RFC 4648, A-Z and 2-7, no padding) keeps the code URL-safe and inside the QR code's
// alphanumeric mode, which packs 5.5 bits per character against 8 for base64's byte mode: the
// same ticket needs a smaller QR code. Decoding ignores the letters' case (a keyboard wedge with
// Caps Lock on sends lower case); the canonical form is upper case. The payload:
//
//   key id      4 bytes   the first 4 bytes of SHA-256 of the raw 32-byte public key
//   flags       1 byte    bit 0 reentry, bit 1 valid_from given, bit 2 valid_until given,
//                         bit 3 rotating (a scan must carry a fresh rotating value)
//   max_entries varint    unsigned LEB128; 0 = no limit
//   valid_from  varint    ms since the epoch, when flagged
//   valid_until varint    ms since the epoch, when flagged
//   gates       1 byte count, then each: 1 byte length, UTF-8 bytes
//   code        1 byte length, UTF-8 bytes
//
// Nothing may follow. Unknown flag bits make the code invalid: a later format takes a new prefix.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "timeutil.hpp"

namespace tb {

inline constexpr std::string_view kSignedCodePrefix = "TB1.";
// SPEC.md v1.1: a scan's code may be up to 512 characters when it is a signed one.
inline constexpr std::size_t kMaxSignedCodeLength = 512;

using KeyId = std::array<std::uint8_t, 4>;
using RawPublicKey = std::array<std::uint8_t, 32>;

// What a signed code says about its ticket.
struct CodeClaims {
  std::string code;  // the plain ticket code
  std::int64_t max_entries = 1;
  bool reentry = false;
  bool rotating = false;  // a scan must carry a fresh rotating value (rotating_code.hpp)
  std::optional<Millis> valid_from;
  std::optional<Millis> valid_until;
  std::vector<std::string> gates;
};

struct DecodedCode {
  KeyId key_id{};
  CodeClaims claims;
  std::string canonical;                   // the code as issued: prefix and upper-case base32
  std::vector<std::uint8_t> signed_bytes;  // what the signature covers (domain + payload)
  std::array<std::uint8_t, 64> signature{};
};

// Whether `text` claims to be a signed code (its prefix, in either case). Such a text is never a
// plain code: the prefix is reserved (check_ticket refuses plain codes that start with it).
bool looks_signed(std::string_view text);

// Reads the structure of a signed code without checking its signature (the bridge compares the
// whole code with what it issued instead). Why it is no signed code, otherwise.
std::variant<DecodedCode, std::string> decode_signed_code(std::string_view text);

// The plain ticket code that `text` names: itself when it is no signed code, the code inside when
// it is a well-formed signed one (with or without its rotating value), nothing when it is a
// damaged signed one.
std::optional<std::string> plain_code_of(std::string_view text);

// An Ed25519 key pair held in memory (OpenSSL). Move-only.
class SigningKey {
 public:
  // A fresh random key.
  static SigningKey generate();
  // Reads a PKCS#8 PEM private key (as `keys init` writes it). Throws std::runtime_error.
  static SigningKey from_pem(std::string_view pem);
  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) noexcept;
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;
  ~SigningKey();

  std::string private_pem() const;
  std::string public_pem() const;
  RawPublicKey public_key() const;
  KeyId key_id() const;

  // The signed code of `claims`. Throws std::invalid_argument when the claims do not fit the
  // format (a field too long, the code over kMaxSignedCodeLength characters).
  std::string sign(const CodeClaims& claims) const;

 private:
  explicit SigningKey(void* pkey);
  void* pkey_;  // EVP_PKEY*
};

// A public key a gate checks signed codes with.
struct VerifyKey {
  KeyId key_id{};
  RawPublicKey key{};
};

KeyId key_id_of(const RawPublicKey& key);
// Reads a SubjectPublicKeyInfo PEM public key (`keys init`'s .pub.pem). Throws
// std::runtime_error.
VerifyKey verify_key_from_pem(std::string_view pem);

// Whether `code`'s signature is valid under one of `keys` (matched by key id).
bool verify_signed_code(const DecodedCode& code, const std::vector<VerifyKey>& keys);

// RFC 4648 base32, upper case, without padding; decoding accepts either case and refuses
// padding, other characters and non-zero trailing bits.
std::string base32_encode(const std::uint8_t* data, std::size_t size);
// Lower-case hex, two digits a byte (key ids, the rotating key's file).
std::string hex_encode(const std::uint8_t* data, std::size_t size);
std::optional<std::vector<std::uint8_t>> base32_decode(std::string_view text);

}  // namespace tb
