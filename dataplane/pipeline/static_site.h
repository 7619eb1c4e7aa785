#pragma once
// Where a static site's files come from: a directory on a volume mounted
// into the proxy (DirectoryFiles) or files pushed in the snapshot
// (MemoryFiles, from a ConfigMap). Built when the snapshot is compiled,
// immutable afterwards, shared by every worker; the stage
// (static_stage.h) asks for a relative path the normaliser made safe
// (static_path.h) and streams what it gets through a BodySource.
//
// Blocking: DirectoryFiles::Open opens and stats on the calling thread.
// The static stage calls it on the event loop, but a directory site's
// chain first has StaticOpenStage open what the worker's open-file cache
// (open_file_cache.h) lacks on the I/O pool (io_pool.h), so Open normally
// answers from the cache without a system call. Small files are read whole
// when opened (open_file_cache.h: inline bytes), so their answers come from
// memory; larger ones' FileBodySource reads on the loop (pread; sendfile on
// plain HTTP/1.1), but only bytes the source found in the page cache or
// had an I/O thread read in first (FileBodySource::OffloadReadsTo).
#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/pipeline/body_source.h"
#include "dataplane/pipeline/open_file_cache.h"

namespace sluice::pipeline {

// A file or directory found in a site, ready to be served.
class OpenedFile {
 public:
  virtual ~OpenedFile() = default;
  bool directory = false;
  uint64_t size = 0;
  time_t last_modified = -1;  // -1: unknown (memory files): no Last-Modified
  // Views of what the file's site or cache entry formatted once (valid as
  // long as this object): no formatting or copy per request.
  std::string_view etag;               // strong, quoted
  std::string_view last_modified_text;  // the HTTP date; empty when last_modified is -1
  std::string_view content_type;       // of the name it was opened at (a view of the process's table: valid for ever)
  // The bytes [offset, offset + length) (the file stays readable: a
  // multipart answer asks for several ranges).
  virtual std::unique_ptr<BodySource> Read(uint64_t offset, uint64_t length) = 0;
};

// Opens answered by a worker's open-file cache and opens that went to the
// disk (a request may look up several paths: the index, siblings).
struct OpenCounts {
  uint32_t cache_hits = 0;
  uint32_t cache_misses = 0;
};

class StaticFiles {
 public:
  virtual ~StaticFiles() = default;
  // `relative` is a normalised path ("" is the root): null when there is
  // nothing (or nothing regular: devices, FIFOs and sockets are never served).
  // `counts` (optional) adds whether the open-file cache answered.
  virtual std::unique_ptr<OpenedFile> Open(std::string_view relative, OpenCounts* counts = nullptr) const = 0;
};

// A site pushed in the snapshot. Each file's bytes are shared with every
// response serving them (no copy per request).
class MemoryFiles final : public StaticFiles {
 public:
  // path -> content; paths as in StaticFile.path ("css/site.css").
  explicit MemoryFiles(const std::vector<std::pair<std::string, std::string>>& files);
  std::unique_ptr<OpenedFile> Open(std::string_view relative, OpenCounts* counts = nullptr) const override;

 private:
  struct File {
    std::shared_ptr<const std::string> content;
    std::string etag;
    std::string_view content_type;
  };
  std::map<std::string, File, std::less<>> files_;
  std::map<std::string, bool, std::less<>> directories_;  // every parent of a file, "" included
};

// A directory of the proxy's filesystem. Every open is relative to the
// root's descriptor with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS):
// the kernel refuses any resolution that leaves the root ("..", absolute
// symlinks, symlinks pointing out, /proc magic links). Where openat2 is
// missing (ENOSYS: kernels before 5.6, some seccomp profiles) each
// component is opened with O_NOFOLLOW instead: no symlink at all is
// followed then.
//
// Opens go through the calling thread's open-file cache when there is one
// (OpenFileCache::ForThisThread, or the one given: tests), keyed by the
// root directory's device and inode, so that the sites of successive
// snapshots on the same directory share their entries.
class DirectoryFiles final : public StaticFiles, private OpenFileCache::Disk {
 public:
  explicit DirectoryFiles(const std::string& root);
  ~DirectoryFiles() override;
  DirectoryFiles(const DirectoryFiles&) = delete;
  DirectoryFiles& operator=(const DirectoryFiles&) = delete;
  bool ok() const { return root_fd_ >= 0; }
  std::unique_ptr<OpenedFile> Open(std::string_view relative, OpenCounts* counts = nullptr) const override;
  // The cache Open uses on this thread (null: none), the site's key in it,
  // and an open without it (thread-safe: the I/O pool calls it).
  OpenFileCache* cache() const { return own_cache_choice_ ? cache_ : OpenFileCache::ForThisThread(); }
  const std::string& site_key() const { return site_key_; }
  OpenFileInfo OpenUncached(const std::string& relative, size_t inline_bytes) const {
    return OpenNow(relative, inline_bytes);
  }
  // Tests: use `cache` instead of the thread's (null: no cache at all).
  void UseCache(OpenFileCache* cache) {
    cache_ = cache;
    own_cache_choice_ = true;
  }

 private:
  OpenFileInfo OpenNow(const std::string& relative, size_t inline_bytes) const override;
  bool StatNow(const std::string& relative, struct stat* st) const override;
  int OpenBeneath(const std::string& relative) const;
  int root_fd_ = -1;
  std::string site_key_;  // the root's device and inode
  OpenFileCache* cache_ = nullptr;
  bool own_cache_choice_ = false;
};

}  // namespace sluice::pipeline
