// libFuzzer target: the downstream HTTP/2 server wrapper (nghttp2 plus our
// limits and stream bookkeeping) fed arbitrary bytes after a valid client
// preface, in pieces, with a handler that answers like the proxy does
// (response head, streamed body, trailers, resets) and drains the output
// the way a socket would. Properties beyond "no crash, no sanitizer report":
//   - the wrapper's open-stream count never exceeds what it advertised;
//   - no request head over the header limits reaches the handler;
//   - every stream the handler saw is closed exactly once, and only those.
#include <set>
#include <string>
#include <string_view>

#include "dataplane/http2/server_connection.h"
#include "test/fuzz/fuzz_util.h"

using namespace sluice;

namespace {

constexpr size_t kMaxHeaderBytes = 4096;
constexpr size_t kMaxHeaders = 20;

class Handler : public http2::ServerEvents {
 public:
  http2::ServerConnection* conn = nullptr;
  std::set<int32_t> open;

  void OnRequest(http2::ServerStream* stream, http::RequestHead&& head, bool end_stream) override {
    FUZZ_CHECK(open.insert(stream->id()).second);
    size_t bytes = 0;
    for (const http::Header& h : head.headers.entries()) bytes += h.name.size() + h.value.size() + 32;
    FUZZ_CHECK(bytes <= kMaxHeaderBytes);
    FUZZ_CHECK(head.headers.size() <= kMaxHeaders);
    stream->user = this;
    if (end_stream) Answer(stream, head.path.size());
  }
  void OnRequestData(http2::ServerStream* stream, std::string_view data) override {
    conn->ConsumeRequestData(stream, data.size());
    if (!data.empty() && data[0] == 'R') conn->ResetStream(stream, http2::kCancel);
  }
  void OnRequestEnd(http2::ServerStream* stream, const http::HeaderMap* trailers) override {
    if (!stream->response_submitted()) Answer(stream, trailers != nullptr ? trailers->size() : 0);
  }
  void OnStreamClosed(http2::ServerStream* stream, uint32_t) override { FUZZ_CHECK(open.erase(stream->id()) == 1); }
  void OnResponseWritable(http2::ServerStream*) override {}

  void Answer(http2::ServerStream* stream, size_t seed) {
    http::ResponseHead head;
    head.status = 200 + static_cast<int>(seed % 3);
    head.headers.Add("content-type", "text/plain");
    conn->SubmitResponse(stream, head, seed % 5 == 0);
    if (seed % 5 == 0) return;
    conn->AppendResponseData(stream, std::string(seed * 97 % 70000, 'x'));
    http::HeaderMap trailers;
    if (seed % 2 == 0) trailers.Add("grpc-status", "0");
    conn->EndResponse(stream, &trailers);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  http2::ServerOptions options;
  options.max_concurrent_streams = 8;
  options.max_header_list_bytes = kMaxHeaderBytes;
  options.max_headers = kMaxHeaders;
  options.max_header_block_bytes = kMaxHeaderBytes;
  options.max_resets_per_second = 20;
  options.max_control_frames_per_second = 50;
  options.stream_high_watermark = 16 * 1024;
  options.stream_low_watermark = 4 * 1024;
  Handler handler;
  http2::ServerConnection conn(options, &handler);
  handler.conn = &conn;
  conn.Start();
  // A valid preface and empty SETTINGS, so the fuzzer's bytes reach frames.
  static constexpr std::string_view kPreface("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00", 33);
  bool alive = conn.Receive(kPreface, 0).ok();
  fuzz::Pieces pieces(data);
  net::Buffer out;
  int64_t now_ms = 0;
  for (size_t at = 0; alive && at < data.size();) {
    size_t n = std::min(data.size() - at, pieces.Next(512));
    alive = conn.Receive(data.substr(at, n), now_ms).ok();
    at += n;
    now_ms += static_cast<int64_t>(n % 7);
    FUZZ_CHECK(handler.open.size() <= options.max_concurrent_streams);
    // Drain like a socket would (and keep nghttp2's queues moving).
    for (int i = 0; i < 4 && conn.SendPending(out, 64 * 1024).ok() && !out.empty(); ++i) out.Consume(out.size());
  }
  return 0;
}
