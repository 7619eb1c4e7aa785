#pragma once
// Whether a file's bytes are in the kernel's page cache, and a way to put
// them there. A worker sends static files and disk-tier cache objects with
// sendfile(2) or pread(2) on its event loop; both block when the bytes must
// come from the disk, and Linux has no non-blocking sendfile. So before a
// range goes out, the file's body source (pipeline/body_source.h) asks
// RangeResidency (one cachestat(2) call, Linux 6.5+: no mapping, no read)
// and, when pages are missing, has an I/O thread read them in (WarmRange)
// before the loop sends them: the loop then only copies from memory, as
// nginx's `aio threads` does for sendfile.
#include <cstdint>

namespace sluice::fs {

enum class Residency {
  kResident,     // every page of the range is cached: sending will not wait on the disk
  kNotResident,  // some page must be read from the disk first
  kUnknown,      // the kernel cannot say (no cachestat: before Linux 6.5, or a seccomp filter)
};

Residency RangeResidency(int fd, uint64_t offset, uint64_t length);

// Reads [offset, offset + length) into the page cache (and throws the
// bytes away). Blocks on the disk: for I/O threads only. False on a read
// error (the send that follows reports it).
bool WarmRange(int fd, uint64_t offset, uint64_t length);

}  // namespace sluice::fs
