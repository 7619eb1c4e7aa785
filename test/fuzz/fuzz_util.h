#pragma once
// Helpers shared by the HTTP/1 fuzz targets: deterministic piece sizes
// derived from the input (so a crash reproduces from its file alone), body
// decoding in pieces, and comparisons that abort loudly on a mismatch.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dataplane/http/message.h"
#include "dataplane/http1/parser.h"

namespace sluice::fuzz {

#define FUZZ_CHECK(cond)                                                             \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s at %s:%d\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)

// xorshift64*, seeded from the input bytes.
class Pieces {
 public:
  explicit Pieces(std::string_view input) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : input) h = (h ^ c) * 1099511628211ull;
    state_ = h | 1;
  }
  // 1..max, mostly small so framing lands on every boundary.
  size_t Next(size_t max) {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    const uint64_t r = state_ * 2685821657736338717ull;
    const size_t cap = (r & 3) == 0 ? max : std::min<size_t>(max, 8);
    return 1 + static_cast<size_t>((r >> 8) % cap);
  }

 private:
  uint64_t state_;
};

// Feeds a stateful head parser (http1::RequestHeadParser or
// ResponseHeadParser) growing prefixes of `data`, by `pieces`, the way a
// connection buffer grows, until it is no longer incomplete or has seen
// all of `data`; returns its last verdict (the targets compare it with the
// one-shot parse).
template <typename Parser, typename Head>
http1::HeadParse ParseHeadInPieces(Parser& parser, std::string_view data, Pieces& pieces, Head* head) {
  http1::HeadParse step;
  for (size_t available = 0;;) {
    available = std::min(data.size(), available + pieces.Next(32));
    step = parser.Parse(data.substr(0, available), head);
    if (step.state != http1::ParseState::kIncomplete || available == data.size()) break;
  }
  return step;
}

struct Decoded {
  bool done = false;
  bool error = false;
  size_t consumed = 0;
  std::string payload;
  http::HeaderMap trailers;
};

// Runs a decoder over `body`, handing it the bytes in pieces (piece 0: all
// at once) the way a connection buffer grows; with `eof`, signals the end of
// the stream once everything was handed over.
inline Decoded DecodeBody(http1::BodyFraming framing, std::string_view body, Pieces* pieces, bool eof) {
  http1::BodyDecoder decoder(framing);
  Decoded out;
  size_t available = pieces == nullptr ? body.size() : 0;
  bool eof_sent = false;
  for (size_t guard = 0; guard < 4 * body.size() + 64; ++guard) {
    const std::string_view input = body.substr(out.consumed, available - out.consumed);
    http1::BodyDecoder::Step step = decoder.Next(input);
    FUZZ_CHECK(step.consumed <= input.size());
    switch (step.kind) {
      case http1::BodyDecoder::Step::kData:
        FUZZ_CHECK(!step.data.empty());
        FUZZ_CHECK(step.data.data() >= input.data() && step.data.data() + step.data.size() <= input.data() + step.consumed);
        out.payload.append(step.data);
        break;
      case http1::BodyDecoder::Step::kDone:
        out.consumed += step.consumed;
        out.done = true;
        FUZZ_CHECK(decoder.done());
        FUZZ_CHECK(decoder.payload_bytes() == out.payload.size());
        out.trailers = decoder.trailers();
        return out;
      case http1::BodyDecoder::Step::kError:
        FUZZ_CHECK(!step.error.empty());
        out.error = true;
        return out;
      case http1::BodyDecoder::Step::kNeedMore:
        if (available == body.size()) {
          if (!eof || eof_sent) {
            out.consumed += step.consumed;
            return out;
          }
          decoder.FinishAtEof();
          eof_sent = true;
        } else {
          available += pieces == nullptr ? body.size() - available
                                         : std::min(pieces->Next(64), body.size() - available);
        }
        break;
    }
    out.consumed += step.consumed;
  }
  FUZZ_CHECK(false && "body decoder made no progress");
  return out;
}

inline bool SameHeaders(const http::HeaderMap& a, const http::HeaderMap& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a.entries()[i].name != b.entries()[i].name || a.entries()[i].value != b.entries()[i].value) return false;
  }
  return true;
}

inline bool SameFraming(const http1::BodyFraming& a, const http1::BodyFraming& b) {
  return a.kind == b.kind && a.length == b.length;
}

inline void CheckSameDecode(const Decoded& a, const Decoded& b) {
  FUZZ_CHECK(a.done == b.done);
  FUZZ_CHECK(a.error == b.error);
  if (a.done) {
    FUZZ_CHECK(a.consumed == b.consumed);
    FUZZ_CHECK(a.payload == b.payload);
    FUZZ_CHECK(SameHeaders(a.trailers, b.trailers));
  }
}

// A chunked body re-encoded by our serializer must decode to the same
// payload and trailers: the proxy re-frames what it forwards.
inline void CheckChunkedReencode(const Decoded& d) {
  if (!d.done) return;
  std::string wire;
  http1::AppendChunk(d.payload, wire);
  http1::AppendLastChunk(&d.trailers, wire);
  Decoded again = DecodeBody(http1::BodyFraming{http1::BodyFraming::kChunked, 0}, wire, nullptr, false);
  FUZZ_CHECK(again.done);
  FUZZ_CHECK(again.consumed == wire.size());
  FUZZ_CHECK(again.payload == d.payload);
  FUZZ_CHECK(SameHeaders(again.trailers, d.trailers));
}

}  // namespace sluice::fuzz
