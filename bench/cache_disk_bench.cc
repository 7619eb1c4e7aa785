// The response cache's disk tier (dataplane/cache/disk), no sockets:
//   1. writes/s of the writer thread for 4 KiB and 256 KiB objects (from
//      Published() to the file renamed into place and indexed), next to a
//      plain loop of the same syscalls (open, write, close, rename) with no
//      cache around it: the ratio is the tier's own overhead (alternated,
//      best of three runs each);
//   2. the start-up scan of 20,000 entries (Open() until the index is
//      complete), with the files in the page cache (a cold disk is the
//      device's speed, not ours);
//   3. disk hit latency: Locate() (the loop's index probe) + Load() (the
//      I/O pool's open, fstat, pread of the head, parse) + reading the
//      body (pread, as a TLS or h2 connection does; plain HTTP/1.1 uses
//      sendfile), median and p99.
//   cache_disk_bench [DIR]   (default /tmp/sluice-cache-disk-bench, emptied)
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "dataplane/cache/disk/disk_cache.h"
#include "dataplane/cache/disk/entry_format.h"

using namespace sluice::cache;
using Clock = std::chrono::steady_clock;

namespace {

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

std::unique_ptr<disk::DiskCache> Open(const std::string& dir) {
  disk::DiskOptions options;
  options.dir = dir;
  options.capacity_bytes = 64ull << 30;
  options.max_queued_writes = 1u << 20;
  options.max_queued_bytes = 64ull << 30;  // bodies are shared: the queue holds pointers
  auto cache = disk::DiskCache::Open(options);
  if (!cache.ok()) {
    std::fprintf(stderr, "cannot open %s: %s\n", dir.c_str(), cache.status().message().c_str());
    std::exit(1);
  }
  return std::move(cache).value();
}

std::shared_ptr<CachedObject> Object(int i, const std::shared_ptr<const std::string>& body) {
  auto o = std::make_shared<CachedObject>();
  o->key = "http\x1f" "bench.test\x1f/object/" + std::to_string(i);
  o->headers.Add("content-type", "application/octet-stream");
  o->headers.Add("etag", "\"" + std::to_string(i) + "\"");
  o->headers.Add("cache-control", "max-age=3600");
  o->body = body;
  o->freshness.lifetime = 3600;
  return o;
}

// The tier: `n` objects of `size` bytes, Published() to indexed.
double TierWritesPerSecond(const std::string& dir, size_t size, int n) {
  std::filesystem::remove_all(dir);
  auto cache = Open(dir);
  cache->WaitForScan();
  auto body = std::make_shared<const std::string>(size, 'b');
  const Clock::time_point start = Clock::now();
  for (int i = 0; i < n; ++i) cache->Published(Object(i, body));
  cache->Flush();
  const double seconds = Seconds(start);
  if (cache->stats().writes != static_cast<uint64_t>(n)) std::fprintf(stderr, "writes %lu != %d\n", cache->stats().writes, n);
  return n / seconds;
}

// The same bytes with the same syscalls, nothing else.
double PlainWritesPerSecond(const std::string& dir, size_t size, int n) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir + "/tmp");
  const std::string bytes(size + 300, 'b');  // about one head more
  const Clock::time_point start = Clock::now();
  for (int i = 0; i < n; ++i) {
    const std::string tmp = dir + "/tmp/" + std::to_string(i);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || ::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) std::exit(1);
    ::close(fd);
    ::rename(tmp.c_str(), (dir + "/" + std::to_string(i) + ".sce").c_str());
  }
  return n / Seconds(start);
}

struct Latency {
  double median_us, p99_us;
};

Latency HitLatency(disk::DiskCache& cache, int keys, int lookups) {
  std::vector<double> us;
  us.reserve(static_cast<size_t>(lookups));
  std::string buffer;
  for (int i = 0; i < lookups; ++i) {
    const std::string key = "http\x1f" "bench.test\x1f/object/" + std::to_string((i * 7919) % keys);
    const Clock::time_point start = Clock::now();
    std::optional<disk::Located> where = cache.Locate(key);
    if (!where) std::exit(2);
    auto loaded = cache.Load(*where);
    if (!loaded.ok()) std::exit(3);
    buffer.resize(loaded->body_length);
    for (uint64_t at = 0; at < loaded->body_length;) {
      const size_t block = std::min<uint64_t>(64 * 1024, loaded->body_length - at);
      const ssize_t r = ::pread(loaded->fd, buffer.data() + at, block, static_cast<off_t>(loaded->body_offset + at));
      if (r <= 0) std::exit(4);
      at += static_cast<uint64_t>(r);
    }
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[us.size() * 99 / 100]};
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "/tmp/sluice-cache-disk-bench";
  std::filesystem::create_directories(dir);
  struct statfs fs {};
  ::statfs(dir.c_str(), &fs);
  std::printf("directory %s (filesystem magic 0x%lx)\n\n", dir.c_str(), static_cast<unsigned long>(fs.f_type));

  std::printf("%-8s %8s %14s %14s %8s\n", "object", "count", "tier writes/s", "plain writes/s", "ratio");
  struct Case {
    const char* name;
    size_t size;
    int count;
  };
  for (const Case& c : {Case{"4 KiB", 4096, 20000}, Case{"256 KiB", 256 * 1024, 1000}}) {
    // Alternated, best of three each: the kernel's writeback of the previous
    // run's dirty pages slows whichever runs next.
    double plain = 0, tier = 0;
    for (int round = 0; round < 3; ++round) {
      tier = std::max(tier, TierWritesPerSecond(dir + "/tier", c.size, c.count));
      plain = std::max(plain, PlainWritesPerSecond(dir + "/plain", c.size, c.count));
    }
    std::filesystem::remove_all(dir + "/plain");
    std::printf("%-8s %8d %14.0f %14.0f %8.2f\n", c.name, c.count, tier, plain, tier / plain);
  }

  // dir/tier holds 1,000 x 256 KiB now; the scan: 20,000 x 4 KiB.
  TierWritesPerSecond(dir + "/tier", 4096, 20000);
  Clock::time_point start = Clock::now();
  auto cache = Open(dir + "/tier");
  cache->WaitForScan();
  const double scan = Seconds(start);
  std::printf("\nstart-up scan: %lu entries, %.1f MB, in %.3f s (%.0f entries/s)\n", cache->stats().scanned,
              cache->stats().bytes / 1e6, scan, cache->stats().scanned / scan);

  Latency small = HitLatency(*cache, 20000, 20000);
  std::printf("\ndisk hit (Locate + Load + body read), 4 KiB:   median %.1f us, p99 %.1f us\n", small.median_us,
              small.p99_us);
  cache.reset();
  TierWritesPerSecond(dir + "/tier", 256 * 1024, 1000);
  cache = Open(dir + "/tier");
  cache->WaitForScan();
  Latency large = HitLatency(*cache, 1000, 4000);
  std::printf("disk hit (Locate + Load + body read), 256 KiB: median %.1f us, p99 %.1f us\n", large.median_us,
              large.p99_us);
  cache.reset();
  std::filesystem::remove_all(dir);
  return 0;
}
