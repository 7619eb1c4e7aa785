#include "dataplane/fs/page_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace sluice::fs {
namespace {

// A file on the test's disk (TEST_TMPDIR: not tmpfs, whose pages can never
// be dropped), written and synced so that its clean pages can be dropped.
class PageCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* dir = std::getenv("TEST_TMPDIR");
    path_ = std::string(dir != nullptr ? dir : "/tmp") + "/page_cache_test.bin";
    fd_ = open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd_, 0);
    std::string block(1 << 20, 'x');
    ASSERT_EQ(write(fd_, block.data(), block.size()), static_cast<ssize_t>(block.size()));
    ASSERT_EQ(fsync(fd_), 0);
  }
  void TearDown() override {
    if (fd_ >= 0) close(fd_);
    unlink(path_.c_str());
  }
  // True when the kernel really dropped the pages (tmpfs and overlay
  // upper layers on tmpfs keep them).
  bool Drop() {
    posix_fadvise(fd_, 0, 0, POSIX_FADV_DONTNEED);
    return RangeResidency(fd_, 0, 1 << 20) == Residency::kNotResident;
  }
  std::string path_;
  int fd_ = -1;
};

TEST_F(PageCacheTest, WrittenFileIsResident) {
  const Residency r = RangeResidency(fd_, 0, 1 << 20);
  if (r == Residency::kUnknown) GTEST_SKIP() << "no cachestat(2) on this kernel";
  EXPECT_EQ(r, Residency::kResident);
  EXPECT_EQ(RangeResidency(fd_, 4096 * 3 + 17, 10), Residency::kResident);
  EXPECT_EQ(RangeResidency(fd_, 0, 0), Residency::kResident);
}

TEST_F(PageCacheTest, DroppedPagesAreMissingUntilWarmed) {
  if (RangeResidency(fd_, 0, 1) == Residency::kUnknown) GTEST_SKIP() << "no cachestat(2) on this kernel";
  if (!Drop()) GTEST_SKIP() << "this filesystem keeps its pages (tmpfs)";
  // (The kernel's readahead may bring in more than was read: only the
  // warmed range is sure to be in.)
  EXPECT_EQ(RangeResidency(fd_, 512 * 1024, 4096), Residency::kNotResident);
  ASSERT_TRUE(WarmRange(fd_, 512 * 1024, 256 * 1024));
  EXPECT_EQ(RangeResidency(fd_, 512 * 1024, 256 * 1024), Residency::kResident);
  ASSERT_TRUE(WarmRange(fd_, 0, 1 << 20));
  EXPECT_EQ(RangeResidency(fd_, 0, 1 << 20), Residency::kResident);
}

TEST_F(PageCacheTest, WarmingPastTheEndStopsAtTheEnd) {
  EXPECT_TRUE(WarmRange(fd_, (1 << 20) - 10, 1 << 20));
  EXPECT_FALSE(WarmRange(-1, 0, 10));
}

}  // namespace
}  // namespace sluice::fs
