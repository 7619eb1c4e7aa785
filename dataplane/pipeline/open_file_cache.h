#pragma once
// A worker's open-file cache for directory sites (DirectoryFiles), as
// nginx's open_file_cache: what an open of a path beneath a site's root
// found (the descriptor and its fstat, a directory, or nothing there) is
// kept, so a hot file costs no openat2 + fstat + close per request.
//
// Per worker: every worker thread has its own (ForThisThread), touched by
// that thread only, so the request path takes no lock. Bounded: at most
// `max_entries` (least recently used evicted first; an evicted entry's
// descriptor closes as soon as no response still reads it). Revalidated:
// an entry older than the validity interval is checked with one stat of
// its path before it is used again (0: on every use); a file replaced on
// disk (another inode, size or modification time) is opened afresh, so a
// deploy that rewrites or renames files into place is served within one
// interval. "Nothing there" (ENOENT, ENOTDIR) is cached too, for one
// interval, then looked up again (a probe for missing files costs no
// open each time); other errors (EMFILE, EIO, EACCES) are never cached.
//
// Small files are kept whole (inline_bytes: files of at most that many
// bytes are read once when opened, and their descriptor closed): a hit
// answers head and body from memory, one write with no read, no sendfile
// and no descriptor held. The bytes are revalidated with the same stat as
// a descriptor (a file rewritten in place gets another size or
// modification time), so a changed file is served within one interval.
// What does not change per request is formatted once per open as well:
// the ETag, the Last-Modified date, the media type.
//
// The stat of a revalidation is relative to the site root's descriptor
// but, unlike the open, not confined beneath it (fstatat has no
// RESOLVE_BENEATH): it only decides whether the cached descriptor, which
// was opened beneath the root, is still the file at that name. A symlink
// swapped in to point outside can only make the identities differ, and
// then the path is opened again with openat2 RESOLVE_BENEATH, which
// refuses it.
#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "dataplane/pipeline/body_source.h"

namespace sluice::pipeline {

// What an open of one path found.
struct OpenFileInfo {
  bool exists = false;     // false: nothing servable there (or an error, see cacheable)
  bool cacheable = true;   // false: a transient error (EMFILE, EIO...): never kept
  bool directory = false;
  std::shared_ptr<const FileHandle> file;  // regular files not kept whole
  // Regular files of at most the cache's inline_bytes: all of the file,
  // read when it was opened (then `file` is null: nothing stays open).
  std::shared_ptr<const std::string> bytes;
  // Formatted once per open (regular files): the strong ETag (size and
  // modification time, as nginx), the Last-Modified date, the media type
  // of the name (mime_types.h; a view of the process's table).
  std::string etag;
  std::string last_modified;
  std::string_view content_type;
  dev_t device = 0;
  ino_t inode = 0;
  uint64_t size = 0;
  struct timespec mtime = {};

  // Whether `st` (or `other`) still describes the file this entry opened.
  bool Same(const struct stat& st) const;
  bool Same(const OpenFileInfo& other) const;
};

class OpenFileCache {
 public:
  // How a site reaches its disk (DirectoryFiles; tests count the calls).
  class Disk {
   public:
    virtual ~Disk() = default;
    // `inline_bytes`: a regular file of at most this size is read whole
    // into `bytes` (0: never).
    virtual OpenFileInfo OpenNow(const std::string& relative, size_t inline_bytes) const = 0;
    // stat(2) of the path; false with errno on failure.
    virtual bool StatNow(const std::string& relative, struct stat* st) const = 0;
  };

  // max_entries > 0; valid_ns >= 0 (0: revalidate on every use);
  // inline_bytes: files kept whole up to this size (0: none).
  OpenFileCache(size_t max_entries, int64_t valid_ns, size_t inline_bytes = 0);
  OpenFileCache(const OpenFileCache&) = delete;
  OpenFileCache& operator=(const OpenFileCache&) = delete;

  // `relative` of the site `site` (a key naming the site's root: equal for
  // every site on the same directory). `*hit`: answered without an open.
  std::shared_ptr<const OpenFileInfo> Get(std::string_view site, const std::string& relative, const Disk& disk,
                                          int64_t now_ns, bool* hit);

  // Whether `relative` has an entry the validity interval still covers
  // (Get would answer it without any system call).
  bool Fresh(std::string_view site, const std::string& relative, int64_t now_ns) {
    return FreshEntry(site, relative, now_ns) != nullptr;
  }
  // The same, with what the entry holds (null: not fresh or not there).
  const OpenFileInfo* FreshEntry(std::string_view site, const std::string& relative, int64_t now_ns);
  // What an open done elsewhere (the I/O pool) found: kept as the entry,
  // or, when it is the file the entry already holds, the entry is only
  // marked as checked now (the new descriptor is dropped).
  void Offer(std::string_view site, const std::string& relative, std::shared_ptr<const OpenFileInfo> info,
             int64_t now_ns);

  size_t size() const { return entries_.size(); }
  size_t max_entries() const { return max_entries_; }
  int64_t valid_ns() const { return valid_ns_; }
  size_t inline_bytes() const { return inline_bytes_; }

  // The calling thread's cache, created on first use with the process's
  // settings (Configure); null when the cache is off (max_entries 0).
  static OpenFileCache* ForThisThread();
  // Before the workers start (proxy flags --open-file-cache-entries,
  // --open-file-cache-valid and --open-file-cache-inline-bytes); threads
  // that already made theirs keep it.
  static void Configure(size_t max_entries, int64_t valid_ns, size_t inline_bytes = kDefaultInlineBytes);
  // 16 KiB: a page, a stylesheet, an icon; at most entries x this per
  // worker (16 MiB at the default 1000 entries) when every file is small.
  static constexpr size_t kDefaultInlineBytes = 16 * 1024;
  static int64_t NowNs();  // the steady clock the thread caches use

 private:
  struct Entry {
    std::string key;
    std::shared_ptr<const OpenFileInfo> info;
    int64_t checked_ns = 0;  // when the disk last confirmed it
  };
  using List = std::list<Entry>;  // most recently used first
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view key) const { return std::hash<std::string_view>()(key); }
  };
  const std::string& Key(std::string_view site, const std::string& relative);
  void Put(std::string_view key, std::shared_ptr<const OpenFileInfo> info, int64_t now_ns);

  size_t max_entries_;
  int64_t valid_ns_;
  size_t inline_bytes_;
  List lru_;
  std::unordered_map<std::string, List::iterator, KeyHash, std::equal_to<>> entries_;
  std::string scratch_key_;  // reused: a lookup allocates nothing
};

}  // namespace sluice::pipeline
