// The compression stage without sockets: negotiation, the never-compress
// cases, the head it leaves, and each codec's round trip decoded with the
// same Debian libraries (zlib, libbrotlidec, libzstd).
#include <brotli/decode.h>
#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <functional>
#include <random>
#include <string>

#include "dataplane/pipeline/chain.h"
#include "dataplane/pipeline/compression_codec.h"
#include "dataplane/pipeline/compression_stage.h"
#include "dataplane/pipeline/compression_stats.h"

namespace sluice::pipeline {
namespace {

std::string Gunzip(std::string_view in, bool* ok) {
  z_stream s{};
  *ok = inflateInit2(&s, 15 + 16) == Z_OK;
  std::string out;
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  s.avail_in = static_cast<uInt>(in.size());
  char buf[4096];
  int r = Z_OK;
  for (int i = 0; i < 1000000 && r == Z_OK; ++i) {
    s.next_out = reinterpret_cast<Bytef*>(buf);
    s.avail_out = sizeof buf;
    r = inflate(&s, Z_SYNC_FLUSH);
    out.append(buf, sizeof buf - s.avail_out);
    if (r == Z_BUF_ERROR && s.avail_in == 0) break;  // everything so far decoded
  }
  *ok = *ok && r == Z_STREAM_END;  // the stream is complete
  inflateEnd(&s);
  return out;
}

std::string Unbrotli(std::string_view in, bool* finished) {
  BrotliDecoderState* s = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
  size_t available_in = in.size();
  const uint8_t* next_in = reinterpret_cast<const uint8_t*>(in.data());
  std::string out;
  BrotliDecoderResult r = BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT;
  for (int i = 0; i < 1000000; ++i) {
    uint8_t buf[4096];
    size_t available_out = sizeof buf;
    uint8_t* next_out = buf;
    r = BrotliDecoderDecompressStream(s, &available_in, &next_in, &available_out, &next_out, nullptr);
    out.append(reinterpret_cast<char*>(buf), sizeof buf - available_out);
    // A full buffer may hide more output even when it asks for input.
    if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT) continue;
    if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT && available_out == 0) continue;
    break;
  }
  *finished = r == BROTLI_DECODER_RESULT_SUCCESS;
  BrotliDecoderDestroyInstance(s);
  return out;
}

std::string Unzstd(std::string_view in, bool* finished) {
  ZSTD_DCtx* d = ZSTD_createDCtx();
  ZSTD_inBuffer input{in.data(), in.size(), 0};
  std::string out;
  size_t r = 1;
  char buf[4096];
  for (int i = 0; i < 1000000 && (input.pos < input.size || r != 0); ++i) {
    ZSTD_outBuffer output{buf, sizeof buf, 0};
    r = ZSTD_decompressStream(d, &output, &input);
    if (ZSTD_isError(r)) break;
    out.append(buf, output.pos);
    if (output.pos == 0 && input.pos == input.size) break;
  }
  *finished = !ZSTD_isError(r) && r == 0;
  ZSTD_freeDCtx(d);
  return out;
}

std::string Decode(Coding coding, std::string_view in, bool* finished) {
  switch (coding) {
    case Coding::kGzip: return Gunzip(in, finished);
    case Coding::kBrotli: return Unbrotli(in, finished);
    case Coding::kZstd: return Unzstd(in, finished);
    default: *finished = true; return std::string(in);
  }
}

std::string Sample(size_t size) {
  std::string text;
  std::mt19937 rng(7);
  const char* words[] = {"alpha ", "beta ", "gamma ", "{\"id\": ", "42, ", "\"name\": \"sluice\"}\n"};
  while (text.size() < size) text += words[rng() % 6];
  text.resize(size);
  return text;
}

// --- Negotiation (RFC 9110 12.5.3) -----------------------------------------

TEST(NegotiateTest, ServerPreferenceAmongEqualWeights) {
  EXPECT_EQ(NegotiateCoding("gzip, deflate, br, zstd"), Coding::kZstd);
  EXPECT_EQ(NegotiateCoding("gzip, br"), Coding::kBrotli);
  EXPECT_EQ(NegotiateCoding("gzip"), Coding::kGzip);
  EXPECT_EQ(NegotiateCoding("x-gzip"), Coding::kGzip);
  EXPECT_EQ(NegotiateCoding("GZIP"), Coding::kGzip);
}

TEST(NegotiateTest, QValues) {
  EXPECT_EQ(NegotiateCoding("zstd;q=0.5, gzip;q=0.9, br;q=0.1"), Coding::kGzip);
  EXPECT_EQ(NegotiateCoding("zstd;q=0, br;q=0, gzip"), Coding::kGzip);
  EXPECT_EQ(NegotiateCoding("gzip;q=0"), Coding::kIdentity);
  EXPECT_EQ(NegotiateCoding("br ; Q=1.000, zstd;q=0.999"), Coding::kBrotli);
  EXPECT_EQ(NegotiateCoding("gzip;q=1.5"), Coding::kIdentity);  // malformed weight: ignored
  EXPECT_EQ(NegotiateCoding("gzip;q=0.001"), Coding::kGzip);
}

TEST(NegotiateTest, StarAndIdentity) {
  EXPECT_EQ(NegotiateCoding("*"), Coding::kZstd);
  EXPECT_EQ(NegotiateCoding("gzip;q=0.8, *;q=0.1"), Coding::kGzip);
  EXPECT_EQ(NegotiateCoding("*;q=0"), Coding::kIdentity);
  EXPECT_EQ(NegotiateCoding("br;q=0, *"), Coding::kZstd);
  EXPECT_EQ(NegotiateCoding("zstd;q=0, br;q=0, *"), Coding::kGzip);
  EXPECT_EQ(NegotiateCoding("identity;q=0, gzip"), Coding::kGzip);
  EXPECT_EQ(NegotiateCoding("identity"), Coding::kIdentity);
}

TEST(NegotiateTest, ConfiguredPreferenceAndSubset) {
  const std::vector<Coding> gzip_first = {Coding::kGzip, Coding::kBrotli};  // no zstd offered
  EXPECT_EQ(NegotiateCoding("zstd, br, gzip", true, gzip_first), Coding::kGzip);
  EXPECT_EQ(NegotiateCoding("zstd, br", true, gzip_first), Coding::kBrotli);
  EXPECT_EQ(NegotiateCoding("zstd", true, gzip_first), Coding::kIdentity);
  EXPECT_EQ(NegotiateCoding("*", true, gzip_first), Coding::kGzip);
  EXPECT_EQ(NegotiateCoding("gzip;q=0.5, br", true, gzip_first), Coding::kBrotli);  // weights first
  EXPECT_EQ(CodingFromName("BR"), Coding::kBrotli);
  EXPECT_EQ(CodingFromName("deflate"), Coding::kIdentity);
}

TEST(NegotiateTest, NoFieldOrEmptyFieldMeansNoCoding) {
  EXPECT_EQ(NegotiateCoding("", /*present=*/false), Coding::kIdentity);
  EXPECT_EQ(NegotiateCoding(""), Coding::kIdentity);  // RFC: an empty field: no coding wanted
  EXPECT_EQ(NegotiateCoding("deflate, compress"), Coding::kIdentity);
}

TEST(TypeMatchesTest, ListEntries) {
  const auto& types = DefaultCompressibleTypes();
  EXPECT_TRUE(TypeMatches(types, "text/html; charset=utf-8"));
  EXPECT_TRUE(TypeMatches(types, "text/event-stream"));
  EXPECT_TRUE(TypeMatches(types, "Application/JSON"));
  EXPECT_TRUE(TypeMatches(types, "application/problem+json"));
  EXPECT_TRUE(TypeMatches(types, "application/atom+xml"));
  EXPECT_TRUE(TypeMatches(types, "image/svg+xml"));
  EXPECT_TRUE(TypeMatches(types, "application/wasm"));
  EXPECT_TRUE(TypeMatches(types, "application/javascript"));
  EXPECT_FALSE(TypeMatches(types, "image/png"));
  EXPECT_FALSE(TypeMatches(types, "application/octet-stream"));
  EXPECT_FALSE(TypeMatches(types, "video/mp4"));
  EXPECT_FALSE(TypeMatches(types, "garbage"));
  EXPECT_FALSE(TypeMatches(types, "+json"));
  EXPECT_TRUE(TypeMatches({"application/octet-stream"}, "application/octet-stream"));
  EXPECT_FALSE(TypeMatches({"application/octet-stream"}, "text/html"));
}

// --- The stage --------------------------------------------------------------

struct Fixture {
  ExchangeState state;
  http::ResponseHead head;
  Fixture(std::string_view accept = "gzip, br, zstd") {
    state.request.method = "GET";
    if (!accept.empty()) state.request.headers.Add("accept-encoding", std::string(accept));
    head.status = 200;
    head.headers.Add("content-type", "text/html; charset=utf-8");
    head.headers.Add("content-length", "5000");
  }
};

SkipReason Decide(const CompressionStage& stage, Fixture& f, bool local = false, Coding* coding = nullptr) {
  EXPECT_EQ(stage.OnResponseHead(f.state, f.head, local), Verdict::kContinue);
  return CompressionStage::Decision(f.state, coding);
}

TEST(CompressionStageTest, CompressedHead) {
  CompressionStage stage({});
  Fixture f;
  f.head.headers.Add("etag", "\"abc\"");
  f.head.headers.Add("accept-ranges", "bytes");
  Coding coding;
  EXPECT_EQ(Decide(stage, f, false, &coding), SkipReason::kNone);
  EXPECT_EQ(coding, Coding::kZstd);
  EXPECT_EQ(*f.head.headers.Get("content-encoding"), "zstd");
  EXPECT_EQ(f.head.headers.Get("content-length"), nullptr);
  EXPECT_EQ(f.head.headers.Get("accept-ranges"), nullptr);
  EXPECT_EQ(*f.head.headers.Get("etag"), "W/\"abc\"");
  EXPECT_EQ(*f.head.headers.Get("vary"), "Accept-Encoding");
}

TEST(CompressionStageTest, VaryIsMergedAndWeakETagsKept) {
  CompressionStage stage({});
  Fixture f("gzip");
  f.head.headers.Add("vary", "Origin");
  f.head.headers.Add("etag", "W/\"weak\"");
  EXPECT_EQ(Decide(stage, f), SkipReason::kNone);
  EXPECT_EQ(*f.head.headers.Get("vary"), "Origin, Accept-Encoding");
  EXPECT_EQ(f.head.headers.Count("vary"), 1u);
  EXPECT_EQ(*f.head.headers.Get("etag"), "W/\"weak\"");

  Fixture g("gzip");
  g.head.headers.Add("vary", "accept-encoding, Origin");
  EXPECT_EQ(Decide(stage, g), SkipReason::kNone);
  EXPECT_EQ(*g.head.headers.Get("vary"), "accept-encoding, Origin");
}

TEST(CompressionStageTest, EligibleButNotAskedStillVaries) {
  CompressionStage stage({});
  Fixture f("");
  EXPECT_EQ(Decide(stage, f), SkipReason::kNotAccepted);
  EXPECT_EQ(*f.head.headers.Get("vary"), "Accept-Encoding");
  EXPECT_EQ(f.head.headers.Get("content-encoding"), nullptr);
  EXPECT_EQ(*f.head.headers.Get("content-length"), "5000");
  Fixture g("identity;q=0, gzip;q=0");
  EXPECT_EQ(Decide(stage, g), SkipReason::kNotAccepted);
}

TEST(CompressionStageTest, SkipReasons) {
  CompressionStage stage({});
  struct Case {
    const char* name;
    std::function<void(Fixture&)> setup;
    SkipReason reason;
  };
  const std::vector<Case> cases = {
      {"head", [](Fixture& f) { f.state.request.method = "HEAD"; }, SkipReason::kNoBody},
      {"204", [](Fixture& f) { f.head.status = 204; }, SkipReason::kNoBody},
      {"304", [](Fixture& f) { f.head.status = 304; }, SkipReason::kNoBody},
      {"103", [](Fixture& f) { f.head.status = 103; }, SkipReason::kNoBody},
      {"ends stream", [](Fixture& f) { f.state.response_head_ends_stream = true; }, SkipReason::kNoBody},
      {"206", [](Fixture& f) { f.head.status = 206; }, SkipReason::kPartial},
      {"range", [](Fixture& f) { f.state.request.headers.Add("range", "bytes=0-10"); }, SkipReason::kPartial},
      {"encoded", [](Fixture& f) { f.head.headers.Add("content-encoding", "gzip"); }, SkipReason::kEncoded},
      {"no-transform",
       [](Fixture& f) { f.head.headers.Add("cache-control", "public, No-Transform, max-age=60"); },
       SkipReason::kNoTransform},
      {"request no-transform", [](Fixture& f) { f.state.request.headers.Add("cache-control", "no-transform"); },
       SkipReason::kNoTransform},
      {"grpc", [](Fixture& f) { f.head.headers.Set("content-type", "application/grpc+proto"); }, SkipReason::kGrpc},
      {"grpc request", [](Fixture& f) { f.state.request.headers.Add("content-type", "application/grpc"); },
       SkipReason::kGrpc},
      {"png", [](Fixture& f) { f.head.headers.Set("content-type", "image/png"); }, SkipReason::kType},
      {"no type", [](Fixture& f) { f.head.headers.Remove("content-type"); }, SkipReason::kType},
      {"small", [](Fixture& f) { f.head.headers.Set("content-length", "1023"); }, SkipReason::kTooSmall},
      {"empty", [](Fixture& f) { f.head.headers.Set("content-length", "0"); }, SkipReason::kTooSmall},
      {"at min", [](Fixture& f) { f.head.headers.Set("content-length", "1024"); }, SkipReason::kNone},
      {"unknown length", [](Fixture& f) { f.head.headers.Remove("content-length"); }, SkipReason::kNone},
      {"identity encoding", [](Fixture& f) { f.head.headers.Add("content-encoding", "identity"); }, SkipReason::kNone},
      {"404 body", [](Fixture& f) { f.head.status = 404; }, SkipReason::kNone},
  };
  for (const Case& c : cases) {
    Fixture f;
    c.setup(f);
    EXPECT_EQ(Decide(stage, f), c.reason) << c.name;
    // Only a body it compresses must pass it (else: sendfile stays possible).
    EXPECT_EQ(stage.WantsResponseBody(f.state), c.reason == SkipReason::kNone) << c.name;
    if (c.reason != SkipReason::kNone) {
      EXPECT_EQ(f.head.headers.Get("vary"), nullptr) << c.name;
      const std::string* encoding = f.head.headers.Get("content-encoding");
      EXPECT_TRUE(encoding == nullptr || *encoding != "zstd") << c.name;
    } else {
      EXPECT_EQ(*f.head.headers.Get("content-encoding"), "zstd") << c.name;
      EXPECT_EQ(f.head.headers.Count("content-encoding"), 1u) << c.name;
    }
  }
  Fixture local;
  EXPECT_EQ(Decide(stage, local, /*local=*/true), SkipReason::kLocalReply);
  EXPECT_FALSE(stage.WantsResponseBody(local.state));
  // A static file's whole representation is compressed like an origin's.
  Fixture file;
  file.state.reply.representation = true;
  EXPECT_EQ(Decide(stage, file, /*local=*/true), SkipReason::kNone);
  EXPECT_TRUE(stage.WantsResponseBody(file.state));
}

TEST(CompressionStageTest, OptionsFromPolicy) {
  v1::CompressionPolicy policy;
  policy.set_enabled(true);
  policy.add_types("application/octet-stream");
  policy.set_min_length(10);
  policy.set_gzip_level(9);
  policy.add_codings("gzip");
  policy.add_codings("bogus");
  policy.add_codings("zstd");
  policy.add_codings("gzip");
  CompressionStage::Options options = CompressionStage::Options::From(policy);
  EXPECT_EQ(options.preference, (std::vector<Coding>{Coding::kGzip, Coding::kZstd}));
  EXPECT_EQ(CompressionStage::Options().preference,
            (std::vector<Coding>{Coding::kZstd, Coding::kBrotli, Coding::kGzip}));
  EXPECT_EQ(options.types, std::vector<std::string>{"application/octet-stream"});
  EXPECT_EQ(options.min_length, 10u);
  EXPECT_EQ(options.gzip_level, 9);
  EXPECT_EQ(options.brotli_level, 4);
  CompressionStage stage(options);
  Fixture f;
  EXPECT_EQ(Decide(stage, f), SkipReason::kType);  // text/html is not in this route's list
}

// --- Codecs: round trips, flushed per chunk ---------------------------------

class CodecTest : public ::testing::TestWithParam<Coding> {};

TEST_P(CodecTest, RoundTripFlushedPerChunk) {
  const Coding coding = GetParam();
  const std::string body = Sample(300 * 1000);
  auto encoder = MakeEncoder(coding, coding == Coding::kBrotli ? 5 : 6);
  ASSERT_NE(encoder, nullptr);
  std::string compressed;
  size_t offset = 0;
  size_t step = 1;
  while (offset < body.size()) {
    size_t n = std::min(step, body.size() - offset);
    std::string out;
    ASSERT_TRUE(encoder->Transform(std::string_view(body).substr(offset, n), false, out));
    compressed += out;
    offset += n;
    step = step * 3 + 1;  // chunks of every size, 1 B to ~100 KB
    // Flushed: everything so far decodes now (no latency added).
    bool finished = false;
    std::string so_far = Decode(coding, compressed, &finished);
    ASSERT_EQ(so_far.size(), offset) << CodingName(coding) << " flushed " << compressed.size();
    ASSERT_TRUE(so_far == body.substr(0, offset)) << CodingName(coding) << " at " << offset;
    EXPECT_FALSE(finished);
  }
  std::string tail;
  ASSERT_TRUE(encoder->Transform({}, true, tail));
  EXPECT_FALSE(tail.empty());
  compressed += tail;
  bool finished = false;
  EXPECT_EQ(Decode(coding, compressed, &finished), body);
  EXPECT_TRUE(finished);
  EXPECT_LT(compressed.size(), body.size() / 3) << CodingName(coding);
}

TEST_P(CodecTest, EmptyBodyIsAValidStream) {
  auto encoder = MakeEncoder(GetParam(), 3);
  ASSERT_NE(encoder, nullptr);
  std::string out;
  ASSERT_TRUE(encoder->Transform({}, false, out));
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(encoder->Transform({}, true, out));
  bool finished = false;
  EXPECT_EQ(Decode(GetParam(), out, &finished), "");
  EXPECT_TRUE(finished);
}

TEST_P(CodecTest, ThroughTheChain) {
  // The stage in a compiled chain: body chunks replaced by compressed views,
  // the last block emitted as the end's tail.
  v1::RoutePolicy policy;
  policy.mutable_compression()->set_enabled(true);
  auto chain = CompileChain(policy, {});
  ExchangeState state;
  state.request.method = "GET";
  state.request.headers.Add("accept-encoding", std::string(CodingName(GetParam())));
  http::ResponseHead head;
  head.status = 200;
  head.headers.Add("content-type", "application/json");
  size_t cursor = 0;
  ASSERT_EQ(chain->RunResponseHead(state, head, false, cursor), Verdict::kContinue);
  ASSERT_EQ(*head.headers.Get("content-encoding"), CodingName(GetParam()));
  const std::string body = Sample(100 * 1000);
  std::string wire;
  for (size_t offset = 0; offset < body.size(); offset += 16384) {
    std::string_view chunk = std::string_view(body).substr(offset, 16384);
    ASSERT_EQ(chain->RunResponseBody(state, chunk), Verdict::kContinue);
    wire.append(chunk);
  }
  std::string_view tail;
  ASSERT_EQ(chain->RunResponseEnd(state, tail), Verdict::kContinue);
  wire.append(tail);
  bool finished = false;
  EXPECT_EQ(Decode(GetParam(), wire, &finished), body);
  EXPECT_TRUE(finished);
}

INSTANTIATE_TEST_SUITE_P(Codings, CodecTest, ::testing::Values(Coding::kGzip, Coding::kBrotli, Coding::kZstd),
                         [](const auto& info) { return std::string(CodingName(info.param)); });

TEST(CompressionStageTest, CountsResponsesBytesAndSkipReasons) {
  CompressionStats stats;
  CompressionStage stage({});
  Fixture f("gzip");
  f.state.compression_stats = &stats;
  f.head.headers.Remove("content-length");
  ASSERT_EQ(stage.OnResponseHead(f.state, f.head, false), Verdict::kContinue);
  const std::string body = Sample(50000);
  std::string wire;
  std::string_view chunk = body;
  ASSERT_EQ(stage.OnResponseBody(f.state, chunk), Verdict::kContinue);
  wire.append(chunk);
  std::string_view tail;
  ASSERT_EQ(stage.OnResponseEnd(f.state, tail), Verdict::kContinue);
  wire.append(tail);
  const size_t gzip = static_cast<size_t>(Coding::kGzip);
  EXPECT_EQ(stats.responses[gzip].load(), 1u);
  EXPECT_EQ(stats.bytes_in[gzip].load(), body.size());
  EXPECT_EQ(stats.bytes_out[gzip].load(), wire.size());

  Fixture png;
  png.state.compression_stats = &stats;
  png.head.headers.Set("content-type", "image/png");
  stage.OnResponseHead(png.state, png.head, false);
  Fixture local;
  local.state.compression_stats = &stats;
  stage.OnResponseHead(local.state, local.head, true);
  EXPECT_EQ(stats.skipped[static_cast<size_t>(SkipReason::kType)].load(), 1u);
  EXPECT_EQ(stats.skipped[static_cast<size_t>(SkipReason::kLocalReply)].load(), 1u);
  EXPECT_EQ(stats.responses[static_cast<size_t>(Coding::kZstd)].load(), 0u);
}

TEST(CompressionChainTest, AResponseItDoesNotCompressSkipsTheBodyStages) {
  // On a compressing route, an image (or any body left as it is) needs no
  // body hook: the exchange may then send a file with sendfile(2).
  v1::RoutePolicy policy;
  policy.mutable_compression()->set_enabled(true);
  auto chain = CompileChain(policy, {});
  ASSERT_TRUE(chain->Has(kResponseBody));
  for (const char* type : {"image/png", "application/json"}) {
    ExchangeState state;
    state.request.method = "GET";
    state.request.headers.Add("accept-encoding", "gzip");
    http::ResponseHead head;
    head.status = 200;
    head.headers.Add("content-type", type);
    head.headers.Add("content-length", "100000");
    size_t cursor = 0;
    ASSERT_EQ(chain->RunResponseHead(state, head, false, cursor), Verdict::kContinue);
    EXPECT_EQ(chain->WantsResponseBody(state), std::string_view(type) == "application/json") << type;
  }
}

TEST(CompressionChainTest, OnlyRoutesThatEnableIt) {
  v1::RoutePolicy policy;
  auto names = CompileChain(policy, {})->StageNames();
  EXPECT_EQ(std::count(names.begin(), names.end(), "compression"), 0);
  policy.mutable_compression()->set_enabled(true);
  names = CompileChain(policy, {})->StageNames();
  EXPECT_EQ(std::count(names.begin(), names.end(), "compression"), 1);
}

}  // namespace
}  // namespace sluice::pipeline
