// Secret files: generated once with mode 0600, trimmed when read, refused when empty or missing.
#include "secrets.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "process.hpp"

namespace tb {
namespace {

TEST(Secrets, GeneratedOnceReadAfterwards) {
  tbtest::TempDir dir;
  const auto path = dir.file("deep/er/secret");
  const auto first = load_secret(path, true, "test secret");
  EXPECT_EQ(first.size(), 64U);  // 32 random bytes in hex
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  EXPECT_EQ(load_secret(path, true, "test secret"), first);  // not generated again
  EXPECT_EQ(load_secret(path, false, "test secret"), first);
}

TEST(Secrets, WhiteSpaceAroundIsTrimmedAndEmptyOrMissingIsRefused) {
  tbtest::TempDir dir;
  std::ofstream(dir.file("s")) << "  a-secret-of-some-length \n\n";
  EXPECT_EQ(load_secret(dir.file("s"), false, "key"), "a-secret-of-some-length");
  std::ofstream(dir.file("empty")) << " \n";
  EXPECT_THROW(load_secret(dir.file("empty"), false, "key"), std::runtime_error);
  EXPECT_THROW(load_secret(dir.file("missing"), false, "key"), std::runtime_error);
}

}  // namespace
}  // namespace tb
