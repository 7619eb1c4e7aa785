#include "dataplane/cache/disk/disk_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "dataplane/cache/disk/entry_format.h"

namespace sluice::cache::disk {
namespace {

constexpr std::string_view kSuffix = ".sce";
constexpr size_t kHexDigits = 16;
// One pread reads the head of nearly every entry (and the start of a body).
constexpr size_t kFirstRead = 16 * 1024;

int64_t WallNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Hex(uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(kHexDigits, '0');
  for (size_t i = kHexDigits; i-- > 0; v >>= 4) out[i] = kDigits[v & 15];
  return out;
}

// The hash an entry file's name spells, or nullopt for any other name.
std::optional<uint64_t> HashOfName(std::string_view name) {
  if (name.size() != kHexDigits + kSuffix.size() || !name.ends_with(kSuffix)) return std::nullopt;
  uint64_t v = 0;
  for (size_t i = 0; i < kHexDigits; ++i) {
    const char c = name[i];
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return std::nullopt;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  return v;
}

bool WriteAll(int fd, std::string_view a, std::string_view b) {
  while (!a.empty() || !b.empty()) {
    iovec iov[2] = {{const_cast<char*>(a.data()), a.size()}, {const_cast<char*>(b.data()), b.size()}};
    const ssize_t n = ::writev(fd, iov, 2);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    size_t left = static_cast<size_t>(n);
    const size_t from_a = std::min(left, a.size());
    a.remove_prefix(from_a);
    b.remove_prefix(left - from_a);
  }
  return true;
}

bool PreadAll(int fd, std::string& out, size_t n, uint64_t offset) {
  out.resize(n);
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::pread(fd, out.data() + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

// Opens `path` and parses its head; checks the file is exactly head + body
// and holds `expected_key` (when given). `size_out`: the file's size.
Result<Loaded> OpenEntry(const std::string& path, std::string_view expected_key, uint64_t* size_out) {
  Loaded loaded;
  loaded.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (loaded.fd < 0) return Status::Error(std::string("open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(loaded.fd, &st) != 0 || !S_ISREG(st.st_mode)) return Status::Error("not a regular file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  std::string bytes;
  if (!PreadAll(loaded.fd, bytes, std::min<uint64_t>(size, kFirstRead), 0)) return Status::Error("short read");
  Result<EntryHead> head = ParseHead(bytes);
  if (!head.ok() && head.status().message() == "short") {
    const uint64_t head_length = PeekHeadLength(bytes);
    if (head_length <= bytes.size() || head_length > kMaxHeadBytes || head_length > size) {
      return Status::Error("truncated head");
    }
    if (!PreadAll(loaded.fd, bytes, head_length, 0)) return Status::Error("short read");
    head = ParseHead(bytes);
  }
  if (!head.ok()) return head.status();
  if (head->head_length + head->body_length != size) return Status::Error("file size is not head + body (truncated)");
  if (!expected_key.empty() && head->object->key != expected_key) return Status::Error("another key");
  loaded.object = std::move(head->object);
  loaded.body_offset = head->head_length;
  loaded.body_length = head->body_length;
  loaded.written_ns = head->written_ns;
  if (size_out != nullptr) *size_out = size;
  return loaded;
}

// What the index keeps of an object: enough to match purges and Vary.
std::shared_ptr<const CachedObject> StubOf(const CachedObject& object) {
  auto stub = std::make_shared<CachedObject>();
  stub->key = object.key;
  stub->status = object.status;
  stub->vary = object.vary;
  stub->tags = object.tags;
  stub->vary_marker = object.vary_marker;
  stub->body = nullptr;
  return stub;
}

}  // namespace

Loaded& Loaded::operator=(Loaded&& other) noexcept {
  if (this != &other) {
    if (fd >= 0) ::close(fd);
    object = std::move(other.object);
    fd = std::exchange(other.fd, -1);
    body_offset = other.body_offset;
    body_length = other.body_length;
    written_ns = other.written_ns;
  }
  return *this;
}

Loaded::~Loaded() {
  if (fd >= 0) ::close(fd);
}

DiskCache::DiskCache(const DiskOptions& options) : options_(options) {}

Result<std::unique_ptr<DiskCache>> DiskCache::Open(const DiskOptions& options) {
  if (options.dir.empty()) return Status::Error("no directory");
  const std::string tmp = options.dir + "/tmp";
  for (const std::string& dir : {options.dir, tmp}) {
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::Error("cannot create " + dir + ": " + std::strerror(errno));
    }
  }
  // Temporaries of a previous run: writes that never finished.
  if (DIR* d = ::opendir(tmp.c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') ::unlinkat(::dirfd(d), e->d_name, 0);
    }
    ::closedir(d);
  } else {
    return Status::Error("cannot read " + tmp + ": " + std::strerror(errno));
  }
  std::unique_ptr<DiskCache> cache(new DiskCache(options));
  cache->writer_ = std::thread([raw = cache.get()] { raw->WriterLoop(); });
  cache->scanner_ = std::thread([raw = cache.get()] { raw->ScanLoop(); });
  return cache;
}

DiskCache::~DiskCache() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_.notify_all();
  if (scanner_.joinable()) scanner_.join();
  if (writer_.joinable()) writer_.join();
}

std::string DiskCache::PathOf(uint64_t hash) const {
  std::string path = options_.dir;
  path.push_back('/');
  path += Hex(hash);
  path += kSuffix;
  return path;
}

void DiskCache::Enqueue(Op op) {
  op.seq = ++next_seq_;
  queue_.push_back(std::move(op));
}

void DiskCache::Published(const std::shared_ptr<const CachedObject>& object) {
  if (object == nullptr) return;
  const uint64_t bytes = (object->body != nullptr ? object->body->size() : 0) + object->key.size() + 1024;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    if (queued_writes_ >= options_.max_queued_writes || queued_bytes_ + bytes > options_.max_queued_bytes ||
        bytes > options_.capacity_bytes) {
      ++dropped_;
      return;
    }
    Op op;
    op.kind = Op::kWrite;
    op.hash = Store::HashKey(object->key);
    op.purge_epoch = purge_epoch_;
    op.object = object;
    op.queued_bytes = bytes;
    ++queued_writes_;
    queued_bytes_ += bytes;
    ++pending_writes_[op.hash];
    Enqueue(std::move(op));
  }
  work_.notify_one();
}

void DiskCache::EraseLocked(uint64_t hash) {
  auto it = index_.find(hash);
  if (it == index_.end()) return;
  bytes_ -= it->second.file_bytes;
  lru_.erase(it->second.lru);
  index_.erase(it);
}

void DiskCache::Removed(std::string_view key) {
  const uint64_t hash = Store::HashKey(key);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!scan_done_) removed_during_scan_.insert(hash);
    auto it = index_.find(hash);
    const bool indexed = it != index_.end() && it->second.stub->key == key;
    // Most invalidations (every successful POST) name nothing stored: no
    // unlink for them.
    if (!indexed && pending_writes_.count(hash) == 0) return;
    if (indexed) EraseLocked(hash);
    Op op;
    op.kind = Op::kUnlink;
    op.hash = hash;
    Enqueue(std::move(op));
  }
  work_.notify_one();
}

void DiskCache::RemovedIf(const std::function<bool(const CachedObject&)>& match) {
  std::unique_lock<std::mutex> lock(mu_);
  scanned_.wait(lock, [this] { return scan_done_ || stopping_; });
  ++purge_epoch_;  // the writes queued before now are discarded
  std::vector<uint64_t> doomed;
  for (const auto& [hash, entry] : index_) {
    if (match(*entry.stub)) doomed.push_back(hash);
  }
  for (uint64_t hash : doomed) {
    EraseLocked(hash);
    Op op;
    op.kind = Op::kUnlink;
    op.hash = hash;
    Enqueue(std::move(op));
  }
  lock.unlock();
  work_.notify_one();
}

std::optional<Located> DiskCache::Locate(std::string_view key) {
  const uint64_t hash = Store::HashKey(key);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(hash);
  if (it == index_.end() || it->second.stub->key != key) return std::nullopt;
  Entry& entry = it->second;
  lru_.splice(lru_.begin(), lru_, entry.lru);
  Located out;
  out.key = std::string(key);
  out.path = PathOf(hash);
  out.hash = hash;
  out.file_bytes = entry.file_bytes;
  out.written_ns = entry.written_ns;
  out.vary_marker = entry.stub->vary_marker;
  out.vary = entry.stub->vary;
  return out;
}

Result<Loaded> DiskCache::Load(const Located& where) {
  uint64_t size = 0;
  Result<Loaded> loaded = OpenEntry(where.path, where.key, &size);
  if (loaded.ok() && size == where.file_bytes) return loaded;
  {
    // Gone (purged, evicted, replaced meanwhile) or corrupt: forgotten,
    // unless a newer write replaced the entry since it was located.
    std::lock_guard<std::mutex> lock(mu_);
    auto it = index_.find(where.hash);
    if (it != index_.end() && it->second.written_ns == where.written_ns) {
      EraseLocked(where.hash);
      ++corrupt_;
      Op op;
      op.kind = Op::kUnlinkStray;
      op.hash = where.hash;
      Enqueue(std::move(op));
    }
  }
  work_.notify_one();
  if (loaded.ok()) return Status::Error("replaced meanwhile");
  return loaded.status();
}

void DiskCache::EvictLocked(std::vector<uint64_t>& victims) {
  while (bytes_ > options_.capacity_bytes && !lru_.empty()) {
    const uint64_t victim = lru_.back();
    EraseLocked(victim);
    victims.push_back(victim);
    ++evictions_;
  }
}

void DiskCache::Unlink(uint64_t hash) const { ::unlink(PathOf(hash).c_str()); }

void DiskCache::WriterLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) {
      if (stopping_) return;
      continue;
    }
    Op op = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    if (op.kind == Op::kWrite) {
      lock.unlock();
      Write(op);
      lock.lock();
      --queued_writes_;
      queued_bytes_ -= op.queued_bytes;
      if (--pending_writes_[op.hash] == 0) pending_writes_.erase(op.hash);
    } else {
      // kUnlink: what the removal found indexed is gone from the index
      // already; an entry a write queued before it indexed since goes too.
      // kUnlinkStray: only when nothing was indexed at the hash since.
      auto it = index_.find(op.hash);
      if (op.kind == Op::kUnlink && it != index_.end() && it->second.seq < op.seq) EraseLocked(op.hash);
      if (index_.find(op.hash) == index_.end()) {
        lock.unlock();
        Unlink(op.hash);
        lock.lock();
      }
    }
    writing_ = false;
    if (queue_.empty()) drained_.notify_all();
  }
}

void DiskCache::Write(const Op& op) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (op.purge_epoch != purge_epoch_) return;  // a purge came after it was queued
  }
  const CachedObject& object = *op.object;
  const int64_t written_ns = WallNs();
  const std::string head = EncodeHead(object, written_ns);
  const std::string_view body = object.body != nullptr ? std::string_view(*object.body) : std::string_view();
  const std::string tmp = options_.dir + "/tmp/" + Hex(op.hash) + "." + std::to_string(op.seq);
  const std::string path = PathOf(op.hash);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  bool ok = fd >= 0 && WriteAll(fd, head, body);
  if (fd >= 0 && ::close(fd) != 0) ok = false;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    std::lock_guard<std::mutex> lock(mu_);
    ++write_errors_;
    return;
  }
  // Not under the lock (a rename may wait on the filesystem's journal, and
  // lookups take the lock). A removal of this key meanwhile queued an
  // unlink behind this write; a purge since it was queued means it must
  // not be published.
  std::unique_lock<std::mutex> lock(mu_);
  if (op.purge_epoch != purge_epoch_) {
    EraseLocked(op.hash);
    lock.unlock();
    ::unlink(path.c_str());
    return;
  }
  const uint64_t file_bytes = head.size() + body.size();
  EraseLocked(op.hash);  // the replaced entry (same key, or a hash collision)
  Entry entry;
  entry.stub = StubOf(object);
  entry.file_bytes = file_bytes;
  entry.written_ns = written_ns;
  entry.seq = op.seq;
  lru_.push_front(op.hash);
  entry.lru = lru_.begin();
  index_.emplace(op.hash, std::move(entry));
  bytes_ += file_bytes;
  ++writes_;
  std::vector<uint64_t> victims;
  EvictLocked(victims);
  lock.unlock();
  for (uint64_t victim : victims) Unlink(victim);
}

void DiskCache::ScanLoop() {
  struct Found {
    uint64_t hash;
    int64_t mtime_ns;
  };
  std::vector<Found> found;
  if (DIR* d = ::opendir(options_.dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::optional<uint64_t> hash = HashOfName(e->d_name);
      if (!hash) continue;
      struct stat st {};
      if (::fstatat(::dirfd(d), e->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode)) continue;
      found.push_back(Found{*hash, static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec});
    }
    ::closedir(d);
  }
  // Newest first: those are indexed first (the likeliest hits while the
  // scan runs), and each later one is older, so it goes to the LRU's cold
  // end and an over-full directory loses its oldest files.
  std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) { return a.mtime_ns > b.mtime_ns; });
  for (const Found& file : found) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;
      if (index_.count(file.hash) != 0) continue;  // written since the start: newer
    }
    uint64_t size = 0;
    Result<Loaded> loaded = OpenEntry(PathOf(file.hash), "", &size);
    const bool valid = loaded.ok() && Store::HashKey(loaded->object->key) == file.hash;
    std::lock_guard<std::mutex> lock(mu_);
    if (index_.count(file.hash) != 0) continue;
    if (!valid || removed_during_scan_.count(file.hash) != 0) {
      if (!valid) ++corrupt_;
      Op op;
      op.kind = Op::kUnlinkStray;
      op.hash = file.hash;
      Enqueue(std::move(op));
      work_.notify_one();
      continue;
    }
    Entry entry;
    entry.stub = StubOf(*loaded->object);
    entry.file_bytes = size;
    entry.written_ns = loaded->written_ns;
    entry.seq = 0;
    lru_.push_back(file.hash);
    entry.lru = std::prev(lru_.end());
    index_.emplace(file.hash, std::move(entry));
    bytes_ += size;
    ++scanned_entries_;
    std::vector<uint64_t> victims;
    EvictLocked(victims);
    for (uint64_t victim : victims) {
      Op op;
      op.kind = Op::kUnlinkStray;
      op.hash = victim;
      Enqueue(std::move(op));
    }
    if (!victims.empty()) work_.notify_one();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    scan_done_ = true;
    removed_during_scan_.clear();
  }
  scanned_.notify_all();
}

void DiskCache::WaitForScan() {
  std::unique_lock<std::mutex> lock(mu_);
  scanned_.wait(lock, [this] { return scan_done_ || stopping_; });
}

void DiskCache::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  drained_.wait(lock, [this] { return (queue_.empty() && !writing_) || stopping_; });
}

DiskStats DiskCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  DiskStats s;
  s.bytes = bytes_;
  s.entries = index_.size();
  s.hits = hits_.load(std::memory_order_relaxed);
  s.writes = writes_;
  s.dropped_writes = dropped_;
  s.write_errors = write_errors_;
  s.evictions = evictions_;
  s.corrupt = corrupt_;
  s.scanned = scanned_entries_;
  s.scan_done = scan_done_;
  return s;
}

}  // namespace sluice::cache::disk
