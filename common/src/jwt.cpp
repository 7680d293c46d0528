// JWT (RFC 7519) with HMAC-SHA256 from OpenSSL.
#include "jwt.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <nlohmann/json.hpp>

#include "ids.hpp"

namespace tb {

namespace {

constexpr std::size_t kMaxTokenLength = 8192;

std::string hmac_sha256(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  return {reinterpret_cast<const char*>(out.data()), len};
}

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

}  // namespace

std::string base64url_encode(std::string_view in) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const auto n = (static_cast<unsigned char>(in[i]) << 16) |
                   (static_cast<unsigned char>(in[i + 1]) << 8) |
                   static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i + 1 == in.size()) {
    const auto n = static_cast<unsigned char>(in[i]) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
  } else if (i + 2 == in.size()) {
    const auto n =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : in) {
    const int v = b64_value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  // Leftover bits must be zero, so that every token has exactly one encoding.
  if ((acc & ((1U << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string sign_jwt(std::string_view header_json, std::string_view claims_json,
                     std::string_view secret) {
  std::string signing_input = base64url_encode(header_json) + "." + base64url_encode(claims_json);
  const std::string sig = hmac_sha256(secret, signing_input);
  return signing_input + "." + base64url_encode(sig);
}

std::string sign_token(std::string_view uid, std::int64_t ttl_s, std::string_view secret,
                       std::int64_t now_s, std::string_view code, std::string_view role) {
  nlohmann::json claims = {{"sub", uid}, {"iat", now_s}, {"exp", now_s + ttl_s}};
  if (!code.empty()) claims["code"] = code;
  if (!role.empty()) claims["role"] = role;
  return sign_jwt(R"({"alg":"HS256","typ":"JWT"})", claims.dump(), secret);
}

std::variant<TokenClaims, std::string> verify_token(std::string_view token, std::string_view secret,
                                                    std::int64_t now_s) {
  if (token.empty()) return std::string("no token");
  if (token.size() > kMaxTokenLength) return std::string("token too long");
  const auto dot1 = token.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return std::string("not three dot-separated parts");
  }
  const auto header_text = base64url_decode(token.substr(0, dot1));
  const auto claims_text = base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  const auto sig = base64url_decode(token.substr(dot2 + 1));
  if (!header_text || !claims_text || !sig) return std::string("bad base64url");

  const auto header = nlohmann::json::parse(*header_text, nullptr, false);
  if (!header.is_object()) return std::string("header is not a JSON object");
  const auto alg = header.find("alg");
  // The algorithm is ours to choose: anything but HS256 ("none", RS256, ...) is refused.
  if (alg == header.end() || !alg->is_string() || alg->get<std::string>() != "HS256") {
    return std::string("algorithm is not HS256");
  }
  if (header.contains("crit")) return std::string("unsupported critical header");

  const std::string expected = hmac_sha256(secret, token.substr(0, dot2));
  if (sig->size() != expected.size() ||
      CRYPTO_memcmp(sig->data(), expected.data(), expected.size()) != 0) {
    return std::string("bad signature");
  }

  const auto claims = nlohmann::json::parse(*claims_text, nullptr, false);
  if (!claims.is_object()) return std::string("claims are not a JSON object");
  const auto sub = claims.find("sub");
  if (sub == claims.end() || !sub->is_string() ||
      !is_valid_id(sub->get_ref<const std::string&>())) {
    return std::string("sub is missing or not a valid uid");
  }
  const auto exp = claims.find("exp");
  if (exp == claims.end() || !exp->is_number()) return std::string("exp is missing");
  const double exp_s = exp->get<double>();
  if (!(exp_s > static_cast<double>(now_s))) return std::string("token expired");
  if (const auto nbf = claims.find("nbf"); nbf != claims.end()) {
    if (!nbf->is_number() || nbf->get<double>() > static_cast<double>(now_s)) {
      return std::string("token not yet valid (nbf)");
    }
  }
  TokenClaims out{
      sub->get<std::string>(),
      exp_s > 9e15 ? std::int64_t{9'000'000'000'000'000} : static_cast<std::int64_t>(exp_s),
      {},
      {}};
  if (const auto code = claims.find("code"); code != claims.end()) {
    if (!code->is_string() || !is_valid_id(code->get_ref<const std::string&>())) {
      return std::string("code is not a valid ticket code");
    }
    out.code = code->get<std::string>();
  }
  if (const auto role = claims.find("role"); role != claims.end()) {
    if (!role->is_string() || role->get_ref<const std::string&>().empty()) {
      return std::string("role is not a name");
    }
    out.role = role->get<std::string>();
  }
  return out;
}

}  // namespace tb
