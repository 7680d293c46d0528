// Signed ticket codes (signed_code.hpp): the format round trip, and hostile codes (a flipped
// bit, a wrong key, another payload's signature, truncated, oversized, bad base32) refused.
#include "signed_code.hpp"

#include <gtest/gtest.h>

namespace tb {
namespace {

CodeClaims sample() {
  CodeClaims c;
  c.code = "TB7QK2M9XW4R";
  c.max_entries = 2;
  c.reentry = true;
  c.valid_from = parse_rfc3339("2026-12-05T18:00:00.000Z");
  c.valid_until = parse_rfc3339("2026-12-06T02:00:00.123Z");
  c.gates = {"north", "south"};
  return c;
}

DecodedCode decoded(const std::string& text) {
  auto d = decode_signed_code(text);
  if (auto* why = std::get_if<std::string>(&d)) ADD_FAILURE() << text << ": " << *why;
  return std::get<DecodedCode>(std::move(d));
}

VerifyKey verify_key(const SigningKey& k) {
  return VerifyKey{k.key_id(), k.public_key()};
}

TEST(Base32, MatchesRfc4648AndRefusesOtherText) {
  const std::string foobar = "foobar";
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(foobar.data());
  EXPECT_EQ(base32_encode(bytes, 6), "MZXW6YTBOI");
  EXPECT_EQ(base32_encode(bytes, 1), "MY");
  const auto back = base32_decode("mzxw6ytboi");  // either case
  ASSERT_TRUE(back);
  EXPECT_EQ(std::string(back->begin(), back->end()), foobar);
  for (const char* bad : {"MY======", "M0", "M1", "M8", "MZ", "M", "MZX W6"}) {
    EXPECT_FALSE(base32_decode(bad)) << bad;  // padding, other letters, stray bits, odd length
  }
}

TEST(SignedCode, RoundTripsEveryClaimAndVerifies) {
  const auto key = SigningKey::generate();
  const std::string code = key.sign(sample());
  EXPECT_EQ(code.rfind("TB1.", 0), 0U);
  EXPECT_TRUE(looks_signed(code));
  const auto d = decoded(code);
  EXPECT_EQ(d.claims.code, "TB7QK2M9XW4R");
  EXPECT_EQ(d.claims.max_entries, 2);
  EXPECT_TRUE(d.claims.reentry);
  EXPECT_EQ(d.claims.valid_from, sample().valid_from);
  EXPECT_EQ(d.claims.valid_until, sample().valid_until);
  EXPECT_EQ(d.claims.gates, sample().gates);
  EXPECT_EQ(d.key_id, key.key_id());
  EXPECT_EQ(d.canonical, code);
  EXPECT_TRUE(verify_signed_code(d, {verify_key(key)}));
  EXPECT_EQ(plain_code_of(code), "TB7QK2M9XW4R");
  // Ed25519 is deterministic: the same ticket signs to the same code.
  EXPECT_EQ(key.sign(sample()), code);
}

TEST(SignedCode, ATicketWithoutOptionalFieldsIsShort) {
  const auto key = SigningKey::generate();
  CodeClaims c;
  c.code = "TB7QK2M9XW4R";
  const std::string code = key.sign(c);
  const auto d = decoded(code);
  EXPECT_FALSE(d.claims.valid_from);
  EXPECT_FALSE(d.claims.valid_until);
  EXPECT_TRUE(d.claims.gates.empty());
  EXPECT_EQ(d.claims.max_entries, 1);
  EXPECT_FALSE(d.claims.reentry);
  // 4 + 1 + 1 + 1 + 13 payload bytes and 64 of signature, in base32, after "TB1.".
  EXPECT_EQ(code.size(), 4U + (84U * 8 + 4) / 5);
}

TEST(SignedCode, LowerCaseReadsAsTheSameCanonicalCode) {
  const auto key = SigningKey::generate();
  const std::string code = key.sign(sample());
  std::string lower = code;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto d = decoded(lower);
  EXPECT_EQ(d.canonical, code);
  EXPECT_TRUE(verify_signed_code(d, {verify_key(key)}));
}

TEST(SignedCode, EveryFlippedBitIsRefused) {
  const auto key = SigningKey::generate();
  const std::string code = key.sign(sample());
  const auto body = base32_decode(code.substr(4));
  ASSERT_TRUE(body);
  int decoded_but_refused = 0;
  for (std::size_t byte = 0; byte < body->size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      auto flipped = *body;
      flipped[byte] ^= static_cast<std::uint8_t>(1 << bit);
      const std::string text = "TB1." + base32_encode(flipped.data(), flipped.size());
      auto d = decode_signed_code(text);
      if (auto* ok = std::get_if<DecodedCode>(&d)) {
        ++decoded_but_refused;
        EXPECT_FALSE(verify_signed_code(*ok, {verify_key(key)})) << byte << ":" << bit;
        EXPECT_NE(ok->canonical, code);
      }
    }
  }
  EXPECT_GT(decoded_but_refused, 0);  // most flips still parse: the signature is what refuses
}

TEST(SignedCode, AnotherKeyOrAnotherPayloadsSignatureIsRefused) {
  const auto key = SigningKey::generate();
  const auto other = SigningKey::generate();
  const auto d = decoded(key.sign(sample()));
  EXPECT_FALSE(verify_signed_code(d, {verify_key(other)}));
  // The other key under this key's id: the signature itself fails.
  EXPECT_FALSE(verify_signed_code(d, {VerifyKey{key.key_id(), other.public_key()}}));
  EXPECT_TRUE(verify_signed_code(d, {verify_key(other), verify_key(key)}));

  // A valid signature, moved onto another ticket's payload.
  CodeClaims changed = sample();
  changed.max_entries = 0;
  auto forged = decoded(key.sign(changed));
  forged.signature = d.signature;
  EXPECT_FALSE(verify_signed_code(forged, {verify_key(key)}));
}

TEST(SignedCode, TruncatedOversizedAndGarbageCodesAreRefusedWithAReason) {
  const auto key = SigningKey::generate();
  const std::string code = key.sign(sample());
  for (std::size_t n = 0; n < code.size(); ++n) {
    auto d = decode_signed_code(code.substr(0, n));
    if (auto* ok = std::get_if<DecodedCode>(&d)) {
      EXPECT_FALSE(verify_signed_code(*ok, {verify_key(key)})) << n;
    } else {
      EXPECT_FALSE(std::get<std::string>(d).empty());
    }
  }
  const std::string oversized = "TB1." + std::string(kMaxSignedCodeLength, 'A');
  EXPECT_NE(std::get<std::string>(decode_signed_code(oversized)).find("512"), std::string::npos);
  const std::vector<std::string> bad_codes = {"TB1.",
                                              "TB1.!!!!",
                                              "TB1.AAAA====",
                                              "TB1." + code.substr(4) + "A",
                                              "TB1." + code.substr(4) + "AAAAAAAA",
                                              "TB2." + code.substr(4)};
  for (const auto& bad : bad_codes) {
    EXPECT_TRUE(std::holds_alternative<std::string>(decode_signed_code(bad))) << bad;
  }
  EXPECT_FALSE(plain_code_of("TB1.AAAA"));
  EXPECT_EQ(plain_code_of("TB7QK2M9XW4R"), "TB7QK2M9XW4R");  // a plain code names itself
}

TEST(SignedCode, WhatDoesNotFitIsRefusedAtSigning) {
  const auto key = SigningKey::generate();
  CodeClaims c = sample();
  c.gates = {std::string(256, 'g')};
  EXPECT_THROW(key.sign(c), std::invalid_argument);
  c.gates.assign(64, std::string(100, 'g'));  // fine one by one, too long together
  EXPECT_THROW(key.sign(c), std::invalid_argument);
  c = sample();
  c.code = "TB1.NESTED";
  EXPECT_THROW(key.sign(c), std::invalid_argument);
}

TEST(SignedCode, KeysRoundTripThroughPem) {
  const auto key = SigningKey::generate();
  const auto again = SigningKey::from_pem(key.private_pem());
  EXPECT_EQ(again.key_id(), key.key_id());
  const auto pub = verify_key_from_pem(key.public_pem());
  EXPECT_EQ(pub.key_id, key.key_id());
  EXPECT_EQ(pub.key, key.public_key());
  EXPECT_TRUE(verify_signed_code(decoded(again.sign(sample())), {pub}));
  EXPECT_THROW(SigningKey::from_pem("not a key"), std::runtime_error);
  EXPECT_THROW(SigningKey::from_pem(key.public_pem()), std::runtime_error);
  EXPECT_THROW(verify_key_from_pem(key.private_pem()), std::runtime_error);
}

}  // namespace
}  // namespace tb
