// Rotating codes (rotating_code.hpp): RFC 6238's own test values, the window of tolerance, the
// per-ticket secret, and splitting a scanned text at its value.
#include "rotating_code.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace tb {
namespace {

TEST(RotatingValue, IsRfc6238WithHmacSha256AndEightDigits) {
  // RFC 6238 appendix B: the SHA-256 seed, 30-second steps; the step counter is T / 30.
  RotatingSecret seed{};
  std::memcpy(seed.data(), "12345678901234567890123456789012", seed.size());
  const std::pair<std::int64_t, const char*> vectors[] = {
      {59, "46119246"},         {1111111109, "68084774"}, {1111111111, "67062674"},
      {1234567890, "91819424"}, {2000000000, "90698825"}, {20000000000, "77737706"}};
  for (const auto& [t, expected] : vectors) EXPECT_EQ(rotating_value(seed, t / 30), expected) << t;
}

TEST(RotatingValue, StepsAreFifteenSecondsFromTheEpoch) {
  EXPECT_EQ(rotating_step(0), 0);
  EXPECT_EQ(rotating_step(14'999), 0);
  EXPECT_EQ(rotating_step(15'000), 1);
  EXPECT_EQ(rotating_step(-1), -1);  // floor, not truncation
}

TEST(RotatingValue, IsFreshWithinOneStepEitherSideAndNoFurther) {
  const auto secret = ticket_rotating_secret(generate_rotating_key(), "TB7QK2M9XW4R");
  const Millis shown = 1'800'000'000'000;  // a step boundary: 15 s divides it
  const std::string value = rotating_value(secret, rotating_step(shown));
  EXPECT_TRUE(rotating_value_fresh(secret, value, shown));
  EXPECT_TRUE(rotating_value_fresh(secret, value, shown + 29'999));   // the next step
  EXPECT_TRUE(rotating_value_fresh(secret, value, shown - 15'000));   // a gate clock behind
  EXPECT_FALSE(rotating_value_fresh(secret, value, shown + 30'000));  // two steps on: a copy
  EXPECT_FALSE(rotating_value_fresh(secret, value, shown + 40'000));
  EXPECT_FALSE(rotating_value_fresh(secret, value, shown - 15'001));
  EXPECT_FALSE(rotating_value_fresh(secret, "", shown));
  EXPECT_FALSE(rotating_value_fresh(secret, value.substr(0, 7), shown));
}

TEST(RotatingSecret, DiffersByTicketAndByKey) {
  const auto key = generate_rotating_key();
  const auto a = ticket_rotating_secret(key, "AAAA");
  EXPECT_EQ(a, ticket_rotating_secret(key, "AAAA"));
  EXPECT_NE(a, ticket_rotating_secret(key, "AAAB"));
  EXPECT_NE(a, ticket_rotating_secret(generate_rotating_key(), "AAAA"));
}

TEST(RotatingKey, RoundTripsAsHexAndRefusesAnythingElse) {
  const auto key = generate_rotating_key();
  const std::string text = rotating_key_text(key);
  EXPECT_EQ(text.size(), 65U);
  EXPECT_EQ(rotating_key_from_text("  " + text + "\n"), key);
  EXPECT_EQ(rotating_key_id(key).size(), 8U);
  for (const std::string& bad :
       {std::string(), text.substr(0, 62), text.substr(0, 63) + "g", text.substr(0, 64) + "0"}) {
    EXPECT_THROW(rotating_key_from_text(bad), std::runtime_error) << bad;
  }
}

TEST(SplitRotating, OnlyASignedCodeCarriesAValue) {
  auto parts = [](std::string_view text) {
    auto s = split_rotating(text);
    if (auto* why = std::get_if<std::string>(&s)) ADD_FAILURE() << text << ": " << *why;
    return std::get<SplitCode>(s);
  };
  // A plain code may hold dots: it is all code.
  EXPECT_EQ(parts("A.12345678").code, "A.12345678");
  EXPECT_FALSE(parts("A.12345678").value);
  EXPECT_FALSE(parts("TB1.ABCDEF").value);
  const auto signed_with = parts("TB1.ABCDEF.01234567");
  EXPECT_EQ(signed_with.code, "TB1.ABCDEF");
  EXPECT_EQ(signed_with.value, "01234567");
  for (const char* bad : {"TB1.ABCDEF.", "TB1.ABCDEF.1234567", "TB1.ABCDEF.123456789",
                          "TB1.ABCDEF.1234567X", "TB1.AB.CD.12345678x"}) {
    EXPECT_TRUE(std::holds_alternative<std::string>(split_rotating(bad))) << bad;
  }
}

TEST(ScannedSignedCode, CarriesTheRotatingFlagAndValueAndRefusesOversizedText) {
  const auto key = SigningKey::generate();
  CodeClaims c;
  c.code = "TB7QK2M9XW4R";
  c.rotating = true;
  const std::string code = key.sign(c);
  auto d = decode_scanned_signed_code(code + ".12345678");
  ASSERT_TRUE(std::holds_alternative<ScannedSignedCode>(d));
  const auto& s = std::get<ScannedSignedCode>(d);
  EXPECT_TRUE(s.code.claims.rotating);
  EXPECT_EQ(s.code.canonical, code);
  EXPECT_EQ(s.rotating_value, "12345678");
  EXPECT_FALSE(std::get<ScannedSignedCode>(decode_scanned_signed_code(code)).rotating_value);
  EXPECT_EQ(plain_code_of(code + ".12345678"), "TB7QK2M9XW4R");  // as a command takes it
  EXPECT_FALSE(plain_code_of(code + ".1234"));
  const std::string huge = code + std::string(kMaxSignedCodeLength, 'A') + ".12345678";
  EXPECT_TRUE(std::holds_alternative<std::string>(decode_scanned_signed_code(huge)));
}

TEST(ScannedSignedCode, ARotatingTicketLeavesRoomForItsValue) {
  // A signed code of 504 to 512 characters fits a scan alone, but not with its value. A gate
  // name one character longer makes the code one or two characters longer: one of them lands
  // between the two limits.
  const auto key = SigningKey::generate();
  CodeClaims c;
  c.code = "TB7QK2M9XW4R";
  for (std::size_t n = 1; n <= 128; ++n) {
    c.gates = {std::string(128, 'G'), std::string(n, 'H')};
    c.rotating = false;
    const auto size = key.sign(c).size();
    c.rotating = true;
    if (size > kMaxSignedCodeLength - kRotatingSuffixLength && size <= kMaxSignedCodeLength) {
      EXPECT_THROW(key.sign(c), std::invalid_argument) << size;
      return;
    }
    if (size <= kMaxSignedCodeLength - kRotatingSuffixLength) {
      EXPECT_LE(key.sign(c).size() + kRotatingSuffixLength, kMaxSignedCodeLength);
    }
  }
  FAIL() << "no ticket between the two limits was tried";
}

}  // namespace
}  // namespace tb
