// The cache lookup stage's cost per answer, no sockets: a plain 200 hit, a
// 304 to If-None-Match, a single Range (206), two ranges (multipart), an
// unsatisfiable Range (416), and a stale object revalidated by a 304 (the
// lookup, then the store stage's 304 hook). Each answer's body is drained,
// so the ranges' cost includes their bodies' assembly.
//   cache_conditional_bench [ITERATIONS [CASE]]
// prints ns per answer (CASE: only that case, 0-based); under callgrind,
// one case at N and 2N iterations, the difference of the totals over N is
// its instructions per answer (bench/README.md).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/cache/store/store.h"
#include "dataplane/pipeline/body_source.h"
#include "dataplane/pipeline/cache_stage.h"
#include "dataplane/pipeline/exchange_state.h"

using namespace sluice;
using namespace sluice::pipeline;

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

ExchangeState Request(const std::string& path, const Fields& fields) {
  ExchangeState state;
  state.request.method = "GET";
  state.request.scheme = "http";
  state.request.authority = "bench.test";
  state.request.path = path;
  for (const auto& [name, value] : fields) state.request.headers.Add(name, value);
  return state;
}

size_t Drain(ExchangeState& state) {
  size_t n = 0;
  if (state.reply.source == nullptr || state.reply.head_only) return 0;
  for (int i = 0; i < 64; ++i) {
    BodySource::Chunk chunk = state.reply.source->Next(1 << 16);
    n += chunk.data.size();
    if (chunk.end || chunk.failed) break;
  }
  return n;
}

// Fills `path` with a 4 KiB body through the store stage, as a miss would.
void Fill(const CacheLookupStage& lookup, const CacheStoreStage& store, const std::string& path,
          const std::string& cache_control) {
  ExchangeState state = Request(path, {});
  if (lookup.OnRequestHead(state) != Verdict::kContinue) std::abort();
  http::ResponseHead head;
  head.headers.Add("cache-control", cache_control);
  head.headers.Add("etag", "\"v1\"");
  head.headers.Add("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT");
  head.headers.Add("content-type", "text/plain");
  const std::string body(4096, 'x');
  head.headers.Add("content-length", std::to_string(body.size()));
  store.OnResponseHead(state, head, false);
  std::string_view chunk = body;
  store.OnResponseBody(state, chunk);
  std::string_view tail;
  store.OnResponseEnd(state, tail);
}

}  // namespace

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 200000;
  const int only = argc > 2 ? std::atoi(argv[2]) : -1;
  cache::Store store(cache::StoreOptions{.capacity_bytes = 64u << 20, .max_object_bytes = 1u << 20});
  CacheLookupStage lookup(CacheStageOptions{}, &store);
  CacheStoreStage store_stage(CacheStageOptions{}, &store);
  Fill(lookup, store_stage, "/fresh", "max-age=86400");
  Fill(lookup, store_stage, "/stale", "max-age=0");

  struct Case {
    const char* name;
    std::string path;
    Fields fields;
    bool revalidate;
  };
  const Case cases[] = {
      {"hit 200 (4 KiB)", "/fresh", {}, false},
      {"hit 304 (If-None-Match)", "/fresh", {{"if-none-match", "\"v1\""}}, false},
      {"hit 206 (one range)", "/fresh", {{"range", "bytes=100-1099"}}, false},
      {"hit 206 (two ranges, multipart)", "/fresh", {{"range", "bytes=0-99,-100"}}, false},
      {"hit 416", "/fresh", {{"range", "bytes=9000-"}}, false},
      {"stale, origin 304 (lookup + store hook)", "/stale", {}, true},
  };
  int index = -1;
  for (const Case& c : cases) {
    if (++index != only && only >= 0) continue;
    size_t bytes = 0;
    const auto start = std::chrono::steady_clock::now();
    for (long i = 0; i < iterations; ++i) {
      ExchangeState state = Request(c.path, c.fields);
      Verdict verdict = lookup.OnRequestHead(state);
      if (c.revalidate) {
        if (verdict != Verdict::kContinue) std::abort();
        http::ResponseHead head;
        head.status = 304;
        head.headers.Add("etag", "\"v1\"");
        head.headers.Add("cache-control", "max-age=0");  // stays stale: every round revalidates
        state.response_head_ends_stream = true;
        verdict = store_stage.OnResponseHead(state, head, false);
      }
      if (verdict != Verdict::kReply) std::abort();
      bytes += Drain(state);
    }
    const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
    std::printf("%-42s %8.0f ns/answer  (%zu body bytes each)\n", c.name, ns / iterations,
                static_cast<size_t>(bytes / iterations));
  }
  return 0;
}
