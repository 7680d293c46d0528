// The reader thread: jobs run in order on its own connection, a throwing job does not stop it,
// and the stop runs what was queued.
#include "read_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include "process.hpp"
#include "sqlite_store.hpp"

namespace tb {
namespace {

TEST(ReadPool, RunsJobsInOrderAndSurvivesAThrowingOne) {
  tbtest::TempDir dir;
  {
    SqliteStore writer(dir.file("r.db"));
    Ticket t;
    t.code = "R1";
    t.uid = "7";
    writer.insert_ticket(t);
  }
  ReadPool pool(std::make_unique<SqliteStore>(dir.file("r.db")));
  std::mutex mu;
  std::vector<std::string> seen;
  pool.submit([&](Store& s) {
    std::lock_guard lock(mu);
    seen.push_back(s.find_ticket("R1") ? "found" : "missing");
  });
  pool.submit([](Store&) { throw std::runtime_error("a failing read"); });
  for (int i = 0; i < 3; ++i) {
    pool.submit([&, i](Store&) {
      std::lock_guard lock(mu);
      seen.push_back(std::to_string(i));
    });
  }
  pool.stop();  // runs what was queued first
  EXPECT_EQ(seen, (std::vector<std::string>{"found", "0", "1", "2"}));
  std::atomic<bool> ran{false};
  pool.submit([&](Store&) { ran = true; });  // after the stop: dropped, never run
  EXPECT_FALSE(ran);
}

}  // namespace
}  // namespace tb
