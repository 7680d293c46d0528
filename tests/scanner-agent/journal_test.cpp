// The on-disk queue: order, unique ids across restarts, and the bound.
#include "journal.hpp"

#include <gtest/gtest.h>

#include "process.hpp"

namespace sa {
namespace {

TEST(Journal, QueuesInOrderWithUniqueIdsAcrossRestartsAndABound) {
  tbtest::TempDir dir;
  std::vector<std::string> ids;
  {
    Journal j(dir.file("j.db"));
    for (int i = 0; i < 3; ++i) {
      auto q =
          j.add("gate-1", "C" + std::to_string(i), 3, [](const std::string& id) { return id; });
      ASSERT_TRUE(q);
      EXPECT_EQ(q->payload, q->scan_id);
      ids.push_back(q->scan_id);
    }
    EXPECT_FALSE(j.add("gate-1", "C3", 3, [](const std::string& id) { return id; }));  // full
    EXPECT_TRUE(j.remove(ids[1]));
    EXPECT_FALSE(j.remove(ids[1]));
  }
  Journal j(dir.file("j.db"));
  const auto left = j.all();
  ASSERT_EQ(left.size(), 2U);
  EXPECT_EQ(left[0].scan_id, ids[0]);
  EXPECT_EQ(left[1].scan_id, ids[2]);
  auto q = j.add("gate-1", "C4", 3, [](const std::string& id) { return id; });
  ASSERT_TRUE(q);
  for (const auto& id : ids) EXPECT_NE(q->scan_id, id);  // the counter survives the restart
  EXPECT_EQ(q->scan_id.rfind("gate-1:", 0), 0U);
  // Another journal (another machine with the same scanner id) makes other ids.
  Journal other(dir.file("other.db"));
  auto o = other.add("gate-1", "C0", 3, [](const std::string& id) { return id; });
  EXPECT_NE(o->scan_id, ids[0]);
}

}  // namespace
}  // namespace sa
