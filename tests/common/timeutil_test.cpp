// RFC 3339 parsing and formatting.
#include "timeutil.hpp"

#include <gtest/gtest.h>

namespace tb {
namespace {

TEST(TimeUtil, FormatsUtcWithMilliseconds) {
  EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_rfc3339(1795633331123), "2026-11-25T19:02:11.123Z");
  EXPECT_EQ(format_rfc3339(951782400000), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(format_rfc3339(-1), "1969-12-31T23:59:59.999Z");
}

TEST(TimeUtil, ParsesVariants) {
  EXPECT_EQ(parse_rfc3339("2026-11-25T19:02:11.123Z"), 1795633331123);
  EXPECT_EQ(parse_rfc3339("2026-11-25T19:02:11Z"), 1795633331000);
  EXPECT_EQ(parse_rfc3339("2026-11-25t19:02:11.1z"), 1795633331100);
  EXPECT_EQ(parse_rfc3339("2026-11-25T20:02:11.123+01:00"), 1795633331123);
  EXPECT_EQ(parse_rfc3339("2026-11-25T14:02:11.123456789-05:00"), 1795633331123);
}

TEST(TimeUtil, RoundTrips) {
  for (Millis t : {Millis{0}, Millis{1}, Millis{1795633331123}, Millis{4102444799999}}) {
    EXPECT_EQ(parse_rfc3339(format_rfc3339(t)), t);
  }
}

TEST(TimeUtil, RejectsBadInput) {
  for (const char* s :
       {"", "2026-11-25", "2026-11-25T19:02:11", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z",
        "2026-11-25T24:00:00Z", "2026-11-25T19:60:00Z", "2026-11-25T19:02:11.Z",
        "2026-11-25T19:02:11.123Zjunk", "2026-11-25T19:02:11+0100", " 2026-11-25T19:02:11Z",
        "2026/11/25T19:02:11Z", "2026-11-25T19:02:11.1234567890Z"}) {
    EXPECT_FALSE(parse_rfc3339(s)) << s;
  }
}

}  // namespace
}  // namespace tb
