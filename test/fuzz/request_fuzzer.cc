// libFuzzer target: request head parser + request framing + body decoder.
// Properties beyond "no crash, no sanitizer report":
//  - the free function and the stateful parser fed in pieces agree;
//  - a head that parses re-serializes to one that parses to the same
//    method, path and headers with the same framing (a parser/serializer
//    disagreement is a request smuggling risk);
//  - the body decodes the same whole and in pieces, and re-encodes losslessly.
#include <string>
#include <string_view>

#include "dataplane/http1/parser.h"
#include "test/fuzz/fuzz_util.h"

using namespace sluice;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  http1::Limits limits;
  limits.max_head_bytes = 4096;  // small, so the fuzzer reaches the limit paths
  limits.max_header_count = 20;

  http::RequestHead head;
  const http1::HeadParse whole = http1::ParseRequestHead(data, limits, &head);

  // The stateful parser, fed growing prefixes, must reach the same verdict.
  fuzz::Pieces pieces(data);
  http1::RequestHeadParser parser(limits);
  http::RequestHead incremental;
  const http1::HeadParse step = fuzz::ParseHeadInPieces(parser, data, pieces, &incremental);
  FUZZ_CHECK(step.state == whole.state);
  if (whole.state == http1::ParseState::kError) {
    FUZZ_CHECK(step.error_status == whole.error_status);
    FUZZ_CHECK(whole.error_status == 400 || whole.error_status == 431 || whole.error_status == 501 ||
               whole.error_status == 505);
    return 0;
  }
  if (whole.state != http1::ParseState::kDone) return 0;
  FUZZ_CHECK(step.consumed == whole.consumed);
  FUZZ_CHECK(whole.consumed <= limits.max_head_bytes);
  FUZZ_CHECK(incremental.method == head.method && incremental.path == head.path &&
             incremental.authority == head.authority && fuzz::SameHeaders(incremental.headers, head.headers));
  FUZZ_CHECK(head.headers.size() <= limits.max_header_count);
  FUZZ_CHECK(!head.method.empty());
  for (const http::Header& h : head.headers.entries()) {
    FUZZ_CHECK(!h.name.empty());
    for (char c : h.name) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
    FUZZ_CHECK(h.value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
  }

  const sluice::Status valid = http1::ValidateRequestHead(head);
  http1::BodyFraming framing;
  const sluice::Status framed = http1::RequestBodyFraming(head, &framing);

  // Round trip through the serializer.
  std::string wire;
  http1::AppendRequestHead(head, wire);
  http::RequestHead reparsed;
  http1::Limits roomy = limits;
  roomy.max_head_bytes = wire.size();
  const http1::HeadParse again = http1::ParseRequestHead(wire, roomy, &reparsed);
  FUZZ_CHECK(again.state == http1::ParseState::kDone);
  FUZZ_CHECK(again.consumed == wire.size());
  FUZZ_CHECK(reparsed.method == head.method);
  FUZZ_CHECK(reparsed.path == head.path);
  FUZZ_CHECK(fuzz::SameHeaders(reparsed.headers, head.headers));
  if (head.method == "CONNECT" || (!head.target.empty() && (head.target[0] == '/' || head.target == "*"))) {
    FUZZ_CHECK(reparsed.authority == head.authority);
    if (valid.ok() && head.version_minor == 1) FUZZ_CHECK(http1::ValidateRequestHead(reparsed).ok());
  }
  http1::BodyFraming reframed;
  const sluice::Status reframed_status = http1::RequestBodyFraming(reparsed, &reframed);
  if (head.version_minor == 1) {
    FUZZ_CHECK(reframed_status.ok() == framed.ok());
    if (framed.ok()) FUZZ_CHECK(fuzz::SameFraming(framing, reframed));
  }
  if (!framed.ok()) return 0;

  // The body: after the head, whole and in pieces.
  const std::string_view body = data.substr(whole.consumed);
  const fuzz::Decoded at_once = fuzz::DecodeBody(framing, body, nullptr, false);
  fuzz::Pieces body_pieces(body);
  const fuzz::Decoded in_pieces = fuzz::DecodeBody(framing, body, &body_pieces, false);
  fuzz::CheckSameDecode(at_once, in_pieces);
  if (framing.kind == http1::BodyFraming::kContentLength && at_once.done) {
    FUZZ_CHECK(at_once.payload.size() == framing.length);
  }
  if (framing.kind == http1::BodyFraming::kChunked) fuzz::CheckChunkedReencode(at_once);
  return 0;
}
