// The reconnect policy: jittered, doubling, capped, and back to the start after a success.
#include "backoff.hpp"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace tb {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, DoublesWithJitterUpToTheMaximum) {
  Backoff b(milliseconds(100), milliseconds(1000));
  const std::vector<int> bases = {100, 200, 400, 800, 1000, 1000};
  for (const int base : bases) {
    const auto d = b.next().count();
    EXPECT_GE(d, base / 2) << "base " << base;
    EXPECT_LT(d, base * 3 / 2) << "base " << base;
  }
}

TEST(Backoff, ASuccessStartsOver) {
  Backoff b(milliseconds(100), milliseconds(10000));
  for (int i = 0; i < 6; ++i) b.next();
  b.reset();
  EXPECT_LT(b.next().count(), 150);
}

TEST(Backoff, TheJitterSpreadsClients) {
  // 50 clients that lost the same broker do not all come back at the same moment.
  std::set<long> first;
  for (int i = 0; i < 50; ++i)
    first.insert(Backoff(milliseconds(1000), milliseconds(2000)).next().count());
  EXPECT_GT(first.size(), 10U);
}

}  // namespace
}  // namespace tb
