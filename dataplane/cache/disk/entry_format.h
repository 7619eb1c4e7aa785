#pragma once
// The disk tier's file format: one file per stored object, its head first
// (everything a hit needs besides the body bytes) and its body at a known
// offset after it, so a hit opens the file, reads and checks the head with
// one pread and sends the body with sendfile(2) straight from the file.
//
// Layout (integers little-endian; strings a u32 length then the bytes):
//
//   0   8  magic "SLCDSK\r\n" (the \r\n catches text-mode mangling)
//   8   4  version (kFormatVersion; another version is skipped, not parsed)
//  12   4  head_length: bytes of the head = the body's offset
//  16   8  body_length
//  24   4  head_crc: CRC-32 of bytes [0, head_length) with these 4 zeroed
//  28   4  body_crc: CRC-32 of the body (checked when a body is read whole;
//          a streamed hit relies on the length check of the scan and open)
//  32   4  flags (bit 0: a Vary marker)
//  36   8  written_ns: wall clock when written (orders a variant after its
//          Vary marker across restarts, where the store's sequence does not)
//  44   4  status
//  48  32  age inputs: request_time, response_time, date_value, age_value
//  80   8  freshness lifetime
//  88  48  Cache-Control numbers: max_age, s_maxage, max_stale, min_fresh,
//          stale_while_revalidate, stale_if_error
// 136   4  Cache-Control flags (bit per bool, in CacheControl's order)
// 140      key, then u32 n + n Vary names, u32 n + n tags, u32 n + n
//          (name, value) stored fields
//  head_length: the body
//
// A file is complete exactly when its size is head_length + body_length:
// the writer renames a finished temporary file into place, so a crash
// leaves a missing file or a stale temporary, never a short entry; a file
// that fails any check is not served and is removed.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"
#include "dataplane/cache/store/cached_object.h"

namespace sluice::cache::disk {

inline constexpr std::string_view kMagic = "SLCDSK\r\n";
inline constexpr uint32_t kFormatVersion = 1;
// The fixed part; also the least a reader reads before it knows head_length.
inline constexpr size_t kFixedHeadBytes = 140;
// A head longer than this is corrupt (the proxy's own heads are a few KiB:
// request heads are limited far below it).
inline constexpr size_t kMaxHeadBytes = 1u << 20;

struct EntryHead {
  // Key, status, fields, times, freshness, Vary, tags, marker flag; its
  // body is empty (the bytes stay in the file).
  std::shared_ptr<CachedObject> object;
  uint64_t head_length = 0;  // the body's offset in the file
  uint64_t body_length = 0;
  uint32_t body_crc = 0;
  int64_t written_ns = 0;
};

// The head of `object` (its body's length and CRC included), to be
// followed by the body bytes.
std::string EncodeHead(const CachedObject& object, int64_t written_ns);

// Parses a head from the first bytes of a file. `bytes` may be longer
// than the head (the body or part of it may follow) or shorter: then
// kOutOfRange-style failure "short" and the caller reads head_length bytes
// (PeekHeadLength) and tries again. Never trusts a length before checking
// it against `bytes` and the limits above.
Result<EntryHead> ParseHead(std::string_view bytes);

// The head_length field of a fixed part that has the right magic and
// version, or 0.
uint64_t PeekHeadLength(std::string_view fixed);

uint32_t Crc32(std::string_view bytes, uint32_t crc = 0);

}  // namespace sluice::cache::disk
