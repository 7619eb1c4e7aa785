#pragma once
// The response cache's disk tier (--cache-dir, --cache-disk-size): a
// write-through copy of what the memory store (dataplane/cache/store)
// publishes, one file per object (entry_format.h), which survives a proxy
// restart.
//
// Threads. Nothing here does file I/O on an event loop:
//   - the writer thread (one per process) writes every published object
//     (temporary file under DIR/tmp, then rename(2) into place: a reader
//     sees the old file or the new one, never half of one), unlinks what
//     is removed, evicted or found corrupt. Its queue is bounded (count and
//     bytes): a write that does not fit is dropped and counted, the object
//     stays in memory only. Removals are never dropped.
//   - the scan thread rebuilds the index from DIR at start, newest file
//     first (by mtime), and exits. The proxy serves meanwhile: lookups
//     find what is indexed so far. Files that fail any check (magic,
//     version, head CRC, file size = head + body, key hashing to the file
//     name) are skipped and removed.
//   - hits are opened and their head read on the proxy's I/O pool
//     (Load(), pipeline/io_pool.h); the body is then sent from the file
//     (sendfile on plain HTTP/1.1, pread otherwise) by the exchange.
// The event loop only touches the in-memory index, under one mutex held
// for a hash probe and a list splice (the disk tier is consulted only on
// memory misses, each of which costs an I/O-pool round trip anyway).
//
// Accounting and eviction: bytes on disk are the exact sizes of the
// indexed files (head + body; what `ls -l` says, not the filesystem's
// blocks), kept at or below `capacity_bytes` by evicting the least
// recently used entry (LRU by access: a hit moves an entry to the front;
// after a restart the order starts from the files' mtimes). Plain LRU,
// not S3-FIFO as the memory tier: the memory tier in front already
// filters one-hit wonders out of the hits the disk sees.
//
// Consistency with removals: a removal (invalidation, purge) drops the
// index entry at once and queues the unlink behind the writes already
// queued, so a write of the same key queued before it cannot resurrect
// it; a purge by prefix or tag (RemovedIf) also discards every write
// queued before it (the writer cannot re-run the purge's matcher), and
// waits for the start-up scan to finish first so no file it would match
// is indexed after it.
//
// Vary: markers and variants are stored like any object; a variant is used
// only when its file was written no earlier than its marker's (written_ns
// survives restarts; the memory store's sequence numbers do not).
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/status.h"
#include "dataplane/cache/store/cached_object.h"
#include "dataplane/cache/store/store.h"

namespace sluice::cache::disk {

struct DiskOptions {
  std::string dir;
  uint64_t capacity_bytes = 1ull << 30;
  // The writer's queue: at most this many objects and bytes waiting.
  size_t max_queued_writes = 1024;
  uint64_t max_queued_bytes = 64ull << 20;
};

struct DiskStats {
  uint64_t bytes = 0;          // sizes of the indexed files
  uint64_t entries = 0;
  uint64_t hits = 0;           // answered from a disk entry (CountHit)
  uint64_t writes = 0;         // entries written
  uint64_t dropped_writes = 0; // queue full
  uint64_t write_errors = 0;
  uint64_t evictions = 0;
  uint64_t corrupt = 0;        // files skipped and removed
  uint64_t scanned = 0;        // entries indexed by the start-up scan
  bool scan_done = false;
};

// An index entry as a lookup sees it (no file I/O done).
struct Located {
  std::string key;
  std::string path;
  uint64_t hash = 0;
  uint64_t file_bytes = 0;
  int64_t written_ns = 0;
  bool vary_marker = false;
  std::vector<std::string> vary;  // a marker's Vary names
};

// An opened entry: its head parsed, its file open at the body.
struct Loaded {
  Loaded() = default;
  Loaded(Loaded&& other) noexcept { *this = std::move(other); }
  Loaded& operator=(Loaded&& other) noexcept;
  ~Loaded();
  int release_fd() { return std::exchange(fd, -1); }

  std::shared_ptr<CachedObject> object;  // body empty: the bytes are in the file
  int fd = -1;
  uint64_t body_offset = 0;
  uint64_t body_length = 0;
  int64_t written_ns = 0;
};

class DiskCache final : public LowerTier {
 public:
  // Creates DIR (and DIR/tmp, emptied: temporaries of a previous run),
  // then starts the writer and the scan.
  static Result<std::unique_ptr<DiskCache>> Open(const DiskOptions& options);
  ~DiskCache() override;  // finishes the queued writes, stops the threads
  DiskCache(const DiskCache&) = delete;
  DiskCache& operator=(const DiskCache&) = delete;

  // LowerTier (store.h): from any thread, never blocking on disk.
  void Published(const std::shared_ptr<const CachedObject>& object) override;
  void Removed(std::string_view key) override;
  // Blocks until the start-up scan is over (called by admin purges only).
  void RemovedIf(const std::function<bool(const CachedObject&)>& match) override;

  // The entry at `key` (index only: no I/O); a found entry becomes the
  // most recently used.
  std::optional<Located> Locate(std::string_view key);
  // Opens `where` and reads its head: on an I/O thread, never a loop. An
  // entry that is gone, corrupt or not the key is dropped from the index
  // (and its file unlinked by the writer).
  Result<Loaded> Load(const Located& where);
  void CountHit() { hits_.fetch_add(1, std::memory_order_relaxed); }

  DiskStats stats() const;
  const DiskOptions& options() const { return options_; }
  // Tests and benchmarks: wait until the scan is over / the queue is empty.
  void WaitForScan();
  void Flush();

  std::string PathOf(uint64_t hash) const;

 private:
  explicit DiskCache(const DiskOptions& options);
  struct Op {
    enum Kind : uint8_t { kWrite, kUnlink, kUnlinkStray } kind = kWrite;
    uint64_t hash = 0;
    uint64_t seq = 0;
    uint64_t purge_epoch = 0;
    uint64_t queued_bytes = 0;
    std::shared_ptr<const CachedObject> object;
  };
  struct Entry {
    std::shared_ptr<const CachedObject> stub;  // key, tags, Vary: what purges and lookups match
    uint64_t file_bytes = 0;
    int64_t written_ns = 0;
    uint64_t seq = 0;  // the write that made it (0: the scan)
    std::list<uint64_t>::iterator lru;
  };

  void WriterLoop();
  void ScanLoop();
  void Write(const Op& op);
  void Enqueue(Op op);  // mu_ held
  // mu_ held: removes `hash` from the index (its file left to the caller).
  void EraseLocked(uint64_t hash);
  // mu_ held: evicts until the bytes fit; the victims' files to unlink.
  void EvictLocked(std::vector<uint64_t>& victims);
  void Unlink(uint64_t hash) const;

  DiskOptions options_;
  mutable std::mutex mu_;
  std::condition_variable work_;     // the writer: ops queued, or stopping
  std::condition_variable drained_;  // Flush(): the queue is empty and the writer idle
  std::condition_variable scanned_;  // the scan finished
  std::deque<Op> queue_;
  size_t queued_writes_ = 0;
  uint64_t queued_bytes_ = 0;
  bool writing_ = false;
  bool stopping_ = false;
  uint64_t next_seq_ = 0;
  uint64_t purge_epoch_ = 0;
  std::unordered_map<uint64_t, Entry> index_;
  std::list<uint64_t> lru_;  // front: most recently used
  std::unordered_map<uint64_t, int> pending_writes_;
  uint64_t bytes_ = 0;
  bool scan_done_ = false;
  std::unordered_set<uint64_t> removed_during_scan_;
  uint64_t writes_ = 0, dropped_ = 0, write_errors_ = 0, evictions_ = 0, corrupt_ = 0, scanned_entries_ = 0;
  std::atomic<uint64_t> hits_{0};
  std::thread writer_;
  std::thread scanner_;
};

}  // namespace sluice::cache::disk
