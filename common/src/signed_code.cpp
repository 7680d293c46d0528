// Signed ticket codes: the format (see signed_code.hpp), Ed25519 through OpenSSL's EVP interface.
#include "signed_code.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include <cstring>
#include <memory>
#include <stdexcept>

#include "ids.hpp"
#include "rotating_code.hpp"

namespace tb {
namespace {

constexpr std::string_view kDomain = "tb-signed-code-v1";
constexpr std::size_t kSignatureSize = 64;
constexpr std::uint8_t kReentry = 1, kHasFrom = 2, kHasUntil = 4, kRotating = 8, kKnownFlags = 15;
constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

using Pkey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;
using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;

EVP_PKEY* as_pkey(void* p) {
  return static_cast<EVP_PKEY*>(p);
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(size));
}

Bio read_bio(std::string_view pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  if (!bio) throw std::runtime_error("out of memory");
  return bio;
}

void put_varint(std::vector<std::uint8_t>& out, std::uint64_t v) {
  do {
    std::uint8_t b = v & 0x7f;
    v >>= 7;
    if (v != 0) b |= 0x80;
    out.push_back(b);
  } while (v != 0);
}

void put_string(std::vector<std::uint8_t>& out, const std::string& s, const char* what) {
  if (s.empty() || s.size() > 255) {
    throw std::invalid_argument(std::string(what) + " must be 1-255 bytes in a signed code");
  }
  out.push_back(static_cast<std::uint8_t>(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}

// Reads the payload; every read is bounds-checked against the end.
class Reader {
 public:
  Reader(const std::uint8_t* p, std::size_t n) : p_(p), end_(p + n) {}
  bool byte(std::uint8_t& b) {
    if (p_ == end_) return false;
    b = *p_++;
    return true;
  }
  bool varint(std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 63; shift += 7) {
      std::uint8_t b = 0;
      if (!byte(b)) return false;
      v |= std::uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) return shift == 0 || b != 0;  // no padded (non-minimal) encodings
    }
    return false;
  }
  bool string(std::string& s) {
    std::uint8_t n = 0;
    if (!byte(n) || n == 0 || static_cast<std::size_t>(end_ - p_) < n) return false;
    s.assign(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return true;
  }
  bool done() const { return p_ == end_; }

 private:
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

std::vector<std::uint8_t> payload_of(const KeyId& kid, const CodeClaims& c) {
  if (c.max_entries < 0) throw std::invalid_argument("max_entries must be 0 or more");
  std::vector<std::uint8_t> out(kid.begin(), kid.end());
  std::uint8_t flags = 0;
  if (c.reentry) flags |= kReentry;
  if (c.valid_from) flags |= kHasFrom;
  if (c.valid_until) flags |= kHasUntil;
  if (c.rotating) flags |= kRotating;
  out.push_back(flags);
  put_varint(out, static_cast<std::uint64_t>(c.max_entries));
  for (const auto& t : {c.valid_from, c.valid_until}) {
    if (!t) continue;
    if (*t < 0) throw std::invalid_argument("a signed code's times must be after 1970");
    put_varint(out, static_cast<std::uint64_t>(*t));
  }
  if (c.gates.size() > 255) throw std::invalid_argument("a signed code holds at most 255 gates");
  out.push_back(static_cast<std::uint8_t>(c.gates.size()));
  for (const auto& g : c.gates) put_string(out, g, "a gate");
  put_string(out, c.code, "the code");
  return out;
}

std::vector<std::uint8_t> with_domain(const std::uint8_t* payload, std::size_t size) {
  // Sized first and copied into: GCC 12 reports a false -Warray-bounds for vector::insert here.
  std::vector<std::uint8_t> out(kDomain.size() + size);
  std::memcpy(out.data(), kDomain.data(), kDomain.size());
  if (size > 0) std::memcpy(out.data() + kDomain.size(), payload, size);
  return out;
}

}  // namespace

std::string hex_encode(const std::uint8_t* data, std::size_t size) {
  static constexpr std::string_view kHex = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out.push_back(kHex[data[i] >> 4]);
    out.push_back(kHex[data[i] & 15]);
  }
  return out;
}

std::string base32_encode(const std::uint8_t* data, std::size_t size) {
  std::string out;
  out.reserve((size * 8 + 4) / 5);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (std::size_t i = 0; i < size; ++i) {
    buffer = (buffer << 8) | data[i];
    bits += 8;
    while (bits >= 5) {
      out += kAlphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += kAlphabet[(buffer << (5 - bits)) & 31];
  return out;
}

std::optional<std::vector<std::uint8_t>> base32_decode(std::string_view text) {
  std::vector<std::uint8_t> out;
  out.reserve(text.size() * 5 / 8);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const char ch : text) {
    int v = -1;
    if (ch >= 'A' && ch <= 'Z') v = ch - 'A';
    if (ch >= 'a' && ch <= 'z') v = ch - 'a';
    if (ch >= '2' && ch <= '7') v = ch - '2' + 26;
    if (v < 0) return std::nullopt;
    buffer = (buffer << 5) | static_cast<std::uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      out.push_back(static_cast<std::uint8_t>(buffer >> (bits - 8)));
      bits -= 8;
    }
    buffer &= 0xff;  // at most 7 bits are pending
  }
  // What is left must be fewer than 5 bits, all zero: one encoding per byte string.
  if (bits >= 5 || (buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

bool looks_signed(std::string_view text) {
  if (text.size() < kSignedCodePrefix.size()) return false;
  for (std::size_t i = 0; i < kSignedCodePrefix.size(); ++i) {
    char c = text[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c != kSignedCodePrefix[i]) return false;
  }
  return true;
}

std::variant<DecodedCode, std::string> decode_signed_code(std::string_view text) {
  if (!looks_signed(text)) return std::string("no signed code (a signed code starts with TB1.)");
  if (text.size() > kMaxSignedCodeLength) {
    return "a signed code of " + std::to_string(text.size()) + " characters (at most " +
           std::to_string(kMaxSignedCodeLength) + ")";
  }
  auto bytes = base32_decode(text.substr(kSignedCodePrefix.size()));
  if (!bytes) return std::string("a signed code with characters outside base32");
  if (bytes->size() < 4 + 1 + 1 + 1 + 2 + kSignatureSize) {
    return std::string("a signed code too short to hold a ticket and a signature");
  }
  const std::size_t payload_size = bytes->size() - kSignatureSize;
  DecodedCode d;
  std::memcpy(d.key_id.data(), bytes->data(), d.key_id.size());
  Reader r(bytes->data() + d.key_id.size(), payload_size - d.key_id.size());
  std::uint8_t flags = 0, gate_count = 0;
  std::uint64_t max_entries = 0;
  if (!r.byte(flags) || (flags & ~kKnownFlags) != 0) {
    return std::string("a signed code with unknown flags");
  }
  if (!r.varint(max_entries) || max_entries > std::uint64_t{INT64_MAX}) {
    return std::string("a signed code with a damaged max_entries");
  }
  auto& c = d.claims;
  c.max_entries = static_cast<std::int64_t>(max_entries);
  c.reentry = (flags & kReentry) != 0;
  c.rotating = (flags & kRotating) != 0;
  const std::pair<std::uint8_t, std::optional<Millis>*> times[] = {{kHasFrom, &c.valid_from},
                                                                   {kHasUntil, &c.valid_until}};
  for (const auto& [flag, field] : times) {
    if ((flags & flag) == 0) continue;
    std::uint64_t t = 0;
    if (!r.varint(t) || t > std::uint64_t{INT64_MAX}) {
      return std::string("a signed code with a damaged time");
    }
    *field = static_cast<Millis>(t);
  }
  if (!r.byte(gate_count)) return std::string("a signed code cut short");
  for (int i = 0; i < gate_count; ++i) {
    std::string g;
    if (!r.string(g) || !is_valid_label(g, 128)) {
      return std::string("a signed code with a damaged gate");
    }
    c.gates.push_back(std::move(g));
  }
  if (!r.string(c.code) || !is_valid_id(c.code) || looks_signed(c.code)) {
    return std::string("a signed code whose ticket code is damaged");
  }
  if (!r.done()) return std::string("a signed code with bytes after its ticket");
  std::memcpy(d.signature.data(), bytes->data() + payload_size, kSignatureSize);
  d.signed_bytes = with_domain(bytes->data(), payload_size);
  d.canonical = std::string(kSignedCodePrefix) + base32_encode(bytes->data(), bytes->size());
  return d;
}

std::optional<std::string> plain_code_of(std::string_view text) {
  if (!looks_signed(text)) return std::string(text);
  // A rotating code as scanned names its ticket too (rotating_code.hpp).
  auto d = decode_scanned_signed_code(text);
  if (auto* code = std::get_if<ScannedSignedCode>(&d)) return std::move(code->code.claims.code);
  return std::nullopt;
}

SigningKey::SigningKey(void* pkey) : pkey_(pkey) {}

SigningKey::SigningKey(SigningKey&& other) noexcept : pkey_(other.pkey_) {
  other.pkey_ = nullptr;
}

SigningKey& SigningKey::operator=(SigningKey&& other) noexcept {
  std::swap(pkey_, other.pkey_);
  return *this;
}

SigningKey::~SigningKey() {
  EVP_PKEY_free(as_pkey(pkey_));
}

SigningKey SigningKey::generate() {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (k == nullptr) throw std::runtime_error("cannot generate an Ed25519 key");
  return SigningKey(k);
}

SigningKey SigningKey::from_pem(std::string_view pem) {
  const auto bio = read_bio(pem);
  // A key protected by a passphrase is refused, never prompted for: no command here can answer.
  const auto no_passphrase = [](char*, int, int, void*) { return 0; };
  Pkey k(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr), &EVP_PKEY_free);
  if (!k) {
    ERR_clear_error();  // what OpenSSL queued about it must not show up in a later call's check
    throw std::runtime_error("not a PEM private key");
  }
  if (EVP_PKEY_get_id(k.get()) != EVP_PKEY_ED25519) {
    throw std::runtime_error("not an Ed25519 key");
  }
  return SigningKey(k.release());
}

std::string SigningKey::private_pem() const {
  Bio bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), as_pkey(pkey_), nullptr, nullptr, 0, nullptr,
                                       nullptr) != 1) {
    throw std::runtime_error("cannot write the private key");
  }
  return bio_text(bio.get());
}

std::string SigningKey::public_pem() const {
  Bio bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), as_pkey(pkey_)) != 1) {
    throw std::runtime_error("cannot write the public key");
  }
  return bio_text(bio.get());
}

RawPublicKey SigningKey::public_key() const {
  RawPublicKey raw{};
  std::size_t len = raw.size();
  if (EVP_PKEY_get_raw_public_key(as_pkey(pkey_), raw.data(), &len) != 1 || len != raw.size()) {
    throw std::runtime_error("cannot read the public key");
  }
  return raw;
}

KeyId SigningKey::key_id() const {
  return key_id_of(public_key());
}

std::string SigningKey::sign(const CodeClaims& claims) const {
  if (!is_valid_id(claims.code) || looks_signed(claims.code)) {
    throw std::invalid_argument("the ticket code " + claims.code + " cannot be signed");
  }
  auto bytes = payload_of(key_id(), claims);
  const auto message = with_domain(bytes.data(), bytes.size());
  std::array<std::uint8_t, kSignatureSize> sig{};
  std::size_t sig_len = sig.size();
  const MdCtx ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, as_pkey(pkey_)) != 1 ||
      EVP_DigestSign(ctx.get(), sig.data(), &sig_len, message.data(), message.size()) != 1 ||
      sig_len != sig.size()) {
    throw std::runtime_error("cannot sign the ticket code");
  }
  bytes.insert(bytes.end(), sig.begin(), sig.end());
  std::string code = std::string(kSignedCodePrefix) + base32_encode(bytes.data(), bytes.size());
  // A rotating code's value follows it in the same scan (rotating_code.hpp): both must fit.
  const std::size_t most = kMaxSignedCodeLength - (claims.rotating ? kRotatingSuffixLength : 0);
  if (code.size() > most) {
    throw std::invalid_argument("the ticket's signed code would be " + std::to_string(code.size()) +
                                " characters (at most " + std::to_string(most) +
                                "): fewer or shorter gates");
  }
  return code;
}

KeyId key_id_of(const RawPublicKey& key) {
  std::array<std::uint8_t, SHA256_DIGEST_LENGTH> digest{};
  SHA256(key.data(), key.size(), digest.data());
  KeyId id{};
  std::memcpy(id.data(), digest.data(), id.size());
  return id;
}

VerifyKey verify_key_from_pem(std::string_view pem) {
  const auto bio = read_bio(pem);
  Pkey k(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  if (!k) {
    ERR_clear_error();
    throw std::runtime_error("not a PEM public key");
  }
  if (EVP_PKEY_get_id(k.get()) != EVP_PKEY_ED25519) throw std::runtime_error("not an Ed25519 key");
  VerifyKey v;
  std::size_t len = v.key.size();
  if (EVP_PKEY_get_raw_public_key(k.get(), v.key.data(), &len) != 1 || len != v.key.size()) {
    throw std::runtime_error("cannot read the public key");
  }
  v.key_id = key_id_of(v.key);
  return v;
}

bool verify_signed_code(const DecodedCode& code, const std::vector<VerifyKey>& keys) {
  for (const auto& k : keys) {
    if (k.key_id != code.key_id) continue;
    Pkey pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, k.key.data(), k.key.size()),
              &EVP_PKEY_free);
    const MdCtx ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    if (pkey && ctx &&
        EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) == 1 &&
        EVP_DigestVerify(ctx.get(), code.signature.data(), code.signature.size(),
                         code.signed_bytes.data(), code.signed_bytes.size()) == 1) {
      return true;
    }
    ERR_clear_error();  // a key that does not fit is no error of the next call; try the next one
  }
  return false;
}

}  // namespace tb
