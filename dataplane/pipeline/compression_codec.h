#pragma once
// Streaming encoders for response compression, one small wrapper per
// Debian library (zlib for gzip, libbrotli, libzstd): maintained, fuzzed,
// fast codecs rather than hand-written ones. Each is a BodyTransform: every
// call compresses its input and flushes it (Z_SYNC_FLUSH,
// BROTLI_OPERATION_FLUSH, ZSTD_e_flush), so a chunk the upstream sends goes
// to the client at once (server-sent events, trickling responses) and
// nothing is held but the codec's window; `end` finishes the stream (gzip
// trailer, brotli last block, zstd epilogue).
#include <cstdint>
#include <memory>
#include <string_view>

#include "dataplane/pipeline/body_source.h"

namespace sluice::pipeline {

enum class Coding : uint8_t { kIdentity, kGzip, kBrotli, kZstd };

// The content-coding token: "gzip", "br", "zstd" ("identity").
std::string_view CodingName(Coding coding);

// A streaming encoder for `coding` at `level` (clamped to the library's
// range); null for identity or when the library cannot allocate one.
std::unique_ptr<BodyTransform> MakeGzipEncoder(int level);
std::unique_ptr<BodyTransform> MakeBrotliEncoder(int level);
std::unique_ptr<BodyTransform> MakeZstdEncoder(int level);
std::unique_ptr<BodyTransform> MakeEncoder(Coding coding, int level);

}  // namespace sluice::pipeline
