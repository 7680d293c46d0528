// The ticket page's QR code (qr.cpp): how large a signed code's is, and that it is read back.
#include "qr.hpp"

#include <gtest/gtest.h>

#include "signed_code.hpp"
#include "ticket.hpp"

namespace tb {
namespace {

// docs/offline.md quotes these sizes: a random 12-character code with a validity window and two
// gates signs to 177 characters, which the alphanumeric mode fits in version 7 (45 x 45 modules)
// at error correction M; in byte mode it would need version 9 (53 x 53).
TEST(Qr, ATypicalSignedCodeFitsVersionSeven) {
  const auto key = SigningKey::generate();
  Ticket t;
  t.code = random_ticket_code();
  t.valid_from = parse_rfc3339("2026-12-05T18:00:00Z");
  t.valid_until = parse_rfc3339("2026-12-06T02:00:00Z");
  t.gates = {"north", "south"};
  sign_ticket(t, key);
  ASSERT_TRUE(t.signed_code);
  EXPECT_EQ(t.signed_code->size(), 177U);
  EXPECT_EQ(qr_version(*t.signed_code), 7);
  EXPECT_EQ(qr_version(t.code), 1);  // the plain code alone
  Ticket bare;
  bare.code = t.code;
  sign_ticket(bare, key);
  EXPECT_LE(qr_version(*bare.signed_code), 6);
  const auto svg = qr_svg(*t.signed_code);
  EXPECT_NE(svg.find("viewBox=\"0 0 53 53\""), std::string::npos);  // 45 modules, 4 of quiet zone
}

}  // namespace
}  // namespace tb
