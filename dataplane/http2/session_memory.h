#pragma once
// The allocator our nghttp2 sessions use (nghttp2_mem): small blocks come
// from per-thread free lists by size class. nghttp2 allocates a handful of
// blocks per stream (the stream, its outbound frames, header arrays, HPACK
// buffers) and frees them when the stream ends; with tens of streams in
// flight per worker, glibc's thread cache (7 chunks per size) runs dry and
// each pair went through _int_malloc/_int_free (callgrind: ~1.9k
// instructions per proxied request). Internal to http2/.
#include <nghttp2/nghttp2.h>

namespace sluice::http2 {

// Valid for the life of the process; pass to nghttp2_session_*_new3.
nghttp2_mem* SessionMemory();

}  // namespace sluice::http2
