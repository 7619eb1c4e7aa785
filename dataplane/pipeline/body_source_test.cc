#include "dataplane/pipeline/body_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>

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
