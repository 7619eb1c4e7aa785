#include "dataplane/pipeline/static_site.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "dataplane/http/conditional/conditional.h"
#include "dataplane/pipeline/mime_types.h"

namespace sluice::pipeline {
namespace {

// FNV-1a: a strong validator of bytes that exist only in the snapshot (the
// same on every proxy, unlike a time).
uint64_t Fnv1a(std::string_view bytes) {
  uint64_t hash = 1469598103934665603ull;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

std::string Hex(uint64_t value) {
  char text[17];
  int n = snprintf(text, sizeof text, "%llx", static_cast<unsigned long long>(value));
  return std::string(text, static_cast<size_t>(n));
}

class MemoryFile final : public OpenedFile {
 public:
  explicit MemoryFile(std::shared_ptr<const std::string> content) : content_(std::move(content)) {}
  std::unique_ptr<BodySource> Read(uint64_t offset, uint64_t length) override {
    return std::make_unique<MemoryBodySource>(content_, static_cast<size_t>(offset), static_cast<size_t>(length));
  }

 private:
  std::shared_ptr<const std::string> content_;
};

class DirectoryEntry final : public OpenedFile {
 public:
  std::unique_ptr<BodySource> Read(uint64_t, uint64_t) override { return nullptr; }
};

class DiskFile final : public OpenedFile {
 public:
  explicit DiskFile(std::shared_ptr<const OpenFileInfo> info) : info_(std::move(info)) {
    size = info_->size;
    last_modified = info_->mtime.tv_sec;
    etag = info_->etag;
    last_modified_text = info_->last_modified;
    content_type = info_->content_type;
  }
  // A file kept whole answers from its bytes (shared, not copied).
  // Otherwise every source shares the one descriptor (a multipart answer
  // reads several ranges; the open-file cache keeps it for the next
  // request): no dup, no close per response. The descriptor closes with
  // its last holder.
  std::unique_ptr<BodySource> Read(uint64_t offset, uint64_t length) override {
    if (info_->bytes != nullptr) {
      return std::make_unique<MemoryBodySource>(info_->bytes, static_cast<size_t>(offset), static_cast<size_t>(length));
    }
    return std::make_unique<FileBodySource>(info_->file, offset, length);
  }

 private:
  std::shared_ptr<const OpenFileInfo> info_;
};

bool Openat2Missing() {
  static bool missing = [] {
    struct open_how how = {};
    how.flags = O_RDONLY | O_CLOEXEC | O_DIRECTORY;
    long fd = syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof how);
    if (fd >= 0) close(static_cast<int>(fd));
    return fd < 0 && errno == ENOSYS;
  }();
  return missing;
}

}  // namespace

MemoryFiles::MemoryFiles(const std::vector<std::pair<std::string, std::string>>& files) {
  directories_.emplace("", true);
  for (const auto& [path, content] : files) {
    File file;
    file.content = std::make_shared<const std::string>(content);
    file.etag = "\"" + Hex(Fnv1a(content)) + "-" + Hex(content.size()) + "\"";
    file.content_type = MimeTypeFor(path);
    files_[path] = std::move(file);
    for (size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
      directories_.emplace(path.substr(0, slash), true);
    }
  }
}

std::unique_ptr<OpenedFile> MemoryFiles::Open(std::string_view relative, OpenCounts*) const {
  if (auto it = files_.find(relative); it != files_.end()) {
    auto file = std::make_unique<MemoryFile>(it->second.content);
    file->size = it->second.content->size();
    file->etag = it->second.etag;  // lives as long as this site
    file->content_type = it->second.content_type;
    return file;
  }
  if (directories_.find(relative) != directories_.end()) {
    auto directory = std::make_unique<DirectoryEntry>();
    directory->directory = true;
    return directory;
  }
  return nullptr;
}

DirectoryFiles::DirectoryFiles(const std::string& root) {
  root_fd_ = open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  struct stat st;
  if (root_fd_ >= 0 && fstat(root_fd_, &st) == 0) {
    site_key_ = Hex(static_cast<uint64_t>(st.st_dev)) + ":" + Hex(static_cast<uint64_t>(st.st_ino));
  }
}
DirectoryFiles::~DirectoryFiles() {
  if (root_fd_ >= 0) close(root_fd_);
}

int DirectoryFiles::OpenBeneath(const std::string& relative) const {
  // O_NONBLOCK: opening a FIFO planted in the site must not wait for a
  // writer (the fstat below refuses it anyway).
  const int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
  const char* path = relative.empty() ? "." : relative.c_str();
  if (!Openat2Missing()) {
    struct open_how how = {};
    how.flags = static_cast<uint64_t>(flags);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    long fd;
    do {
      fd = syscall(SYS_openat2, root_fd_, path, &how, sizeof how);
    } while (fd < 0 && errno == EAGAIN);  // RESOLVE_CACHED is not asked: EAGAIN only on a rename race
    return static_cast<int>(fd);
  }
  // One component at a time, never following a symlink; ".." cannot occur
  // (the normaliser refuses it).
  int dir = fcntl(root_fd_, F_DUPFD_CLOEXEC, 0);
  size_t start = 0;
  while (dir >= 0) {
    size_t slash = relative.find('/', start);
    std::string component =
        relative.empty() ? "." : relative.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    bool last = slash == std::string::npos;
    int next = openat(dir, component.c_str(), last ? flags | O_NOFOLLOW : O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(dir);
    if (last) return next;
    dir = next;
    start = slash + 1;
  }
  return -1;
}

OpenFileInfo DirectoryFiles::OpenNow(const std::string& relative, size_t inline_bytes) const {
  OpenFileInfo info;
  int fd = OpenBeneath(relative);
  if (fd < 0) {
    // Only "nothing there" is worth remembering; EMFILE, EIO, EACCES or an
    // escape refused by RESOLVE_BENEATH (EXDEV) are looked up each time.
    info.cacheable = errno == ENOENT || errno == ENOTDIR;
    return info;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
    close(fd);
    return info;  // devices, FIFOs, sockets: never served, cached as nothing
  }
  info.exists = true;
  info.directory = S_ISDIR(st.st_mode);
  info.device = st.st_dev;
  info.inode = st.st_ino;
  info.size = static_cast<uint64_t>(st.st_size);
  info.mtime = st.st_mtim;
  if (info.directory) {
    close(fd);
    return info;
  }
  // Size and modification time, as nginx: equal on every proxy mounting
  // the same volume, and changed by any rewrite of the file.
  info.etag = "\"" + Hex(static_cast<uint64_t>(info.mtime.tv_sec)) + "." +
              Hex(static_cast<uint64_t>(info.mtime.tv_nsec)) + "-" + Hex(info.size) + "\"";
  info.last_modified = http::FormatHttpDate(info.mtime.tv_sec);
  info.content_type = MimeTypeFor(relative);
  if (info.size <= inline_bytes) {
    // Read whole now: a short read (the file shrank since the fstat) keeps
    // the descriptor instead, as if it were large. A rewrite racing the
    // read leaves bytes newer than the stat: the next revalidation sees
    // another size or time and opens it again.
    auto bytes = std::make_shared<std::string>(static_cast<size_t>(info.size), '\0');
    size_t done = 0;
    while (done < bytes->size()) {
      ssize_t n = pread(fd, bytes->data() + done, bytes->size() - done, static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    if (done == bytes->size()) {
      close(fd);
      info.bytes = std::move(bytes);
      return info;
    }
  }
  info.file = std::make_shared<const FileHandle>(fd);
  return info;
}

bool DirectoryFiles::StatNow(const std::string& relative, struct stat* st) const {
  return fstatat(root_fd_, relative.empty() ? "." : relative.c_str(), st, 0) == 0;
}

std::unique_ptr<OpenedFile> DirectoryFiles::Open(std::string_view relative, OpenCounts* counts) const {
  if (root_fd_ < 0) return nullptr;
  std::string path(relative);
  OpenFileCache* cache = this->cache();
  std::shared_ptr<const OpenFileInfo> info;
  if (cache != nullptr && !site_key_.empty()) {
    bool hit = false;
    info = cache->Get(site_key_, path, *this, OpenFileCache::NowNs(), &hit);
    if (counts != nullptr) ++(hit ? counts->cache_hits : counts->cache_misses);
  } else {
    info = std::make_shared<const OpenFileInfo>(OpenNow(path, /*inline_bytes=*/0));
  }
  if (!info->exists) return nullptr;
  if (info->directory) {
    auto directory = std::make_unique<DirectoryEntry>();
    directory->directory = true;
    return directory;
  }
  return std::make_unique<DiskFile>(std::move(info));
}

}  // namespace sluice::pipeline
