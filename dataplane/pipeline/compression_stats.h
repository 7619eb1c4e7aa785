#pragma once
// A worker's compression counters (the compression stage adds to them, the
// admin thread reads them for /metrics): responses and bytes in and out
// per coding, responses left uncompressed per reason. Indexed by Coding and
// SkipReason (compression_stage.h). One writer per worker: relaxed atomics.
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace sluice::pipeline {

struct CompressionStats {
  static constexpr size_t kCodings = 4;   // Coding: identity (unused), gzip, br, zstd
  static constexpr size_t kReasons = 11;  // SkipReason: kNone (unused) .. kEncoderFailed
  std::atomic<uint64_t> responses[kCodings] = {};
  std::atomic<uint64_t> bytes_in[kCodings] = {};
  std::atomic<uint64_t> bytes_out[kCodings] = {};
  std::atomic<uint64_t> skipped[kReasons] = {};

  static void Add(std::atomic<uint64_t>& counter, uint64_t n = 1) {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);  // single writer
  }
};

}  // namespace sluice::pipeline
