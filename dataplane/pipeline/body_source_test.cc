#include "dataplane/pipeline/body_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "dataplane/fs/page_cache.h"
#include "dataplane/pipeline/io_pool.h"

namespace sluice::pipeline {
namespace {

// Everything a source gives, `max` bytes at a time, as a client taking
// `max` bytes per writable event would pull it.
std::string Drain(BodySource& source, size_t max, size_t* calls = nullptr) {
  std::string out;
  for (size_t i = 0; i < 100000; ++i) {
    BodySource::Chunk chunk = source.Next(max);
    EXPECT_LE(chunk.data.size(), max);
    EXPECT_FALSE(chunk.failed);
    out.append(chunk.data);
    if (calls != nullptr) ++*calls;
    if (chunk.end || chunk.failed) break;
  }
  return out;
}

TEST(MemoryBodySourceTest, GivesNoMoreThanAskedAndEndsWithTheLastBytes) {
  MemoryBodySource source(std::string(10, 'x') + "end");
  EXPECT_EQ(source.length(), 13);
  size_t calls = 0;
  EXPECT_EQ(Drain(source, 4, &calls), "xxxxxxxxxxend");
  EXPECT_EQ(calls, 4u);
}

class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/sluice-body-XXXXXX";
    fd_ = mkstemp(name);
    path_ = name;
    EXPECT_EQ(write(fd_, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  }
  ~TempFile() {
    close(fd_);
    unlink(path_.c_str());
  }
  int OpenForRead() const { return open(path_.c_str(), O_RDONLY | O_CLOEXEC); }
  void Truncate(off_t size) const { EXPECT_EQ(ftruncate(fd_, size), 0); }

 private:
  int fd_;
  std::string path_;
};

TEST(FileBodySourceTest, StreamsARangeInBlocksNoLargerThanAsked) {
  std::string content;
  for (int i = 0; i < 300000; ++i) content.push_back(static_cast<char>('a' + i % 26));
  TempFile file(content);
  FileBodySource whole(file.OpenForRead(), 0, content.size(), 64 * 1024);
  size_t calls = 0;
  EXPECT_EQ(Drain(whole, 16 * 1024, &calls), content);
  EXPECT_GE(calls, content.size() / (16 * 1024));
  FileBodySource range(file.OpenForRead(), 1000, 5000);
  EXPECT_EQ(Drain(range, 1 << 20), content.substr(1000, 5000));
}

TEST(FileBodySourceTest, AFileThatShrankFailsInsteadOfEndingEarly) {
  TempFile file(std::string(10000, 'z'));
  FileBodySource source(file.OpenForRead(), 0, 10000, 4096);
  BodySource::Chunk first = source.Next(4096);
  EXPECT_EQ(first.data.size(), 4096u);
  file.Truncate(5000);
  BodySource::Chunk second = source.Next(4096);
  EXPECT_EQ(second.data.size(), 5000u - 4096u);
  BodySource::Chunk third = source.Next(4096);
  EXPECT_TRUE(third.failed);
  EXPECT_FALSE(third.end);
  EXPECT_FALSE(source.error().ok());
}

// The worker's I/O threads, held still: the test runs each job's work on a
// thread of its own, then its `done` half, when it chooses (as the loop
// would, later).
class HeldIoOffload final : public IoOffload {
 public:
  bool Submit(std::function<void()> work, std::function<void()> done) override {
    if (full) return false;
    jobs.emplace_back(std::move(work), std::move(done));
    return true;
  }
  void RunAll() {
    std::vector<std::pair<std::function<void()>, std::function<void()>>> now = std::move(jobs);
    jobs.clear();
    for (auto& [work, done] : now) {
      std::thread(work).join();
      done();
    }
  }
  bool full = false;
  std::vector<std::pair<std::function<void()>, std::function<void()>>> jobs;
};

// A file on the test's disk (TEST_TMPDIR, not tmpfs) whose pages the
// kernel dropped: sending it from the loop would wait on the disk.
class ColdFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* dir = std::getenv("TEST_TMPDIR");
    path_ = std::string(dir != nullptr ? dir : "/tmp") + "/cold_body.bin";
    for (int i = 0; i < 3 * (1 << 20); ++i) content_.push_back(static_cast<char>('a' + i % 23));
    int fd = open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, content_.data(), content_.size()), static_cast<ssize_t>(content_.size()));
    ASSERT_EQ(fsync(fd), 0);
    close(fd);
  }
  void TearDown() override { unlink(path_.c_str()); }
  // A descriptor on the file with its pages dropped, or -1 (then the test
  // skips: no cachestat(2) before Linux 6.5, or a filesystem that keeps them).
  int OpenCold() {
    int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    if (fs::RangeResidency(fd, 0, content_.size()) != fs::Residency::kNotResident) {
      close(fd);
      return -1;
    }
    return fd;
  }
  std::string path_;
  std::string content_;
};

TEST_F(ColdFileTest, PagesNotInMemoryAreReadInOffTheLoopBeforeTheyAreSent) {
  const int fd = OpenCold();
  if (fd < 0) GTEST_SKIP() << "cannot drop this file's pages here";
  HeldIoOffload io;
  std::atomic<uint64_t> offloaded{0};
  int woken = 0;
  FileBodySource source(fd, 0, content_.size());
  source.SetReady([&] { ++woken; });
  source.OffloadReadsTo(&io, &offloaded);

  // Neither sendfile nor pread may touch the cold range: nothing now.
  BodySource::FileRange range;
  EXPECT_FALSE(source.NextFileRange(&range));
  BodySource::Chunk chunk = source.Next(64 * 1024);
  EXPECT_TRUE(chunk.data.empty());
  EXPECT_FALSE(chunk.end);
  EXPECT_FALSE(chunk.failed);
  ASSERT_EQ(io.jobs.size(), 1u);  // one read-in, however often it was asked
  EXPECT_EQ(offloaded.load(), 1u);
  EXPECT_EQ(woken, 0);

  io.RunAll();
  EXPECT_EQ(woken, 1);
  EXPECT_EQ(fs::RangeResidency(fd, 0, 1 << 20), fs::Residency::kResident);
  // The first megabyte goes out as a file range (sendfile) from where it was.
  ASSERT_TRUE(source.NextFileRange(&range));
  EXPECT_EQ(range.fd, fd);
  EXPECT_EQ(range.offset, 0u);
  EXPECT_EQ(range.length, content_.size());
  source.Skip(1 << 20);
  // The next megabyte, cold (again: the kernel's readahead may have
  // brought it in), is read in before pread reads it.
  posix_fadvise(fd, 1 << 20, 0, POSIX_FADV_DONTNEED);
  ASSERT_EQ(fs::RangeResidency(fd, 1 << 20, 1 << 20), fs::Residency::kNotResident);
  EXPECT_TRUE(source.Next(64 * 1024).data.empty());
  ASSERT_EQ(io.jobs.size(), 1u);
  EXPECT_EQ(offloaded.load(), 2u);
  io.RunAll();
  EXPECT_EQ(woken, 2);

  // Every byte arrives, in order, whatever was read in where.
  std::string out = content_.substr(0, 1 << 20);
  for (int i = 0; i < 1000; ++i) {
    chunk = source.Next(64 * 1024);
    ASSERT_FALSE(chunk.failed);
    out.append(chunk.data);
    if (chunk.end) break;
    if (chunk.data.empty()) io.RunAll();
  }
  EXPECT_EQ(out, content_);
  EXPECT_LE(offloaded.load(), 3u);  // at most one read-in per megabyte
}

TEST_F(ColdFileTest, AFileInMemoryIsSentFromTheLoopWithoutTheIoThreads) {
  const int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_TRUE(fs::WarmRange(fd, 0, content_.size()));
  if (fs::RangeResidency(fd, 0, content_.size()) != fs::Residency::kResident) {
    close(fd);
    GTEST_SKIP() << "no cachestat(2) on this kernel";
  }
  HeldIoOffload io;
  std::atomic<uint64_t> offloaded{0};
  FileBodySource source(fd, 0, content_.size());
  source.OffloadReadsTo(&io, &offloaded);
  EXPECT_EQ(Drain(source, 256 * 1024), content_);
  EXPECT_TRUE(io.jobs.empty());
  EXPECT_EQ(offloaded.load(), 0u);
}

TEST_F(ColdFileTest, AFullQueueMeansReadingOnTheLoopAsWithoutThePool) {
  const int fd = OpenCold();
  if (fd < 0) GTEST_SKIP() << "cannot drop this file's pages here";
  HeldIoOffload io;
  io.full = true;
  std::atomic<uint64_t> offloaded{0};
  FileBodySource source(fd, 0, content_.size());
  source.OffloadReadsTo(&io, &offloaded);
  EXPECT_EQ(Drain(source, 256 * 1024), content_);
  EXPECT_EQ(offloaded.load(), 0u);
}

TEST_F(ColdFileTest, AnAnswerAfterTheSourceIsGoneWakesNothing) {
  const int fd = OpenCold();
  if (fd < 0) GTEST_SKIP() << "cannot drop this file's pages here";
  HeldIoOffload io;
  int woken = 0;
  {
    FileBodySource source(fd, 0, content_.size());
    source.SetReady([&] { ++woken; });
    source.OffloadReadsTo(&io, nullptr);
    EXPECT_TRUE(source.Next(4096).data.empty());
  }
  ASSERT_EQ(io.jobs.size(), 1u);
  io.RunAll();  // reads through the descriptor the job still holds open
  EXPECT_EQ(woken, 0);
}

TEST_F(ColdFileTest, ThePartsOfAMultipartBodyReadTheirFilesInToo) {
  const int fd = OpenCold();
  if (fd < 0) GTEST_SKIP() << "cannot drop this file's pages here";
  auto file = std::make_shared<const FileHandle>(fd);
  std::vector<std::unique_ptr<BodySource>> parts;
  parts.push_back(std::make_unique<MemoryBodySource>("--part\r\n"));
  parts.push_back(std::make_unique<FileBodySource>(file, 100, 1000));
  SequenceBodySource sequence(std::move(parts));
  HeldIoOffload io;
  int woken = 0;
  sequence.SetReady([&] { ++woken; });
  sequence.OffloadReadsTo(&io, nullptr);
  EXPECT_EQ(sequence.Next(4096).data, "--part\r\n");
  EXPECT_TRUE(sequence.Next(4096).data.empty());
  ASSERT_EQ(io.jobs.size(), 1u);
  io.RunAll();
  EXPECT_EQ(woken, 1);
  EXPECT_EQ(Drain(sequence, 4096), content_.substr(100, 1000));
}

class UpperCase final : public BodyTransform {
 public:
  bool Transform(std::string_view in, bool end, std::string& out) override {
    for (char c : in) out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    if (end) out += "<END>";
    return true;
  }
};

TEST(TransformedBodySourceTest, TransformsChunkByChunkWithinTheAskedSize) {
  auto source = std::make_unique<MemoryBodySource>("hello, streaming world");
  TransformedBodySource transformed(std::move(source), std::make_unique<UpperCase>());
  EXPECT_EQ(Drain(transformed, 5), "HELLO, STREAMING WORLD<END>");
}

}  // namespace
}  // namespace sluice::pipeline
