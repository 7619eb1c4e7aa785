// The open-file cache without sockets: what it keeps, when it asks the
// disk again (a fake disk counting opens and stats, a fake clock), its
// bound, that an evicted descriptor closes, and, through DirectoryFiles on
// a real directory, that a file replaced on disk is served new after the
// validity interval (and old before it), never escaping the root.
#include "dataplane/pipeline/open_file_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <gtest/gtest.h>
#include <map>
#include <chrono>
#include <thread>

#include "dataplane/pipeline/mime_types.h"
#include "dataplane/pipeline/static_site.h"

namespace sluice::pipeline {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

// Paths with an inode each; a path absent from `files` is "nothing there".
class FakeDisk final : public OpenFileCache::Disk {
 public:
  std::map<std::string, ino_t> files;
  int error = 0;  // non-zero: every open fails with this errno
  mutable int opens = 0;
  mutable int stats = 0;

  OpenFileInfo OpenNow(const std::string& relative, size_t) const override {
    ++opens;
    OpenFileInfo info;
    auto it = files.find(relative);
    if (error != 0 || it == files.end()) {
      info.cacheable = error == 0;
      return info;
    }
    info.exists = true;
    info.inode = it->second;
    info.size = 10;
    return info;
  }
  bool StatNow(const std::string& relative, struct stat* st) const override {
    ++stats;
    auto it = files.find(relative);
    if (it == files.end()) {
      errno = ENOENT;
      return false;
    }
    *st = {};
    st->st_mode = S_IFREG | 0644;
    st->st_ino = it->second;
    st->st_size = 10;
    return true;
  }
};

TEST(OpenFileCacheTest, AnswersWithinTheIntervalThenRevalidatesByStat) {
  FakeDisk disk;
  disk.files["a.css"] = 1;
  OpenFileCache cache(10, kSecond);
  bool hit = true;
  auto first = cache.Get("site", "a.css", disk, 0, &hit);
  EXPECT_FALSE(hit);
  EXPECT_TRUE(first->exists);
  EXPECT_EQ(disk.opens, 1);

  auto second = cache.Get("site", "a.css", disk, kSecond / 2, &hit);
  EXPECT_TRUE(hit);
  EXPECT_EQ(second, first);
  EXPECT_EQ(disk.opens, 1);
  EXPECT_EQ(disk.stats, 0);  // within the interval: not even a stat

  // After the interval: one stat, unchanged, kept (and confirmed until 2.5 s).
  auto third = cache.Get("site", "a.css", disk, kSecond * 3 / 2, &hit);
  EXPECT_TRUE(hit);
  EXPECT_EQ(third, first);
  EXPECT_EQ(disk.stats, 1);
  EXPECT_EQ(disk.opens, 1);
  cache.Get("site", "a.css", disk, kSecond * 2, &hit);
  EXPECT_EQ(disk.stats, 1);

  // Replaced on disk (another inode): the next revalidation opens it again.
  disk.files["a.css"] = 2;
  auto stale = cache.Get("site", "a.css", disk, kSecond * 2, &hit);
  EXPECT_EQ(stale->inode, 1u);  // still within the interval of the last check
  auto fresh = cache.Get("site", "a.css", disk, kSecond * 3, &hit);
  EXPECT_FALSE(hit);
  EXPECT_EQ(fresh->inode, 2u);
  EXPECT_EQ(disk.opens, 2);

  // The same path of another site is another entry.
  cache.Get("other-site", "a.css", disk, kSecond * 3, &hit);
  EXPECT_FALSE(hit);
  EXPECT_EQ(cache.size(), 2u);
}

TEST(OpenFileCacheTest, ZeroIntervalStatsOnEveryUseButNeverReopensAnUnchangedFile) {
  FakeDisk disk;
  disk.files["a"] = 1;
  OpenFileCache cache(10, 0);
  bool hit = false;
  for (int i = 0; i < 5; ++i) cache.Get("s", "a", disk, kSecond, &hit);
  EXPECT_TRUE(hit);
  EXPECT_EQ(disk.opens, 1);
  EXPECT_EQ(disk.stats, 4);
}

TEST(OpenFileCacheTest, RemembersNothingThereForOneIntervalButNeverAnError) {
  FakeDisk disk;
  OpenFileCache cache(10, kSecond);
  bool hit = false;
  EXPECT_FALSE(cache.Get("s", "missing.js.br", disk, 0, &hit)->exists);
  EXPECT_FALSE(cache.Get("s", "missing.js.br", disk, kSecond / 2, &hit)->exists);
  EXPECT_TRUE(hit);
  EXPECT_EQ(disk.opens, 1);
  // Created meanwhile: found once the negative entry is older than the interval.
  disk.files["missing.js.br"] = 7;
  EXPECT_TRUE(cache.Get("s", "missing.js.br", disk, kSecond, &hit)->exists);
  EXPECT_FALSE(hit);
  EXPECT_EQ(disk.opens, 2);

  disk.error = EMFILE;
  cache.Get("s", "busy", disk, kSecond, &hit);
  cache.Get("s", "busy", disk, kSecond, &hit);
  EXPECT_FALSE(hit);
  EXPECT_EQ(disk.opens, 4);  // both went to the disk
}

TEST(OpenFileCacheTest, EvictsTheLeastRecentlyUsedBeyondItsBound) {
  FakeDisk disk;
  disk.files = {{"a", 1}, {"b", 2}, {"c", 3}};
  OpenFileCache cache(2, kSecond);
  bool hit = false;
  cache.Get("s", "a", disk, 0, &hit);
  cache.Get("s", "b", disk, 0, &hit);
  cache.Get("s", "a", disk, 0, &hit);  // a used last: b goes first
  cache.Get("s", "c", disk, 0, &hit);
  EXPECT_EQ(cache.size(), 2u);
  cache.Get("s", "a", disk, 0, &hit);
  EXPECT_TRUE(hit);
  cache.Get("s", "b", disk, 0, &hit);
  EXPECT_FALSE(hit);
  EXPECT_EQ(cache.size(), 2u);
}

// Opens real files: the descriptor an evicted entry held closes as soon as
// nothing reads it any more.
class RealDisk final : public OpenFileCache::Disk {
 public:
  OpenFileInfo OpenNow(const std::string&, size_t) const override {
    OpenFileInfo info;
    info.exists = true;
    info.file = std::make_shared<const FileHandle>(open("/dev/null", O_RDONLY | O_CLOEXEC));
    return info;
  }
  bool StatNow(const std::string&, struct stat*) const override { return false; }
};

TEST(OpenFileCacheTest, ClosesAnEvictedDescriptorWithItsLastReader) {
  RealDisk disk;
  OpenFileCache cache(1, kSecond);
  bool hit = false;
  std::shared_ptr<const OpenFileInfo> reading = cache.Get("s", "a", disk, 0, &hit);
  const int fd = reading->file->fd();
  ASSERT_GE(fd, 0);
  cache.Get("s", "b", disk, 0, &hit);  // evicts a
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_NE(fcntl(fd, F_GETFD), -1);  // a response still reads it
  reading.reset();
  EXPECT_EQ(fcntl(fd, F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);
}

class CachedDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/sluice-ofc-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    base_ = pattern;
    root_ = base_ + "/root";
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    Write(base_ + "/secret.txt", "TOP SECRET");
    Write(root_ + "/app.js", "version one");
    Write(root_ + "/page.html", "page");
    ASSERT_EQ(symlink("page.html", (root_ + "/link.html").c_str()), 0);
  }
  void TearDown() override { std::system(("rm -rf " + base_).c_str()); }
  static void Write(const std::string& path, const std::string& content) {
    std::ofstream(path, std::ios::binary) << content;
  }
  // As a deploy does: a new file renamed into place (a new inode).
  void Replace(const std::string& name, const std::string& content) {
    Write(root_ + "/.tmp", content);
    ASSERT_EQ(rename((root_ + "/.tmp").c_str(), (root_ + "/" + name).c_str()), 0);
  }
  static std::string Content(OpenedFile& file) {
    std::unique_ptr<BodySource> source = file.Read(0, file.size);
    std::string out;
    for (int i = 0; i < 100; ++i) {
      BodySource::Chunk chunk = source->Next(4096);
      out += chunk.data;
      if (chunk.end || chunk.failed) break;
    }
    return out;
  }
  std::string base_, root_;
};

TEST_F(CachedDirectoryTest, ServesTheCachedFileUntilTheIntervalThenTheReplacement) {
  DirectoryFiles site(root_);
  OpenFileCache cache(16, 3600 * kSecond);  // an interval this test never reaches
  site.UseCache(&cache);
  OpenCounts counts;
  std::unique_ptr<OpenedFile> first = site.Open("app.js", &counts);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(Content(*first), "version one");
  Replace("app.js", "version two!");
  std::unique_ptr<OpenedFile> cached = site.Open("app.js", &counts);
  ASSERT_NE(cached, nullptr);
  EXPECT_EQ(Content(*cached), "version one");  // the kept descriptor: no open, no stat
  EXPECT_EQ(cached->etag, first->etag);
  EXPECT_EQ(counts.cache_hits, 1u);
  EXPECT_EQ(counts.cache_misses, 1u);

  // A second site on the same directory (the next snapshot's) shares it.
  DirectoryFiles next_snapshot(root_);
  next_snapshot.UseCache(&cache);
  OpenCounts next_counts;
  EXPECT_NE(next_snapshot.Open("app.js", &next_counts), nullptr);
  EXPECT_EQ(next_counts.cache_hits, 1u);

  // Interval 0: revalidated on every use, the replacement is seen at once.
  OpenFileCache always(16, 0);
  site.UseCache(&always);
  ASSERT_NE(site.Open("app.js"), nullptr);
  Replace("app.js", "version three, longer");
  std::unique_ptr<OpenedFile> fresh = site.Open("app.js");
  ASSERT_NE(fresh, nullptr);
  EXPECT_EQ(Content(*fresh), "version three, longer");
  EXPECT_NE(fresh->etag, first->etag);
  // Removed: gone at once as well.
  ASSERT_EQ(unlink((root_ + "/app.js").c_str()), 0);
  EXPECT_EQ(site.Open("app.js"), nullptr);
}

// Small files are kept whole: answered from memory (no descriptor, no
// read), and a rewrite in place (the same inode, another content and size)
// is seen once the interval has passed, never a mix of old and new bytes.
TEST_F(CachedDirectoryTest, KeepsSmallFilesWholeAndSeesTheirRewriteAfterTheInterval) {
  DirectoryFiles site(root_);
  constexpr int64_t kInterval = kSecond / 5;
  OpenFileCache cache(16, kInterval, /*inline_bytes=*/64);
  site.UseCache(&cache);
  std::unique_ptr<OpenedFile> first = site.Open("app.js");
  ASSERT_NE(first, nullptr);
  BodySource::FileRange range;
  EXPECT_FALSE(first->Read(0, first->size)->NextFileRange(&range));  // memory, not a descriptor
  EXPECT_EQ(Content(*first), "version one");
  EXPECT_EQ(first->last_modified_text.size(), 29u);  // "Sun, 06 Nov 1994 08:49:37 GMT"
  EXPECT_EQ(first->content_type, MimeTypeFor("app.js"));

  const std::string path = root_ + "/app.js";
  struct stat before;
  ASSERT_EQ(stat(path.c_str(), &before), 0);
  {
    // In place: the same inode, longer bytes written over the old ones.
    int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    const std::string longer = "version two, longer";
    ASSERT_EQ(pwrite(fd, longer.data(), longer.size(), 0), static_cast<ssize_t>(longer.size()));
    close(fd);
  }
  struct stat after;
  ASSERT_EQ(stat(path.c_str(), &after), 0);
  ASSERT_EQ(after.st_ino, before.st_ino);
  std::unique_ptr<OpenedFile> cached = site.Open("app.js");
  ASSERT_NE(cached, nullptr);
  EXPECT_EQ(Content(*cached), "version one");  // within the interval: the bytes kept, whole
  EXPECT_EQ(cached->etag, first->etag);

  std::this_thread::sleep_for(std::chrono::nanoseconds(kInterval + kInterval / 2));
  std::unique_ptr<OpenedFile> fresh = site.Open("app.js");
  ASSERT_NE(fresh, nullptr);
  EXPECT_EQ(fresh->size, 19u);
  EXPECT_EQ(Content(*fresh), "version two, longer");
  EXPECT_NE(fresh->etag, first->etag);

  // Larger than the bound: a descriptor, read per response.
  Write(root_ + "/big.js", std::string(65, 'b'));
  std::unique_ptr<OpenedFile> big = site.Open("big.js");
  ASSERT_NE(big, nullptr);
  EXPECT_TRUE(big->Read(0, big->size)->NextFileRange(&range));
  EXPECT_EQ(Content(*big), std::string(65, 'b'));
}

TEST_F(CachedDirectoryTest, ASymlinkRetargetedOutsideTheRootIsRefusedOnRevalidation) {
  DirectoryFiles site(root_);
  OpenFileCache cache(16, 0);
  site.UseCache(&cache);
  std::unique_ptr<OpenedFile> inside = site.Open("link.html");
  ASSERT_NE(inside, nullptr);
  EXPECT_EQ(Content(*inside), "page");
  ASSERT_EQ(unlink((root_ + "/link.html").c_str()), 0);
  ASSERT_EQ(symlink((base_ + "/secret.txt").c_str(), (root_ + "/link.html").c_str()), 0);
  EXPECT_EQ(site.Open("link.html"), nullptr);
  ASSERT_EQ(unlink((root_ + "/link.html").c_str()), 0);
  ASSERT_EQ(symlink("../secret.txt", (root_ + "/link.html").c_str()), 0);
  EXPECT_EQ(site.Open("link.html"), nullptr);
}

TEST_F(CachedDirectoryTest, TheProcessSettingGivesEachThreadItsOwnCache) {
  // Off unless configured (tools and tests that never call Configure).
  EXPECT_EQ(OpenFileCache::ForThisThread(), nullptr);
  OpenFileCache::Configure(8, kSecond);
  OpenFileCache* mine = nullptr;
  OpenFileCache* other = nullptr;
  std::thread worker([&] { other = OpenFileCache::ForThisThread(); });
  worker.join();
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(OpenFileCache::ForThisThread(), mine);  // this thread made its choice already: none
  OpenFileCache::Configure(0, kSecond);
}

}  // namespace
}  // namespace sluice::pipeline
