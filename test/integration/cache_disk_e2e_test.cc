// The response cache's disk tier end to end: sluice-controller,
// sluice-proxy with --cache-dir, and the echo backend as the origin (its
// own process: it counts the requests it got, /control/count, across
// proxy restarts). Entries stored before the proxy is killed (SIGKILL:
// nothing flushed at exit) are served after a restart from disk without
// asking the origin; purges remove them from disk; corrupt files are
// ignored; --cache-disk-size holds; the disk metrics pass promtool.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "test/support/cache_cluster.h"
#include "test/support/http_client.h"
#include "test/support/process.h"

namespace sluice {
namespace {

using testing::Fetch;
using testing::IsCacheHit;

constexpr uint64_t kDiskLimit = 1 << 20;

class CacheDiskEndToEndTest : public testing::CacheClusterTest {
 protected:
  void SetUp() override {
    backend_port_ = testing::FreePort();
    cache_dir_ = testing::MakeTempDir("cache_disk_entries");
    MakeCluster({.name = "cache_disk",
                 .access_log = "off",
                 .extra_proxy_flags = {"--cache-memory", "16M", "--cache-dir", cache_dir_, "--cache-disk-size", "1M"}});
    backend_ = cluster_->StartEchoBackend("origin", backend_port_);
    // The echo backend sends no freshness information: the route's
    // default TTL makes its 200s storable.
    ASSERT_NO_FATAL_FAILURE(
        StartCluster({.origin_port = backend_port_,
                      .host = "shop.local",
                      .annotations = "sluice.io/cache: \"on\"\nsluice.io/cache-default-ttl: \"10m\"\n",
                      .probe_path = "/warm",
                      .probe_status = 200}));
  }

  uint64_t OriginSaw(const std::string& path) {
    return std::strtoull(Fetch(backend_port_, "origin", "/control/count?path=" + path).body.c_str(), nullptr, 10);
  }
  // Until the writer thread has written `n` entries in this process
  // (StartProxy's /warm is one: the echo backend answers 200 there too).
  bool WaitForWrites(double n) {
    return testing::WaitUntil([&] { return ProxySample("sluice_cache_disk_writes_total") >= n; },
                              std::chrono::seconds(10), std::chrono::milliseconds(20));
  }
  std::vector<std::string> EntryFiles() const {
    std::vector<std::string> files;
    if (DIR* d = opendir(cache_dir_.c_str())) {
      while (dirent* e = readdir(d)) {
        if (std::string_view(e->d_name).ends_with(".sce")) files.push_back(cache_dir_ + "/" + e->d_name);
      }
      closedir(d);
    }
    return files;
  }
  uint64_t EntryBytes() const {
    uint64_t n = 0;
    for (const std::string& file : EntryFiles()) {
      struct stat st {};
      if (stat(file.c_str(), &st) == 0) n += static_cast<uint64_t>(st.st_size);
    }
    return n;
  }
  int backend_port_ = 0;
  std::string cache_dir_;
  std::unique_ptr<testing::Process> backend_;
};

TEST_F(CacheDiskEndToEndTest, EntriesAreServedFromDiskAfterARestart) {
  const int port = cluster_->http_port();
  ASSERT_EQ(Fetch(port, "shop.local", "/bytes/200000").status, 200);
  ASSERT_EQ(Fetch(port, "shop.local", "/bytes/1000").status, 200);
  ASSERT_TRUE(IsCacheHit(Fetch(port, "shop.local", "/bytes/1000")));  // from memory
  ASSERT_TRUE(WaitForWrites(3)) << ProxyMetrics();
  EXPECT_EQ(OriginSaw("/bytes/200000"), 1u);

  ASSERT_NO_FATAL_FAILURE(KillAndRestartProxy());
  // The new process has nothing in memory: the hits come from disk.
  testing::Response big = Fetch(port, "shop.local", "/bytes/200000");
  EXPECT_EQ(big.status, 200);
  EXPECT_EQ(big.body, std::string(200000, 'x'));
  EXPECT_TRUE(IsCacheHit(big)) << big.Header("cache-status");
  EXPECT_FALSE(big.Header("age").empty());
  EXPECT_EQ(big.Header("x-backend"), "origin");  // the stored fields
  testing::Response small = Fetch(port, "shop.local", "/bytes/1000");
  EXPECT_TRUE(IsCacheHit(small));
  EXPECT_EQ(small.body.size(), 1000u);
  // Range and HEAD from the disk entry.
  testing::Response range = Fetch(port, "shop.local", "/bytes/200000", "Range: bytes=199990-\r\n");
  EXPECT_EQ(range.status, 206);
  EXPECT_EQ(range.Header("content-range"), "bytes 199990-199999/200000");
  EXPECT_EQ(range.body, std::string(10, 'x'));
  EXPECT_EQ(OriginSaw("/bytes/200000"), 1u);  // the origin was not asked again
  EXPECT_EQ(OriginSaw("/bytes/1000"), 1u);
  EXPECT_GE(ProxySample("sluice_cache_disk_hits_total"), 3);
  EXPECT_EQ(ProxySample("sluice_cache_disk_scan_done"), 1);
  EXPECT_EQ(ProxySample("sluice_cache_disk_bytes"), static_cast<double>(EntryBytes()));

  ExpectPromtoolPasses(ProxyMetrics());
}

TEST_F(CacheDiskEndToEndTest, PurgeRemovesTheDiskEntry) {
  const int port = cluster_->http_port();
  ASSERT_EQ(Fetch(port, "shop.local", "/bytes/3000").status, 200);
  ASSERT_EQ(Fetch(port, "shop.local", "/bytes/3001").status, 200);
  ASSERT_TRUE(WaitForWrites(3));
  ASSERT_EQ(EntryFiles().size(), 3u);
  testing::HttpConnection admin(cluster_->admin_port());
  admin.SendRaw("POST /cache/purge?url=http%3A%2F%2Fshop.local%2Fbytes%2F3000 HTTP/1.1\r\nHost: admin\r\n"
                "Content-Length: 0\r\n\r\n");
  EXPECT_EQ(admin.ReadResponse().status, 200);
  EXPECT_TRUE(testing::WaitUntil([&] { return EntryFiles().size() == 2u; }, std::chrono::seconds(5),
                                 std::chrono::milliseconds(20)));
  ASSERT_NO_FATAL_FAILURE(KillAndRestartProxy());
  EXPECT_FALSE(IsCacheHit(Fetch(port, "shop.local", "/bytes/3000")));  // purged: from the origin
  EXPECT_TRUE(IsCacheHit(Fetch(port, "shop.local", "/bytes/3001")));   // not purged: from disk
  EXPECT_EQ(OriginSaw("/bytes/3000"), 2u);
  EXPECT_EQ(OriginSaw("/bytes/3001"), 1u);
}

TEST_F(CacheDiskEndToEndTest, CorruptFilesAreIgnored) {
  const int port = cluster_->http_port();
  ASSERT_EQ(Fetch(port, "shop.local", "/bytes/4000").status, 200);
  ASSERT_TRUE(WaitForWrites(2));
  KillProxy();
  std::vector<std::string> files = EntryFiles();
  ASSERT_EQ(files.size(), 2u);  // /warm and /bytes/4000
  for (const std::string& file : files) {
    // One byte of the head changed: its checksum no longer matches.
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(150);
    f.put('#');
  }
  ASSERT_NO_FATAL_FAILURE(StartProxy());
  testing::Response response = Fetch(port, "shop.local", "/bytes/4000");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, std::string(4000, 'x'));
  EXPECT_FALSE(IsCacheHit(response));
  EXPECT_EQ(OriginSaw("/bytes/4000"), 2u);
  EXPECT_EQ(ProxySample("sluice_cache_disk_corrupt_total"), 2);
  EXPECT_TRUE(WaitForWrites(2));  // written again: /warm and /bytes/4000
  EXPECT_EQ(ProxySample("sluice_cache_disk_objects"), 2);
}

TEST_F(CacheDiskEndToEndTest, SizeLimitHolds) {
  const int port = cluster_->http_port();
  // 20 objects of 100 KB: twice the 1 MiB limit.
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(Fetch(port, "shop.local", "/bytes/" + std::to_string(100000 + i)).status, 200);
    ASSERT_TRUE(WaitForWrites(i + 2));
    EXPECT_LE(ProxySample("sluice_cache_disk_bytes"), static_cast<double>(kDiskLimit));
  }
  EXPECT_GE(ProxySample("sluice_cache_disk_evictions_total"), 9);
  EXPECT_TRUE(testing::WaitUntil(
      [&] { return EntryBytes() == static_cast<uint64_t>(ProxySample("sluice_cache_disk_bytes")); },
      std::chrono::seconds(5), std::chrono::milliseconds(20)));
  EXPECT_LE(EntryBytes(), kDiskLimit);
  // The newest are kept, and survive a restart.
  ASSERT_NO_FATAL_FAILURE(KillAndRestartProxy());
  EXPECT_TRUE(IsCacheHit(Fetch(port, "shop.local", "/bytes/100019")));
  EXPECT_FALSE(IsCacheHit(Fetch(port, "shop.local", "/bytes/100000")));
}

}  // namespace
}  // namespace sluice
