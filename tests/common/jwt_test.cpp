// Tokens: signing, verification and the forgeries a client may try.
#include "jwt.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace tb {
namespace {

constexpr std::string_view kSecret = "s3cret-s3cret-s3cret-s3cret-0001";
constexpr std::int64_t kNow = 1'800'000'000;

std::string uid_of(const std::variant<TokenClaims, std::string>& v) {
  if (const auto* c = std::get_if<TokenClaims>(&v)) return c->uid;
  return "refused: " + std::get<std::string>(v);
}

TEST(Jwt, SignAndVerify) {
  const auto token = sign_token("42", 3600, kSecret, kNow);
  const auto v = verify_token(token, kSecret, kNow + 10);
  ASSERT_TRUE(std::holds_alternative<TokenClaims>(v)) << uid_of(v);
  EXPECT_EQ(std::get<TokenClaims>(v).uid, "42");
  EXPECT_EQ(std::get<TokenClaims>(v).exp, kNow + 3600);
}

TEST(Jwt, Refusals) {
  const auto good = sign_token("42", 3600, kSecret, kNow);
  const auto dot2 = good.rfind('.');
  const auto dot1 = good.find('.');
  const std::string header_b64 = good.substr(0, dot1);
  const std::string claims_b64 = good.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string sig_b64 = good.substr(dot2 + 1);

  // Other uid's claims under the same signature.
  const std::string other_claims =
      base64url_encode(nlohmann::json{{"sub", "43"}, {"exp", kNow + 3600}}.dump());
  const std::string none_header = base64url_encode(R"({"alg":"none","typ":"JWT"})");
  const std::string hs512_header = base64url_encode(R"({"alg":"HS512","typ":"JWT"})");

  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty", ""},
      {"garbage", "abc"},
      {"two parts", header_b64 + "." + claims_b64},
      {"four parts", good + ".x"},
      {"wrong secret", sign_token("42", 3600, "another-secret-another-secret-00", kNow)},
      {"expired", sign_token("42", 10, kSecret, kNow - 11)},
      {"expires now", sign_token("42", 10, kSecret, kNow - 10)},
      {"other uid, reused signature", header_b64 + "." + other_claims + "." + sig_b64},
      {"alg none, no signature", none_header + "." + claims_b64 + "."},
      {"alg none, old signature", none_header + "." + claims_b64 + "." + sig_b64},
      {"alg HS512", hs512_header + "." + claims_b64 + "." + sig_b64},
      {"truncated signature", good.substr(0, good.size() - 2)},
      {"bad base64", header_b64 + "." + claims_b64 + ".!!!!"},
  };
  for (const auto& [name, token] : cases) {
    EXPECT_TRUE(std::holds_alternative<std::string>(verify_token(token, kSecret, kNow)))
        << name << " was accepted";
  }
}

TEST(Jwt, CorrectlySignedButInvalidClaims) {
  const std::string hs256 = R"({"alg":"HS256","typ":"JWT"})";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"missing exp", R"({"sub":"42"})"},
      {"exp as string", R"({"sub":"42","exp":"1900000000"})"},
      {"missing sub", R"({"exp":1900000000})"},
      {"numeric sub", R"({"sub":42,"exp":1900000000})"},
      {"sub with a slash", R"({"sub":"4/2","exp":1900000000})"},
      {"sub with a wildcard", R"({"sub":"#","exp":1900000000})"},
      {"empty sub", R"({"sub":"","exp":1900000000})"},
      {"nbf in the future", R"({"sub":"42","exp":1900000000,"nbf":1850000000})"},
      {"claims not an object", R"(["42"])"},
      {"code not a string", R"({"sub":"42","exp":1900000000,"code":7})"},
      {"code with a wildcard", R"({"sub":"42","exp":1900000000,"code":"T+1"})"},
      {"empty code", R"({"sub":"42","exp":1900000000,"code":""})"},
      {"role not a string", R"({"sub":"42","exp":1900000000,"role":true})"},
      {"claims not JSON", "sub=42"},
  };
  for (const auto& [name, claims] : cases) {
    EXPECT_TRUE(std::holds_alternative<std::string>(
        verify_token(sign_jwt(hs256, claims, kSecret), kSecret, kNow)))
        << name << " was accepted";
  }
  EXPECT_TRUE(std::holds_alternative<std::string>(verify_token(
      sign_jwt(R"({"alg":"HS256","crit":["x"]})", R"({"sub":"42","exp":1900000000})", kSecret),
      kSecret, kNow)));
  // The same construction with valid claims is accepted: the cases above fail for their claims.
  EXPECT_EQ(uid_of(verify_token(
                sign_jwt(hs256, R"({"sub":"42","exp":1900000000,"nbf":1700000000})", kSecret),
                kSecret, kNow)),
            "42");
}

TEST(Jwt, ScopedAndRoleClaims) {
  const auto scoped = verify_token(sign_token("42", 60, kSecret, kNow, "TB7QK2"), kSecret, kNow);
  ASSERT_TRUE(std::holds_alternative<TokenClaims>(scoped)) << uid_of(scoped);
  EXPECT_EQ(std::get<TokenClaims>(scoped).code, "TB7QK2");
  EXPECT_FALSE(std::get<TokenClaims>(scoped).whole_uid());
  const auto plain = verify_token(sign_token("42", 60, kSecret, kNow), kSecret, kNow);
  EXPECT_TRUE(std::get<TokenClaims>(plain).whole_uid());
  EXPECT_EQ(std::get<TokenClaims>(plain).code, "");
  const auto op =
      verify_token(sign_jwt(R"({"alg":"HS256"})",
                            R"({"sub":"ops","exp":1900000000,"role":"operator"})", kSecret),
                   kSecret, kNow);
  ASSERT_TRUE(std::holds_alternative<TokenClaims>(op)) << uid_of(op);
  EXPECT_EQ(std::get<TokenClaims>(op).role, "operator");
  EXPECT_FALSE(std::get<TokenClaims>(op).whole_uid());
}

TEST(Jwt, Base64UrlRoundTrip) {
  for (const std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\x00\xfe"}) {
    EXPECT_EQ(base64url_decode(base64url_encode(s)), s);
  }
  EXPECT_FALSE(base64url_decode("a"));
  EXPECT_FALSE(base64url_decode("ab+c"));
  EXPECT_FALSE(base64url_decode("Zh"));  // non-zero padding bits: "Zg" is the canonical form
}

}  // namespace
}  // namespace tb
