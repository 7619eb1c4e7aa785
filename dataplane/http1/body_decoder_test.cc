#include <gtest/gtest.h>

#include <string>

#include "dataplane/http1/parser.h"

namespace sluice::http1 {
namespace {

BodyFraming Chunked() { return BodyFraming{BodyFraming::kChunked, 0}; }

struct Outcome {
  bool done = false;
  bool error = false;
  std::string error_text;
  std::string body;
  size_t consumed = 0;  // total input bytes consumed
};

// Feeds `input` in pieces of `piece` bytes (0: all at once), the way a
// connection would: unconsumed bytes stay at the front of the buffer.
Outcome Decode(BodyDecoder& decoder, std::string_view input, size_t piece = 0) {
  Outcome out;
  std::string buffer;
  size_t fed = 0;
  for (int guard = 0; guard < 100000; ++guard) {
    BodyDecoder::Step step = decoder.Next(buffer);
    if (step.kind == BodyDecoder::Step::kData) out.body.append(step.data);  // before the view goes stale
    buffer.erase(0, step.consumed);
    out.consumed += step.consumed;
    if (step.kind == BodyDecoder::Step::kData) continue;
    if (step.kind == BodyDecoder::Step::kDone) {
      out.done = true;
      return out;
    }
    if (step.kind == BodyDecoder::Step::kError) {
      out.error = true;
      out.error_text = step.error;
      return out;
    }
    if (fed == input.size()) return out;  // needs more than there is
    const size_t n = piece == 0 ? input.size() - fed : std::min(piece, input.size() - fed);
    buffer.append(input.substr(fed, n));
    fed += n;
  }
  ADD_FAILURE() << "decoder did not make progress";
  return out;
}

Outcome DecodeChunked(std::string_view input, size_t piece = 0) {
  BodyDecoder decoder(Chunked());
  return Decode(decoder, input, piece);
}

void ExpectChunkedError(std::string_view input) {
  for (size_t piece : {size_t{0}, size_t{1}}) {
    Outcome o = DecodeChunked(input, piece);
    EXPECT_TRUE(o.error) << testing::PrintToString(std::string(input)) << " piece " << piece;
    EXPECT_FALSE(o.done);
  }
}

TEST(BodyDecoder, ChunkedAtEverySplit) {
  const std::string input = "5\r\nhello\r\n1;ext=1\r\n \r\nA;a;b=\"q\\\"x\"\r\n0123456789\r\n0\r\nX-Sum: abc\r\n\r\nNEXT";
  for (size_t piece = 0; piece <= 7; ++piece) {
    BodyDecoder decoder(Chunked());
    Outcome o = Decode(decoder, input, piece);
    ASSERT_TRUE(o.done) << "piece " << piece << " " << o.error_text;
    EXPECT_EQ(o.body, "hello 0123456789");
    EXPECT_EQ(o.consumed, input.size() - 4);  // pipelined bytes stay
    EXPECT_EQ(decoder.payload_bytes(), 16u);
    EXPECT_TRUE(decoder.done());
    ASSERT_EQ(decoder.trailers().size(), 1u);
    EXPECT_EQ(*decoder.trailers().Get("x-sum"), "abc");
  }
}

TEST(BodyDecoder, DataIsAViewIntoInput) {
  BodyDecoder decoder(Chunked());
  const std::string input = "3\r\nabc\r\n";
  BodyDecoder::Step step = decoder.Next(input);
  ASSERT_EQ(step.kind, BodyDecoder::Step::kData);
  EXPECT_EQ(step.data.data(), input.data() + 3);
  EXPECT_EQ(step.consumed, 6u);
}

TEST(BodyDecoder, HexCaseAndLeadingZeros) {
  Outcome o = DecodeChunked("000000000000000A\r\n0123456789\r\n0\r\n\r\n");
  ASSERT_TRUE(o.done) << o.error_text;
  EXPECT_EQ(o.body.size(), 10u);
  o = DecodeChunked("a\r\n0123456789\r\n0\r\n\r\n");
  EXPECT_TRUE(o.done);
}

TEST(BodyDecoder, InvalidChunkSizes) {
  ExpectChunkedError("g\r\nx\r\n0\r\n\r\n");
  ExpectChunkedError("\r\nx\r\n0\r\n\r\n");
  ExpectChunkedError("-1\r\nx\r\n0\r\n\r\n");
  ExpectChunkedError(" 1\r\nx\r\n0\r\n\r\n");
  ExpectChunkedError("\t1\r\nx\r\n0\r\n\r\n");
  ExpectChunkedError("1 \r\nx\r\n0\r\n\r\n");
  ExpectChunkedError("+1\r\nx\r\n0\r\n\r\n");
  ExpectChunkedError("0x1\r\nx\r\n0\r\n\r\n");
  ExpectChunkedError("00000000000000001\r\nx\r\n0\r\n\r\n");  // 17 digits
  ExpectChunkedError("10000000000000000\r\n");                // overflow
}

TEST(BodyDecoder, SixteenHexDigitsAreAccepted) {
  BodyDecoder decoder(Chunked());
  BodyDecoder::Step step = decoder.Next("FFFFFFFFFFFFFFFF\r\nab");
  ASSERT_EQ(step.kind, BodyDecoder::Step::kData);
  EXPECT_EQ(step.data, "ab");
}

TEST(BodyDecoder, TotalSizeOverflowIsAnError) {
  Outcome o = DecodeChunked("FFFFFFFFFFFFFFFF\r\n");
  EXPECT_FALSE(o.error);  // waiting for data
  BodyDecoder decoder(Chunked());
  ASSERT_EQ(decoder.Next("1\r\na\r\n").kind, BodyDecoder::Step::kData);
  ASSERT_EQ(decoder.Next("\r\n").kind, BodyDecoder::Step::kNeedMore);
  EXPECT_EQ(decoder.Next("FFFFFFFFFFFFFFFF\r\n").kind, BodyDecoder::Step::kError);
}

TEST(BodyDecoder, ChunkExtensions) {
  for (std::string_view ok : {"1;a\r\nx\r\n0\r\n\r\n", "1;a=b\r\nx\r\n0\r\n\r\n", "1 ; a = b ;c\r\nx\r\n0\r\n\r\n",
                              "1;a=\"b c;\"\r\nx\r\n0\r\n\r\n", "1;a=\"\\\"\"\r\nx\r\n0;last=1\r\n\r\n"}) {
    Outcome o = DecodeChunked(ok);
    EXPECT_TRUE(o.done) << ok << " " << o.error_text;
    EXPECT_EQ(o.body, "x");
  }
  ExpectChunkedError("1;\r\nx\r\n0\r\n\r\n");
  ExpectChunkedError("1;=b\r\nx\r\n0\r\n\r\n");
  ExpectChunkedError("1;a=\r\nx\r\n0\r\n\r\n");
  ExpectChunkedError("1;a=\"b\r\nx\r\n0\r\n\r\n");
  ExpectChunkedError("1;a=b c\r\nx\r\n0\r\n\r\n");
  ExpectChunkedError("1;a=\"b\x01\"\r\nx\r\n0\r\n\r\n");
  ExpectChunkedError("1;a\x01\r\nx\r\n0\r\n\r\n");
  ExpectChunkedError("1;a=\"\x7f\"\r\nx\r\n0\r\n\r\n");
  ExpectChunkedError(std::string("1;a=\"\0\"\r\nx\r\n0\r\n\r\n", 15));
  ExpectChunkedError("1x\r\nx\r\n0\r\n\r\n");
}

TEST(BodyDecoder, ChunkExtensionLengthIsCapped) {
  const std::string fits = "1;a=" + std::string(BodyDecoder::kMaxChunkSizeLine - 7, 'v') + "\r\nx\r\n0\r\n\r\n";
  EXPECT_TRUE(DecodeChunked(fits).done);
  const std::string too_long = "1;a=" + std::string(BodyDecoder::kMaxChunkSizeLine, 'v') + "\r\nx\r\n0\r\n\r\n";
  EXPECT_TRUE(DecodeChunked(too_long).error);
  // Also without the line end ever arriving.
  EXPECT_TRUE(DecodeChunked("1;a=" + std::string(BodyDecoder::kMaxChunkSizeLine, 'v')).error);
}

TEST(BodyDecoder, MissingCrlfAfterChunkData) {
  ExpectChunkedError("3\r\nabcX\r\n0\r\n\r\n");
  ExpectChunkedError("3\r\nabc\rX0\r\n\r\n");
  ExpectChunkedError("3\r\nabc\n0\r\n\r\n");
  ExpectChunkedError("3\r\nabcd\r\n0\r\n\r\n");
}

TEST(BodyDecoder, BareLineEndsInFraming) {
  ExpectChunkedError("3\nabc\r\n0\r\n\r\n");
  ExpectChunkedError("3\rabc\r\n0\r\n\r\n");
  ExpectChunkedError("3\r\nabc\r\n0\n\r\n");
  ExpectChunkedError("3\r\nabc\r\n0\r\n\n");
  ExpectChunkedError("3\r\nabc\r\n0\r\nX: a\n\r\n");
  ExpectChunkedError("3\r\nabc\r\n0\r\nX: a\rb\r\n\r\n");
}

TEST(BodyDecoder, TrailersValidatedLikeHeaders) {
  ExpectChunkedError("0\r\n X: a\r\n\r\n");
  ExpectChunkedError("0\r\nX : a\r\n\r\n");
  ExpectChunkedError("0\r\n: a\r\n\r\n");
  ExpectChunkedError("0\r\nX: \x01\r\n\r\n");
  ExpectChunkedError("0\r\nContent-Length: 5\r\n\r\n");
  ExpectChunkedError("0\r\nTransfer-Encoding: chunked\r\n\r\n");
  BodyDecoder small(Chunked(), /*max_trailer_bytes=*/20);
  EXPECT_TRUE(Decode(small, "0\r\nX: " + std::string(30, 'a') + "\r\n\r\n").error);
  BodyDecoder small2(Chunked(), /*max_trailer_bytes=*/20);
  EXPECT_TRUE(Decode(small2, "0\r\nX: " + std::string(30, 'a')).error);  // no line end yet
}

TEST(BodyDecoder, NullInputMeansNeedMore) {
  BodyDecoder decoder(Chunked());
  EXPECT_EQ(decoder.Next(std::string_view()).kind, BodyDecoder::Step::kNeedMore);
  ASSERT_EQ(decoder.Next("0\r\n").kind, BodyDecoder::Step::kNeedMore);
  EXPECT_EQ(decoder.Next(std::string_view()).kind, BodyDecoder::Step::kNeedMore);  // in the trailers
}

TEST(BodyDecoder, TruncatedChunkedBody) {
  BodyDecoder decoder(Chunked());
  Outcome o = Decode(decoder, "5\r\nhel");
  EXPECT_FALSE(o.done);
  EXPECT_FALSE(o.error);
  decoder.FinishAtEof();
  EXPECT_EQ(decoder.Next("").kind, BodyDecoder::Step::kError);
}

TEST(BodyDecoder, ContentLength) {
  BodyDecoder decoder(BodyFraming{BodyFraming::kContentLength, 5});
  EXPECT_EQ(decoder.Next("").kind, BodyDecoder::Step::kNeedMore);
  BodyDecoder::Step step = decoder.Next("hel");
  ASSERT_EQ(step.kind, BodyDecoder::Step::kData);
  EXPECT_EQ(step.data, "hel");
  step = decoder.Next("loGET /");
  ASSERT_EQ(step.kind, BodyDecoder::Step::kData);
  EXPECT_EQ(step.data, "lo");
  EXPECT_EQ(step.consumed, 2u);
  EXPECT_TRUE(decoder.done());
  EXPECT_EQ(decoder.Next("GET /").kind, BodyDecoder::Step::kDone);
  EXPECT_EQ(decoder.payload_bytes(), 5u);
}

TEST(BodyDecoder, ContentLengthTruncated) {
  BodyDecoder decoder(BodyFraming{BodyFraming::kContentLength, 5});
  ASSERT_EQ(decoder.Next("he").kind, BodyDecoder::Step::kData);
  decoder.FinishAtEof();
  EXPECT_EQ(decoder.Next("").kind, BodyDecoder::Step::kError);
}

TEST(BodyDecoder, EmptyBodies) {
  BodyDecoder none(BodyFraming{});
  EXPECT_TRUE(none.done());
  EXPECT_EQ(none.Next("GET /").kind, BodyDecoder::Step::kDone);
  BodyDecoder zero(BodyFraming{BodyFraming::kContentLength, 0});
  EXPECT_EQ(zero.Next("x").kind, BodyDecoder::Step::kDone);
  zero.FinishAtEof();
  EXPECT_EQ(zero.Next("").kind, BodyDecoder::Step::kDone);
}

TEST(BodyDecoder, UntilClose) {
  BodyDecoder decoder(BodyFraming{BodyFraming::kUntilClose, 0});
  EXPECT_EQ(decoder.Next("").kind, BodyDecoder::Step::kNeedMore);
  EXPECT_EQ(decoder.Next("abc").data, "abc");
  decoder.FinishAtEof();
  EXPECT_FALSE(decoder.done());
  EXPECT_EQ(decoder.Next("de").data, "de");  // bytes that arrived before the close
  EXPECT_EQ(decoder.Next("").kind, BodyDecoder::Step::kDone);
  EXPECT_TRUE(decoder.done());
  EXPECT_EQ(decoder.payload_bytes(), 5u);
}

}  // namespace
}  // namespace sluice::http1
