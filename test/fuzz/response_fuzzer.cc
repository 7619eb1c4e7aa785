// libFuzzer target: response head parser + response framing + body decoder.
// The first input byte picks the request method the response answers; the
// rest is what the upstream sent. Properties as in request_fuzzer.cc, plus
// end-of-stream handling for bodies delimited by the connection close.
#include <string>
#include <string_view>

#include "dataplane/http1/parser.h"
#include "test/fuzz/fuzz_util.h"

using namespace sluice;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) return 0;
  static constexpr std::string_view kMethods[] = {"GET", "HEAD", "CONNECT", "POST"};
  const std::string_view method = kMethods[bytes[0] % 4];
  const std::string_view data(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  http1::Limits limits;
  limits.max_head_bytes = 4096;
  limits.max_header_count = 20;

  http::ResponseHead head;
  const http1::HeadParse whole = http1::ParseResponseHead(data, limits, &head);

  fuzz::Pieces pieces(data);
  http1::ResponseHeadParser parser(limits);
  http::ResponseHead incremental;
  const http1::HeadParse step = fuzz::ParseHeadInPieces(parser, data, pieces, &incremental);
  FUZZ_CHECK(step.state == whole.state);
  if (whole.state == http1::ParseState::kError) {
    FUZZ_CHECK(whole.error_status == 502 && step.error_status == 502);
    return 0;
  }
  if (whole.state != http1::ParseState::kDone) return 0;
  FUZZ_CHECK(step.consumed == whole.consumed);
  FUZZ_CHECK(incremental.status == head.status && incremental.reason == head.reason &&
             fuzz::SameHeaders(incremental.headers, head.headers));
  FUZZ_CHECK(head.status >= 100 && head.status <= 599);

  // A proxy's parser leaves out the fields its stages drop (Server,
  // X-Powered-By, an HTTP/1.1 "Connection: keep-alive"): same verdict, and
  // only those fields missing.
  http1::ResponseHeadParser skipping(limits);
  skipping.set_skip_server_fields(true);
  skipping.set_skip_keep_alive(true);
  http::ResponseHead skipped;
  const http1::HeadParse skip_step = skipping.Parse(data, &skipped);
  FUZZ_CHECK(skip_step.state == whole.state && skip_step.consumed == whole.consumed);
  {
    const auto& all = head.headers.entries();
    const auto& kept = skipped.headers.entries();
    size_t k = 0;
    for (const http::Header& h : all) {
      if (k < kept.size() && kept[k].name == h.name && kept[k].value == h.value) {
        ++k;
        continue;
      }
      const bool droppable = h.name == "server" || h.name == "x-powered-by" ||
                             (h.name == "connection" && http::EqualsIgnoreCase(h.value, "keep-alive") &&
                              head.version_major == 1 && head.version_minor == 1);
      FUZZ_CHECK(droppable);
    }
    FUZZ_CHECK(k == kept.size());
  }

  http1::BodyFraming framing;
  const sluice::Status framed = http1::ResponseBodyFraming(head, method, &framing);

  std::string wire;
  http1::AppendResponseHead(head, wire);
  http::ResponseHead reparsed;
  http1::Limits roomy = limits;
  roomy.max_head_bytes = wire.size();
  const http1::HeadParse again = http1::ParseResponseHead(wire, roomy, &reparsed);
  FUZZ_CHECK(again.state == http1::ParseState::kDone);
  FUZZ_CHECK(again.consumed == wire.size());
  FUZZ_CHECK(reparsed.status == head.status);
  if (!head.reason.empty()) FUZZ_CHECK(reparsed.reason == head.reason);
  FUZZ_CHECK(fuzz::SameHeaders(reparsed.headers, head.headers));
  if (head.version_minor == 1) {
    http1::BodyFraming reframed;
    const sluice::Status reframed_status = http1::ResponseBodyFraming(reparsed, method, &reframed);
    FUZZ_CHECK(reframed_status.ok() == framed.ok());
    if (framed.ok()) FUZZ_CHECK(fuzz::SameFraming(framing, reframed));
  }
  if (!framed.ok()) return 0;

  const std::string_view body = data.substr(whole.consumed);
  const fuzz::Decoded at_once = fuzz::DecodeBody(framing, body, nullptr, true);
  fuzz::Pieces body_pieces(body);
  const fuzz::Decoded in_pieces = fuzz::DecodeBody(framing, body, &body_pieces, true);
  fuzz::CheckSameDecode(at_once, in_pieces);
  if (framing.kind == http1::BodyFraming::kUntilClose) {
    FUZZ_CHECK(at_once.done && at_once.payload == body);
  }
  if (framing.kind == http1::BodyFraming::kContentLength) {
    FUZZ_CHECK(at_once.done == (body.size() >= framing.length));
  }
  if (framing.kind == http1::BodyFraming::kChunked) fuzz::CheckChunkedReencode(at_once);
  return 0;
}
