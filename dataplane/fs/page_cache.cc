#include "dataplane/fs/page_cache.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <memory>

namespace sluice::fs {
namespace {

// cachestat(2) (Linux 6.5): Debian 12's kernel headers predate it, so the
// number and the structures are spelled out here (include/uapi/linux/mman.h).
#ifndef __NR_cachestat
#if defined(__x86_64__) || defined(__aarch64__)
#define __NR_cachestat 451
#endif
#endif

struct CachestatRange {
  uint64_t off;
  uint64_t len;
};

struct Cachestat {
  uint64_t nr_cache;
  uint64_t nr_dirty;
  uint64_t nr_writeback;
  uint64_t nr_evicted;
  uint64_t nr_recently_evicted;
};

// Set once the kernel said it has no cachestat: no syscall per response after.
std::atomic<bool> cachestat_missing{false};

}  // namespace

Residency RangeResidency(int fd, uint64_t offset, uint64_t length) {
#ifdef __NR_cachestat
  if (length == 0) return Residency::kResident;
  if (cachestat_missing.load(std::memory_order_relaxed)) return Residency::kUnknown;
  static const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  CachestatRange range{offset, length};
  Cachestat stat{};
  if (syscall(__NR_cachestat, fd, &range, &stat, 0) != 0) {
    if (errno == ENOSYS || errno == EPERM) cachestat_missing.store(true, std::memory_order_relaxed);
    return Residency::kUnknown;
  }
  // The pages the range touches (a range past the end of the file counts
  // only the file's pages: the send stops there anyway).
  const uint64_t first = offset / page;
  const uint64_t last = (offset + length - 1) / page;
  return stat.nr_cache >= last - first + 1 ? Residency::kResident : Residency::kNotResident;
#else
  return Residency::kUnknown;
#endif
}

bool WarmRange(int fd, uint64_t offset, uint64_t length) {
  constexpr size_t kBlock = 128 * 1024;
  // One buffer per I/O thread: its bytes are never looked at.
  thread_local std::unique_ptr<char[]> buffer(new char[kBlock]);
  const uint64_t end = offset + length;
  while (offset < end) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kBlock, end - offset));
    const ssize_t n = pread(fd, buffer.get(), want, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n == 0;  // 0: the file ended early, nothing more to warm
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

}  // namespace sluice::fs
