#pragma once
// Response compression (gzip, brotli, zstd), a response body transform at
// StageOrder::kCompression, in the chain of routes whose policy enables it
// (RoutePolicy.compression). Negotiated per RFC 9110 12.5.3 from the
// request's Accept-Encoding; each body chunk is compressed and flushed as
// it arrives (compression_codec.h), the last block goes out from the end
// hook. Reads: Accept-Encoding, Range, the method, the response's status
// and fields. Changes: Content-Encoding (set), Content-Length (dropped:
// the length is not known in advance), ETag (a strong one is weakened: the
// bytes differ from the identity representation's), Vary (Accept-Encoding
// merged in, also on eligible responses sent uncompressed, so caches keep
// the variants apart), Accept-Ranges (dropped: ranges over the compressed
// bytes are not offered).
//
// Never compressed (SkipReason): the proxy's own replies, HEAD, 1xx, 204,
// 206, 304, requests with Range, a response that already has a
// Content-Encoding or says Cache-Control: no-transform (or a request that
// does), gRPC, media types outside the list, bodies whose known length is
// under the minimum, and clients that accept no coding we have.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/pipeline/compression_codec.h"
#include "dataplane/pipeline/stage.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::pipeline {

// Why a response went uncompressed (for the access log and metrics later).
enum class SkipReason : uint8_t {
  kNone,           // compressed
  kLocalReply,     // the proxy's own answer
  kNoBody,         // HEAD, 1xx, 204, 304, or a head that ends the response
  kPartial,        // 206 or a request with Range
  kEncoded,        // the response already has a Content-Encoding
  kNoTransform,    // Cache-Control: no-transform
  kGrpc,           // gRPC (its messages carry their own compression)
  kType,           // media type not in the list (or none)
  kTooSmall,       // known length under the minimum
  kNotAccepted,    // the client accepts none of our codings
  kEncoderFailed,  // the library could not allocate a stream
};
std::string_view SkipReasonName(SkipReason reason);

// The default server preference: zstd, br, gzip.
std::span<const Coding> DefaultCodingPreference();

// The coding for `accept_encoding` (all of a request's Accept-Encoding
// fields joined by ", "), per RFC 9110 12.5.3: q-values, "*" for codings
// not listed, x-gzip for gzip; among equal q-values the first in
// `preference` (the codings offered, zstd, br, gzip by default). kIdentity
// when the client sent no Accept-Encoding or accepts none of them
// (identity is then sent even if "identity;q=0": the proxy does not answer
// 406 for a representation its origin chose).
Coding NegotiateCoding(std::string_view accept_encoding, bool present = true,
                       std::span<const Coding> preference = DefaultCodingPreference());
// "zstd", "br", "gzip" (any case; x-gzip too) -> the coding; kIdentity otherwise.
Coding CodingFromName(std::string_view name);

// The built-in list of compressible media types.
const std::vector<std::string>& DefaultCompressibleTypes();
// Whether `content_type` (a Content-Type value, parameters allowed) is
// one of `types`: "type/subtype", "type/*" or a suffix "+json".
bool TypeMatches(const std::vector<std::string>& types, std::string_view content_type);

class CompressionStage final : public Stage {
 public:
  struct Options {
    std::vector<std::string> types = DefaultCompressibleTypes();
    uint64_t min_length = 1024;
    int gzip_level = 5;
    int brotli_level = 4;
    int zstd_level = 3;
    std::vector<Coding> preference{DefaultCodingPreference().begin(), DefaultCodingPreference().end()};
    static Options From(const v1::CompressionPolicy& policy);
    int LevelOf(Coding coding) const;
  };
  explicit CompressionStage(Options options) : options_(std::move(options)) {}
  std::string_view name() const override { return "compression"; }
  StageOrder order() const override { return StageOrder::kCompression; }
  uint32_t hooks() const override { return kResponseHead | kResponseBody | kResponseEnd; }
  Verdict OnResponseHead(ExchangeState& state, http::ResponseHead& head, bool local) const override;
  Verdict OnResponseBody(ExchangeState& state, std::string_view& chunk) const override;
  bool WantsResponseBody(const ExchangeState& state) const override;
  Verdict OnResponseEnd(ExchangeState& state, std::string_view& tail) const override;

  // Whether the response may be compressed at all, the client aside
  // (kNone: eligible; then Vary: Accept-Encoding belongs on it).
  SkipReason Eligible(const ExchangeState& state, const http::ResponseHead& head, bool local) const;
  // What OnResponseHead decided for this request (kNotAccepted also when
  // the stage did not run).
  static SkipReason Decision(const ExchangeState& state, Coding* coding = nullptr);

 private:
  Options options_;
};

}  // namespace sluice::pipeline
