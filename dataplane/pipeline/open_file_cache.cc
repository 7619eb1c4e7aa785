#include "dataplane/pipeline/open_file_cache.h"

#include <atomic>
#include <chrono>

namespace sluice::pipeline {
namespace {

// Set once before the workers start; read when a thread makes its cache.
std::atomic<size_t> configured_entries{0};
std::atomic<int64_t> configured_valid_ns{1'000'000'000};
std::atomic<size_t> configured_inline_bytes{OpenFileCache::kDefaultInlineBytes};

}  // namespace

bool OpenFileInfo::Same(const struct stat& st) const {
  if (!exists) return false;
  const bool is_directory = S_ISDIR(st.st_mode);
  if (is_directory != directory) return false;
  if (!is_directory && !S_ISREG(st.st_mode)) return false;
  return st.st_dev == device && st.st_ino == inode && static_cast<uint64_t>(st.st_size) == size &&
         st.st_mtim.tv_sec == mtime.tv_sec && st.st_mtim.tv_nsec == mtime.tv_nsec;
}

bool OpenFileInfo::Same(const OpenFileInfo& other) const {
  return exists && other.exists && directory == other.directory && device == other.device &&
         inode == other.inode && size == other.size && mtime.tv_sec == other.mtime.tv_sec &&
         mtime.tv_nsec == other.mtime.tv_nsec;
}

OpenFileCache::OpenFileCache(size_t max_entries, int64_t valid_ns, size_t inline_bytes)
    : max_entries_(max_entries == 0 ? 1 : max_entries),
      valid_ns_(valid_ns < 0 ? 0 : valid_ns),
      inline_bytes_(inline_bytes) {
  entries_.reserve(max_entries_);
}

std::shared_ptr<const OpenFileInfo> OpenFileCache::Get(std::string_view site, const std::string& relative,
                                                       const Disk& disk, int64_t now_ns, bool* hit) {
  *hit = false;
  Key(site, relative);
  auto found = entries_.find(std::string_view(scratch_key_));
  if (found != entries_.end()) {
    List::iterator entry = found->second;
    lru_.splice(lru_.begin(), lru_, entry);
    if (now_ns - entry->checked_ns < valid_ns_) {
      *hit = true;
      return entry->info;
    }
    // Stale: one stat says whether the descriptor is still the file at
    // that name. Negative entries are simply looked up again.
    struct stat st;
    if (entry->info->exists && disk.StatNow(relative, &st) && entry->info->Same(st)) {
      entry->checked_ns = now_ns;
      *hit = true;
      return entry->info;
    }
    entries_.erase(found);
    lru_.erase(entry);  // its descriptor closes with the last response reading it
  }
  auto info = std::make_shared<const OpenFileInfo>(disk.OpenNow(relative, inline_bytes_));
  if (info->cacheable) Put(scratch_key_, info, now_ns);
  return info;
}

const std::string& OpenFileCache::Key(std::string_view site, const std::string& relative) {
  scratch_key_.assign(site);
  scratch_key_.push_back('\0');
  scratch_key_.append(relative);
  return scratch_key_;
}

const OpenFileInfo* OpenFileCache::FreshEntry(std::string_view site, const std::string& relative, int64_t now_ns) {
  auto found = entries_.find(std::string_view(Key(site, relative)));
  if (found == entries_.end() || now_ns - found->second->checked_ns >= valid_ns_) return nullptr;
  return found->second->info.get();
}

void OpenFileCache::Offer(std::string_view site, const std::string& relative,
                          std::shared_ptr<const OpenFileInfo> info, int64_t now_ns) {
  Key(site, relative);
  auto found = entries_.find(std::string_view(scratch_key_));
  if (found != entries_.end()) {
    List::iterator entry = found->second;
    if (entry->info->Same(*info)) {
      entry->checked_ns = now_ns;
      lru_.splice(lru_.begin(), lru_, entry);
      return;
    }
    entries_.erase(found);
    lru_.erase(entry);
  }
  if (info->cacheable) Put(scratch_key_, std::move(info), now_ns);
}

void OpenFileCache::Put(std::string_view key, std::shared_ptr<const OpenFileInfo> info, int64_t now_ns) {
  while (entries_.size() >= max_entries_ && !lru_.empty()) {
    entries_.erase(entries_.find(std::string_view(lru_.back().key)));
    lru_.pop_back();
  }
  lru_.push_front(Entry{std::string(key), std::move(info), now_ns});
  entries_.emplace(lru_.front().key, lru_.begin());
}

OpenFileCache* OpenFileCache::ForThisThread() {
  thread_local std::unique_ptr<OpenFileCache> cache = [] {
    size_t entries = configured_entries.load(std::memory_order_relaxed);
    return entries == 0 ? nullptr
                        : std::make_unique<OpenFileCache>(entries, configured_valid_ns.load(std::memory_order_relaxed),
                                                          configured_inline_bytes.load(std::memory_order_relaxed));
  }();
  return cache.get();
}

void OpenFileCache::Configure(size_t max_entries, int64_t valid_ns, size_t inline_bytes) {
  configured_entries.store(max_entries, std::memory_order_relaxed);
  configured_valid_ns.store(valid_ns, std::memory_order_relaxed);
  configured_inline_bytes.store(inline_bytes, std::memory_order_relaxed);
}

int64_t OpenFileCache::NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace sluice::pipeline
