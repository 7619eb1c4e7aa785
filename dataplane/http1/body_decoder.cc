// Incremental message body decoding (RFC 9112 sections 6 and 7).
#include <algorithm>
#include <cstring>

#include "dataplane/http1/parser.h"
#include "dataplane/http1/syntax.h"

namespace sluice::http1 {
namespace {

using syntax::Is;
using syntax::IsOws;

// Parses a complete chunk-size line without its CRLF:
//   chunk-size [ chunk-ext ], chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
// ext-val = token / quoted-string. Returns nullptr or the error.
const char* ParseChunkSizeLine(std::string_view line, uint64_t* size) {
  size_t i = 0;
  uint64_t v = 0;
  while (i < line.size() && Is(line[i], syntax::kHex)) {
    if (i == 16) return "chunk size has more than 16 hex digits";
    const char c = line[i];
    const uint64_t d = syntax::IsDigit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
    v = (v << 4) | d;
    ++i;
  }
  if (i == 0) return "invalid chunk size";
  *size = v;
  auto skip_bws = [&] {
    while (i < line.size() && IsOws(line[i])) ++i;
  };
  auto token_end = [&](size_t from) {
    while (from < line.size() && Is(line[from], syntax::kToken)) ++from;
    return from;
  };
  while (i < line.size()) {
    skip_bws();
    if (i == line.size() || line[i] != ';') return "invalid chunk size or extension";
    ++i;
    skip_bws();
    const size_t name_end = token_end(i);
    if (name_end == i) return "invalid chunk extension name";
    i = name_end;
    skip_bws();
    if (i == line.size() || line[i] != '=') continue;
    ++i;
    skip_bws();
    if (i < line.size() && line[i] == '"') {
      ++i;
      while (true) {
        if (i == line.size()) return "unterminated quoted chunk extension";
        const char c = line[i];
        if (c == '"') {
          ++i;
          break;
        }
        if (c == '\\') {
          if (i + 1 == line.size() || !Is(line[i + 1], syntax::kFieldValue)) return "invalid quoted-pair in chunk extension";
          i += 2;
          continue;
        }
        if (!Is(c, syntax::kQdText)) return "invalid character in chunk extension";
        ++i;
      }
    } else {
      const size_t value_end = token_end(i);
      if (value_end == i) return "invalid chunk extension value";
      i = value_end;
    }
  }
  return nullptr;
}

// Errors visible in the start of a chunk-size line whose LF has not arrived.
const char* ChunkSizeLinePrefixError(std::string_view partial) {
  if (partial.empty()) return nullptr;
  if (!Is(partial.front(), syntax::kHex)) return "invalid chunk size";
  for (size_t i = 0; i < partial.size(); ++i) {
    const char c = partial[i];
    if (c == '\r' && i + 1 == partial.size()) break;  // its LF may follow
    if (!Is(c, syntax::kFieldValue)) return "invalid character in chunk size line";
  }
  return nullptr;
}

bool IsForbiddenTrailer(std::string_view name) {
  // Framing and routing fields must never be taken from a trailer.
  return name == "content-length" || name == "transfer-encoding" || name == "host" || name == "trailer";
}

}  // namespace

BodyDecoder::BodyDecoder(BodyFraming framing, size_t max_trailer_bytes)
    : framing_(framing), max_trailer_bytes_(max_trailer_bytes) {
  switch (framing_.kind) {
    case BodyFraming::kNone:
      phase_ = Phase::kDone;
      break;
    case BodyFraming::kContentLength:
      remaining_ = framing_.length;
      phase_ = remaining_ == 0 ? Phase::kDone : Phase::kBody;
      break;
    case BodyFraming::kChunked:
      phase_ = Phase::kChunkSizeLine;
      break;
    case BodyFraming::kUntilClose:
      phase_ = Phase::kBody;
      break;
  }
}

BodyDecoder::Step BodyDecoder::Fail(std::string error) {
  phase_ = Phase::kError;
  error_ = std::move(error);
  Step s;
  s.kind = Step::kError;
  s.error = error_;
  return s;
}

BodyDecoder::Step BodyDecoder::Next(std::string_view input) {
  Step step;
  switch (phase_) {
    case Phase::kDone:
      step.kind = Step::kDone;
      return step;
    case Phase::kError:
      step.kind = Step::kError;
      step.error = error_;
      return step;
    case Phase::kBody:
      break;
    default:
      return NextChunked(input);
  }
  if (input.empty()) {
    if (framing_.kind == BodyFraming::kUntilClose && eof_) {
      phase_ = Phase::kDone;
      step.kind = Step::kDone;
    }
    return step;  // kNeedMore
  }
  size_t n = input.size();
  if (framing_.kind == BodyFraming::kContentLength) {
    n = static_cast<size_t>(std::min<uint64_t>(remaining_, n));
    remaining_ -= n;
    if (remaining_ == 0) phase_ = Phase::kDone;
  }
  payload_bytes_ += n;
  step.kind = Step::kData;
  step.consumed = n;
  step.data = input.substr(0, n);
  return step;
}

BodyDecoder::Step BodyDecoder::NextChunked(std::string_view input) {
  Step step;
  size_t off = 0;
  while (true) {
    const std::string_view rest = input.substr(off);
    switch (phase_) {
      case Phase::kChunkSizeLine: {
        const size_t window = std::min(rest.size(), kMaxChunkSizeLine);
        const void* lf = window == 0 ? nullptr : std::memchr(rest.data(), '\n', window);
        if (lf == nullptr) {
          if (const char* e = ChunkSizeLinePrefixError(rest.substr(0, window))) return Fail(e);
          if (rest.size() >= kMaxChunkSizeLine) return Fail("chunk size line too long");
          step.consumed = off;
          return step;
        }
        const size_t lf_pos = static_cast<const char*>(lf) - rest.data();
        if (lf_pos == 0 || rest[lf_pos - 1] != '\r') return Fail("bare LF in chunked framing");
        uint64_t size = 0;
        if (const char* e = ParseChunkSizeLine(rest.substr(0, lf_pos - 1), &size)) return Fail(e);
        if (size > UINT64_MAX - payload_bytes_) return Fail("chunked body too large");
        off += lf_pos + 1;
        remaining_ = size;
        phase_ = size == 0 ? Phase::kTrailers : Phase::kChunkData;
        continue;
      }
      case Phase::kChunkData: {
        if (rest.empty()) {
          step.consumed = off;
          return step;
        }
        const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, rest.size()));
        remaining_ -= n;
        payload_bytes_ += n;
        if (remaining_ == 0) phase_ = Phase::kChunkDataEnd;
        step.kind = Step::kData;
        step.consumed = off + n;
        step.data = rest.substr(0, n);
        return step;
      }
      case Phase::kChunkDataEnd: {
        if (rest.size() < 2) {
          if (rest.size() == 1 && rest[0] != '\r') return Fail("missing CRLF after chunk data");
          step.consumed = off;
          return step;
        }
        if (rest[0] != '\r' || rest[1] != '\n') return Fail("missing CRLF after chunk data");
        off += 2;
        phase_ = Phase::kChunkSizeLine;
        continue;
      }
      case Phase::kTrailers: {
        const size_t budget = max_trailer_bytes_ - trailer_bytes_;
        const size_t window = std::min(rest.size(), budget);
        const void* lf = window == 0 ? nullptr : std::memchr(rest.data(), '\n', window);
        if (lf == nullptr) {
          const char* reason = "";
          if (!syntax::FieldLinePrefixValid(rest.substr(0, window), &reason)) return Fail(reason);
          if (rest.size() >= budget) return Fail("trailers too large");
          step.consumed = off;
          return step;
        }
        const size_t lf_pos = static_cast<const char*>(lf) - rest.data();
        if (lf_pos == 0 || rest[lf_pos - 1] != '\r') return Fail("bare LF in chunked trailers");
        const std::string_view line = rest.substr(0, lf_pos - 1);
        off += lf_pos + 1;
        trailer_bytes_ += lf_pos + 1;
        if (line.empty()) {
          phase_ = Phase::kDone;
          step.kind = Step::kDone;
          step.consumed = off;
          return step;
        }
        if (trailers_.size() >= kMaxTrailerCount) return Fail("too many trailer fields");
        const char* reason = "";
        if (!syntax::ParseFieldLine(line, &trailers_, &reason)) return Fail(reason);
        if (IsForbiddenTrailer(trailers_.entries().back().name)) return Fail("forbidden trailer field");
        continue;
      }
      default:
        return Next(rest);  // kDone / kError
    }
  }
}

void BodyDecoder::FinishAtEof() {
  if (framing_.kind == BodyFraming::kUntilClose) {
    eof_ = true;
    return;
  }
  if (phase_ != Phase::kDone && phase_ != Phase::kError) {
    phase_ = Phase::kError;
    error_ = "body truncated by end of stream";
  }
}

}  // namespace sluice::http1
