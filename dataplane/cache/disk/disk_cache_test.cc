#include "dataplane/cache/disk/disk_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "dataplane/cache/disk/entry_format.h"
#include "dataplane/cache/store/test_object.h"

namespace sluice::cache::disk {
namespace {

class DiskCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::string base = tmp != nullptr ? tmp : "/tmp";
    dir_ = base + "/disk-cache-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_.data()), nullptr);
  }
  std::unique_ptr<DiskCache> OpenCache(uint64_t capacity = 1 << 20, size_t max_queued_bytes = 64 << 20) {
    DiskOptions options;
    options.dir = dir_;
    options.capacity_bytes = capacity;
    options.max_queued_bytes = max_queued_bytes;
    Result<std::unique_ptr<DiskCache>> cache = DiskCache::Open(options);
    EXPECT_TRUE(cache.ok()) << cache.status().message();
    return std::move(cache).value();
  }
  // The entry files in the directory (not the temporaries).
  size_t Files() const {
    size_t n = 0;
    DIR* d = ::opendir(dir_.c_str());
    while (dirent* e = ::readdir(d)) n += std::string_view(e->d_name).ends_with(".sce");
    ::closedir(d);
    return n;
  }
  uint64_t FileBytes() const {
    uint64_t n = 0;
    DIR* d = ::opendir(dir_.c_str());
    while (dirent* e = ::readdir(d)) {
      if (!std::string_view(e->d_name).ends_with(".sce")) continue;
      struct stat st {};
      ::fstatat(::dirfd(d), e->d_name, &st, 0);
      n += static_cast<uint64_t>(st.st_size);
    }
    ::closedir(d);
    return n;
  }
  static std::string BodyOf(const Loaded& loaded) {
    std::string body(loaded.body_length, '\0');
    EXPECT_EQ(::pread(loaded.fd, body.data(), body.size(), static_cast<off_t>(loaded.body_offset)),
              static_cast<ssize_t>(body.size()));
    return body;
  }
  std::string dir_;
};

// What the memory store publishes is written through; what it removes goes.
TEST_F(DiskCacheTest, WritesThroughTheStoreAndRemovesWithIt) {
  std::unique_ptr<DiskCache> disk = OpenCache();
  disk->WaitForScan();
  StoreOptions store_options;
  store_options.capacity_bytes = 1 << 20;
  store_options.shards = 1;
  Store store(store_options);
  store.set_lower_tier(disk.get());
  ASSERT_TRUE(store.Insert(TestObject("http://a/x", 5000, 'a')));
  ASSERT_TRUE(store.Insert(TestObject("http://a/y", 10, 'b')));
  disk->Flush();
  EXPECT_EQ(Files(), 2u);
  EXPECT_EQ(disk->stats().writes, 2u);
  EXPECT_EQ(disk->stats().bytes, FileBytes());  // exact

  std::optional<Located> where = disk->Locate("http://a/x");
  ASSERT_TRUE(where.has_value());
  Result<Loaded> loaded = disk->Load(*where);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->object->key, "http://a/x");
  EXPECT_EQ(*loaded->object->headers.Get("content-type"), "text/plain");
  EXPECT_EQ(BodyOf(*loaded), std::string(5000, 'a'));
  EXPECT_FALSE(disk->Locate("http://a/z").has_value());

  EXPECT_TRUE(store.Remove("http://a/x"));
  EXPECT_FALSE(disk->Locate("http://a/x").has_value());  // at once
  store.RemovePrefix("http://a/");
  disk->Flush();
  EXPECT_EQ(Files(), 0u);
  EXPECT_EQ(disk->stats().bytes, 0u);
}

// The index is rebuilt from the directory: entries survive a restart.
TEST_F(DiskCacheTest, EntriesSurviveARestart) {
  {
    std::unique_ptr<DiskCache> disk = OpenCache();
    for (int i = 0; i < 50; ++i) disk->Published(TestObject("http://a/" + std::to_string(i), 100 + i));
    disk->Flush();
  }
  std::unique_ptr<DiskCache> disk = OpenCache();
  disk->WaitForScan();
  EXPECT_EQ(disk->stats().scanned, 50u);
  EXPECT_EQ(disk->stats().entries, 50u);
  EXPECT_EQ(disk->stats().bytes, FileBytes());
  std::optional<Located> where = disk->Locate("http://a/7");
  ASSERT_TRUE(where.has_value());
  Result<Loaded> loaded = disk->Load(*where);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(BodyOf(*loaded), std::string(107, 'x'));
  EXPECT_EQ(loaded->object->freshness.lifetime, 60);
}

// Corrupt, truncated and foreign files are skipped and removed, never served.
TEST_F(DiskCacheTest, CorruptFilesAreSkippedAndRemoved) {
  std::string truncated, flipped;
  {
    std::unique_ptr<DiskCache> disk = OpenCache();
    disk->Published(TestObject("http://a/good", 1000));
    disk->Published(TestObject("http://a/truncated", 1000));
    disk->Published(TestObject("http://a/flipped", 1000));
    disk->Flush();
    truncated = disk->Locate("http://a/truncated")->path;
    flipped = disk->Locate("http://a/flipped")->path;
  }
  ASSERT_EQ(::truncate(truncated.c_str(), 900), 0);
  {
    std::fstream f(flipped, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(150);
    f.put('!');
  }
  std::ofstream(dir_ + "/0123456789abcdef.sce") << "not an entry";
  std::ofstream(dir_ + "/tmp/0123456789abcdef.9") << "a write cut short by a crash";
  std::unique_ptr<DiskCache> disk = OpenCache();
  disk->WaitForScan();
  disk->Flush();
  EXPECT_EQ(disk->stats().entries, 1u);
  EXPECT_EQ(disk->stats().corrupt, 3u);
  EXPECT_TRUE(disk->Locate("http://a/good").has_value());
  EXPECT_FALSE(disk->Locate("http://a/truncated").has_value());
  EXPECT_EQ(Files(), 1u);
  EXPECT_EQ(::access((dir_ + "/tmp/0123456789abcdef.9").c_str(), F_OK), -1);

  // A file corrupted after it was indexed: the open finds out, drops it.
  std::optional<Located> where = disk->Locate("http://a/good");
  ASSERT_EQ(::truncate(where->path.c_str(), 10), 0);
  EXPECT_FALSE(disk->Load(*where).ok());
  EXPECT_FALSE(disk->Locate("http://a/good").has_value());
  disk->Flush();
  EXPECT_EQ(Files(), 0u);
}

// --cache-disk-size holds: the least recently used entries go first.
TEST_F(DiskCacheTest, SizeLimitEvictsLeastRecentlyUsed) {
  const uint64_t capacity = 40 * 1024;
  std::unique_ptr<DiskCache> disk = OpenCache(capacity);
  disk->WaitForScan();
  disk->Published(TestObject("http://a/keep", 4000));
  disk->Flush();
  for (int i = 0; i < 30; ++i) {
    disk->Published(TestObject("http://a/" + std::to_string(i), 4000));
    disk->Flush();
    ASSERT_TRUE(disk->Locate("http://a/keep").has_value()) << i;  // used: stays
    EXPECT_LE(disk->stats().bytes, capacity);
  }
  EXPECT_GT(disk->stats().evictions, 15u);
  EXPECT_FALSE(disk->Locate("http://a/0").has_value());
  EXPECT_TRUE(disk->Locate("http://a/29").has_value());
  EXPECT_EQ(disk->stats().bytes, FileBytes());
  // A smaller limit after a restart trims the directory at the scan.
  disk.reset();
  disk = OpenCache(10 * 1024);
  disk->WaitForScan();
  disk->Flush();
  EXPECT_LE(disk->stats().bytes, 10u * 1024);
  EXPECT_EQ(disk->stats().bytes, FileBytes());
}

// A removal right after a write queued for the same key wins.
TEST_F(DiskCacheTest, RemovalAfterAQueuedWriteWins) {
  std::unique_ptr<DiskCache> disk = OpenCache();
  disk->WaitForScan();
  for (int round = 0; round < 20; ++round) {
    disk->Published(TestObject("http://a/x", 200000));
    disk->Removed("http://a/x");
    disk->Published(TestObject("http://a/t", 100));
    disk->RemovedIf([](const CachedObject& o) { return o.key == "http://a/t"; });
  }
  disk->Flush();
  EXPECT_FALSE(disk->Locate("http://a/x").has_value());
  EXPECT_FALSE(disk->Locate("http://a/t").has_value());
  EXPECT_EQ(Files(), 0u);
  EXPECT_EQ(disk->stats().bytes, 0u);
}

// The writer's queue is bounded: a write that does not fit is dropped
// (50 objects of 1 MiB published back to back, a queue of 1.5 MiB: the
// writer cannot write a MiB in the time the next call takes).
TEST_F(DiskCacheTest, FullQueueDropsWrites) {
  std::unique_ptr<DiskCache> disk = OpenCache(64 << 20, /*max_queued_bytes=*/(1 << 20) + (1 << 19));
  std::vector<std::shared_ptr<CachedObject>> objects;
  for (int i = 0; i < 50; ++i) objects.push_back(TestObject("http://a/" + std::to_string(i), 1 << 20));
  for (const auto& object : objects) disk->Published(object);
  disk->Flush();
  EXPECT_GE(disk->stats().dropped_writes, 1u);
  EXPECT_GE(disk->stats().writes, 1u);
  EXPECT_EQ(disk->stats().writes + disk->stats().dropped_writes, 50u);
  EXPECT_EQ(disk->stats().bytes, FileBytes());
}

}  // namespace
}  // namespace sluice::cache::disk
