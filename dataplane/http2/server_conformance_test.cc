// RFC 9113 conformance of ServerConnection, from raw client frames: the
// cases the frame-header pre-check adds in front of nghttp2 (stream states,
// stream ids, PRIORITY, the preface) and the malformed requests that must
// never become a request (OnRequest) for the proxy to forward.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dataplane/http2/server_connection.h"
#include "test/support/h2_frames.h"

namespace sluice::http2 {
namespace {

using namespace testing::h2;  // FrameBytes, U32, frame types and flags

std::string Literal(std::string_view name, std::string_view value) { return HpackLiteral(name, value); }

std::string Request(std::string_view path = "/", std::string_view method = "GET", std::string_view scheme = "http") {
  return Literal(":method", method) + Literal(":scheme", scheme) + Literal(":authority", "a.test") +
         Literal(":path", path);
}

struct OutFrame {
  uint8_t type;
  uint8_t flags;
  uint32_t stream;
  uint32_t code;  // RST_STREAM / GOAWAY error code
};

std::vector<OutFrame> Frames(std::string_view w) {
  std::vector<OutFrame> frames;
  while (w.size() >= 9) {
    auto b = [&](size_t i) { return static_cast<uint8_t>(w[i]); };
    size_t len = (b(0) << 16) | (b(1) << 8) | b(2);
    OutFrame f{b(3), b(4), static_cast<uint32_t>(((b(5) & 0x7f) << 24) | (b(6) << 16) | (b(7) << 8) | b(8)), 0};
    if (f.type == kRstStream && len >= 4) f.code = (b(9) << 24) | (b(10) << 16) | (b(11) << 8) | b(12);
    if (f.type == kGoaway && len >= 8) f.code = (b(13) << 24) | (b(14) << 16) | (b(15) << 8) | b(16);
    frames.push_back(f);
    w.remove_prefix(9 + std::min(len, w.size() - 9));
  }
  return frames;
}

class Recorder : public ServerEvents {
 public:
  void OnRequest(ServerStream* stream, http::RequestHead&& head, bool) override {
    requests.push_back(head.method + " " + head.path + " @" + head.authority);
    last_fields.clear();
    for (const http::Header& h : head.headers.entries()) last_fields += h.name + ": " + h.value + "\n";
    request_streams.push_back(stream->id());
    last_stream = stream;
    if (respond) {
      http::ResponseHead response;
      response.status = 200;
      conn->SubmitResponse(stream, std::move(response), true);
    }
  }
  void OnRequestData(ServerStream*, std::string_view data) override { body += data; }
  void OnRequestEnd(ServerStream*, const http::HeaderMap*) override { ++ended; }
  void OnStreamClosed(ServerStream* stream, uint32_t) override { closed_bytes.push_back(stream->response_bytes_sent()); }
  void OnResponseWritable(ServerStream*) override {}
  std::vector<std::string> requests;
  std::string last_fields;  // of the last request, "name: value\n" each
  std::vector<uint64_t> closed_bytes;  // response bytes sent, per stream closed
  std::vector<int32_t> request_streams;
  std::string body;
  ServerStream* last_stream = nullptr;
  int ended = 0;
  bool respond = false;  // answer 200 with an empty body at once
  ServerConnection* conn = nullptr;
};

class Conformance : public ::testing::Test {
 protected:
  Conformance() : conn_(ServerOptions(), &events_) {
    conn_.Start();
    ok_ = Send(std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + FrameBytes(kSettings, 0, 0, "") +
               FrameBytes(kSettings, 1, 0, ""));
    Out();
  }
  // Feeds `bytes` (in pieces of `chunk` bytes when nonzero); false once
  // the connection failed.
  bool Send(std::string_view bytes, size_t chunk = 0) {
    if (chunk == 0) chunk = bytes.size();
    while (!bytes.empty()) {
      size_t k = std::min(chunk, bytes.size());
      if (!conn_.Receive(bytes.substr(0, k), 0).ok()) return false;
      bytes.remove_prefix(k);
    }
    return true;
  }
  std::vector<OutFrame> Out() {
    net::Buffer out;
    EXPECT_TRUE(conn_.SendPending(out, 1 << 20).ok());
    return Frames(out.view());
  }
  // The error code of the first GOAWAY (or RST_STREAM on `stream`) sent, -1 if none.
  static int64_t Goaway(const std::vector<OutFrame>& frames) {
    for (const OutFrame& f : frames) {
      if (f.type == kGoaway) return f.code;
    }
    return -1;
  }
  static int64_t Reset(const std::vector<OutFrame>& frames, uint32_t stream) {
    for (const OutFrame& f : frames) {
      if (f.type == kRstStream && f.stream == stream) return f.code;
    }
    return -1;
  }
  static bool Has(const std::vector<OutFrame>& frames, uint8_t type, uint32_t stream) {
    for (const OutFrame& f : frames) {
      if (f.type == type && f.stream == stream) return true;
    }
    return false;
  }

  Recorder events_;
  ServerConnection conn_;
  bool ok_ = false;
};

TEST_F(Conformance, DataAfterClientResetIsStreamClosed) {
  ASSERT_TRUE(ok_);
  // Separately and in one read (nghttp2 must see the RST_STREAM first).
  for (size_t chunk : {size_t{0}, size_t{1}}) {
    Recorder events;
    ServerConnection conn(ServerOptions(), &events);
    conn.Start();
    std::string in = std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + FrameBytes(kSettings, 0, 0, "") +
                     FrameBytes(kHeaders, kEndHeaders, 1, Request("/", "POST")) +
                     FrameBytes(kRstStream, 0, 1, U32(kCancel)) + FrameBytes(kData, kEndStream, 1, "test");
    bool ok = true;
    std::string_view rest = in;
    size_t step = chunk == 0 ? rest.size() : chunk;
    while (ok && !rest.empty()) {
      size_t k = std::min(step, rest.size());
      ok = conn.Receive(rest.substr(0, k), 0).ok();
      rest.remove_prefix(k);
    }
    EXPECT_FALSE(ok) << chunk;
    net::Buffer out;
    conn.SendPending(out, 1 << 20);
    std::string_view w = out.view();
    bool goaway_stream_closed = false, window_update = false;
    while (w.size() >= 9) {
      size_t len = (uint8_t(w[0]) << 16) | (uint8_t(w[1]) << 8) | uint8_t(w[2]);
      if (w[3] == kGoaway) goaway_stream_closed = uint8_t(w[16]) == kStreamClosed;
      if (w[3] == kWindowUpdate) window_update = true;
      w.remove_prefix(9 + len);
    }
    EXPECT_TRUE(goaway_stream_closed) << chunk;
    EXPECT_FALSE(window_update) << chunk;
    EXPECT_EQ(events.body, "") << chunk;
  }
}

TEST_F(Conformance, HeadersAfterClientResetIsStreamClosed) {
  ASSERT_TRUE(ok_);
  EXPECT_FALSE(Send(FrameBytes(kHeaders, kEndHeaders, 1, Request("/", "POST")) +
                    FrameBytes(kRstStream, 0, 1, U32(kCancel)) +
                    FrameBytes(kHeaders, kEndHeaders | kEndStream, 1, Request())));
  EXPECT_EQ(Goaway(Out()), kStreamClosed);
}

TEST_F(Conformance, DataAndHeadersOnAStreamClosedNormallyAreStreamClosed) {
  for (uint8_t type : {kData, kHeaders}) {
    Recorder events;
    events.respond = true;
    ServerConnection conn(ServerOptions(), &events);
    events.conn = &conn;
    conn.Start();
    ASSERT_TRUE(conn.Receive(std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + FrameBytes(kSettings, 0, 0, "") +
                                 FrameBytes(kHeaders, kEndHeaders | kEndStream, 1, Request()),
                             0)
                    .ok());
    ASSERT_EQ(events.request_streams.size(), 1u);
    net::Buffer out;
    ASSERT_TRUE(conn.SendPending(out, 1 << 20).ok());  // the response ends the stream
    EXPECT_EQ(conn.open_streams(), 0u);
    std::string late = type == kData ? FrameBytes(kData, kEndStream, 1, "late")
                                     : FrameBytes(kHeaders, kEndHeaders | kEndStream, 1, Request());
    EXPECT_FALSE(conn.Receive(late, 0).ok()) << int(type);
    out.Consume(out.size());
    conn.SendPending(out, 1 << 20);
    std::string_view w = out.view();
    ASSERT_GE(w.size(), 17u);
    EXPECT_EQ(w[3], kGoaway);
    EXPECT_EQ(uint8_t(w[16]), kStreamClosed) << int(type);
  }
}

// Frames on a stream we reset may have been in flight: ignored, as before.
TEST_F(Conformance, LateFramesOnStreamsWeResetAreIgnored) {
  ASSERT_TRUE(ok_);
  ASSERT_TRUE(Send(FrameBytes(kHeaders, kEndHeaders, 1, Request("/", "POST"))));
  ASSERT_EQ(events_.request_streams.size(), 1u);
  ASSERT_NE(events_.last_stream, nullptr);
  conn_.ResetStream(events_.last_stream, kCancel);
  EXPECT_EQ(Reset(Out(), 1), kCancel);
  EXPECT_TRUE(Send(FrameBytes(kData, 0, 1, "in flight") + FrameBytes(kHeaders, kEndHeaders | kEndStream, 1,
                                                                      Literal("x-trailer", "1"))));
  EXPECT_EQ(Goaway(Out()), -1);
  // And the connection goes on.
  EXPECT_TRUE(Send(FrameBytes(kHeaders, kEndHeaders | kEndStream, 3, Request())));
  EXPECT_EQ(events_.request_streams.size(), 2u);
}

// A stream refused over the concurrency limit (before our SETTINGS were
// acknowledged) may have DATA in flight too.
TEST(ConformanceRefused, DataOnARefusedStreamIsIgnored) {
  Recorder events;
  ServerOptions options;
  options.max_concurrent_streams = 1;
  ServerConnection conn(options, &events);
  conn.Start();
  EXPECT_TRUE(conn.Receive(std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + FrameBytes(kSettings, 0, 0, "") +
                               FrameBytes(kHeaders, kEndHeaders, 1, Request("/", "POST")) +
                               FrameBytes(kHeaders, kEndHeaders, 3, Request("/", "POST")) +
                               FrameBytes(kData, kEndStream, 3, "refused body"),
                           0)
                  .ok());
  net::Buffer out;
  conn.SendPending(out, 1 << 20);
  EXPECT_EQ(events.request_streams, std::vector<int32_t>{1});
  EXPECT_TRUE(conn.Alive());
  bool refused = false;
  for (const OutFrame& f : Frames(out.view())) {
    EXPECT_NE(f.type, kGoaway);
    if (f.type == kRstStream && f.stream == 3) refused = f.code == kRefusedStream;
  }
  EXPECT_TRUE(refused);
}

TEST_F(Conformance, HeadersOnALowerStreamIdIsProtocolError) {
  ASSERT_TRUE(ok_);
  EXPECT_FALSE(Send(FrameBytes(kHeaders, kEndHeaders | kEndStream, 5, Request()) +
                    FrameBytes(kHeaders, kEndHeaders | kEndStream, 3, Request())));
  EXPECT_EQ(Goaway(Out()), kProtocolError);
  EXPECT_EQ(events_.request_streams, std::vector<int32_t>{5});
}

TEST_F(Conformance, PrioritySelfDependencyIsProtocolError) {
  ASSERT_TRUE(ok_);
  EXPECT_FALSE(Send(FrameBytes(kPriority, 0, 1, U32(1) + std::string(1, '\x0f')), 3));
  EXPECT_EQ(Goaway(Out()), kProtocolError);
}

TEST_F(Conformance, PriorityOnStreamZeroIsProtocolError) {
  ASSERT_TRUE(ok_);
  EXPECT_FALSE(Send(FrameBytes(kPriority, 0, 0, U32(1) + std::string(1, '\x0f'))));
  EXPECT_EQ(Goaway(Out()), kProtocolError);
}

TEST_F(Conformance, OrdinaryPriorityFramesAreStillFine) {
  ASSERT_TRUE(ok_);
  EXPECT_TRUE(Send(FrameBytes(kPriority, 0, 3, U32(1) + std::string(1, '\x0f')) +
                   FrameBytes(kHeaders, kEndHeaders | kEndStream, 1, Request())));
  EXPECT_EQ(Goaway(Out()), -1);
  EXPECT_EQ(events_.request_streams.size(), 1u);
}

TEST_F(Conformance, InvalidPrefaceGetsGoawayProtocolError) {
  Recorder events;
  ServerConnection conn(ServerOptions(), &events);
  conn.Start();
  EXPECT_FALSE(conn.Receive("PRI * HTTP/2.0\r\n\r\nSM\r\n\rQ", 0).ok());
  net::Buffer out;
  conn.SendPending(out, 1 << 20);
  std::string_view w = out.view();
  bool goaway = false;
  while (w.size() >= 9) {
    size_t len = (uint8_t(w[0]) << 16) | (uint8_t(w[1]) << 8) | uint8_t(w[2]);
    if (w[3] == kGoaway) goaway = uint8_t(w[16]) == kProtocolError;
    w.remove_prefix(9 + len);
  }
  EXPECT_TRUE(goaway);
  EXPECT_FALSE(conn.Alive());
}

}  // namespace
}  // namespace sluice::http2

namespace sluice::http2 {
namespace {

// Requests that smuggle through HTTP/2-to-HTTP/1.1 downgrades elsewhere:
// each gets a stream error (RST_STREAM PROTOCOL_ERROR) or a 400 and never
// becomes a request for the owner to forward; the connection goes on.
TEST_F(Conformance, MalformedRequestsNeverReachTheOwner) {
  ASSERT_TRUE(ok_);
  const std::string base = Request("/ok");
  struct Case {
    const char* name;
    std::string block;
    int status;  // 0: RST_STREAM PROTOCOL_ERROR expected
  };
  const std::vector<Case> cases = {
      {"transfer-encoding", base + Literal("transfer-encoding", "chunked"), 0},
      {"connection", base + Literal("connection", "keep-alive"), 0},
      {"keep-alive", base + Literal("keep-alive", "1"), 0},
      {"upgrade", base + Literal("upgrade", "websocket"), 0},
      {"uppercase name", base + Literal("X-Smuggle", "1"), 0},
      {"space in name", base + Literal("x smuggle", "1"), 0},
      {"colon in name", base + Literal("x:smuggle", "1"), 0},
      {"CR in value", base + Literal("x-a", "1\rx-b: 2"), 0},
      {"LF in value", base + Literal("x-a", "1\nx-b: 2"), 0},
      {"NUL in value", base + Literal("x-a", std::string("1\0" "2", 3)), 0},
      {"leading space in value", base + Literal("x-a", " 1"), 0},
      {"trailing tab in value", base + Literal("x-a", "1\t"), 0},
      {"path without slash", Request("ok"), 0},
      {"path without slash, other scheme", Request("ok", "GET", "foo"), 0},
      {"asterisk path for GET", Request("*"), 0},
      {"empty path", Request(""), 0},
      {"CONNECT with :path", Literal(":method", "CONNECT") + Literal(":authority", "a.test:443") +
                                 Literal(":path", "/"), 0},
      {"duplicate :path", base + Literal(":path", "/other"), 0},
      {"duplicate :method", Literal(":method", "GET") + base, 0},
      {"pseudo after regular", Literal(":method", "GET") + Literal(":scheme", "http") + Literal("x-a", "1") +
                                   Literal(":authority", "a.test") + Literal(":path", "/"), 0},
      {"unknown pseudo", base + Literal(":protocol", "websocket"), 0},
      {"te gzip", base + Literal("te", "gzip"), 0},
      {"te trailers, gzip", base + Literal("te", "trailers, gzip"), 0},
      {"host other than :authority", base + Literal("host", "other.test"), 400},
  };
  uint32_t id = 1;
  for (const Case& c : cases) {
    size_t before = events_.requests.size();
    ASSERT_TRUE(Send(FrameBytes(kHeaders, kEndHeaders | kEndStream, id, c.block))) << c.name;
    std::vector<OutFrame> out = Out();
    EXPECT_EQ(events_.requests.size(), before) << c.name << ": reached the owner as " << events_.requests.back();
    EXPECT_EQ(Goaway(out), -1) << c.name;
    if (c.status == 0) {
      EXPECT_EQ(Reset(out, id), kProtocolError) << c.name;
    } else {
      EXPECT_TRUE(Has(out, kHeaders, id)) << c.name;
    }
    id += 2;
  }
  // The well-formed neighbours are served: te trailers, OPTIONS *, a Host
  // equal to :authority (case aside).
  for (const std::string& block : {base + Literal("te", "trailers"), Request("*", "OPTIONS"),
                                   base + Literal("host", "A.Test")}) {
    ASSERT_TRUE(Send(FrameBytes(kHeaders, kEndHeaders | kEndStream, id, block)));
    EXPECT_EQ(Reset(Out(), id), -1);
    id += 2;
  }
  EXPECT_EQ(events_.requests, (std::vector<std::string>{"GET /ok @a.test", "OPTIONS * @a.test", "GET /ok @a.test"}));
}

// content-length is checked against the DATA frames: the head was already
// handed on (the exchange starts at once), but the body never completes and
// the stream is reset, so no upstream gets a whole request.
TEST_F(Conformance, ContentLengthDisagreeingWithDataResetsTheStream) {
  ASSERT_TRUE(ok_);
  ASSERT_TRUE(Send(FrameBytes(kHeaders, kEndHeaders, 1, Request("/", "POST") + Literal("content-length", "2")) +
                   FrameBytes(kData, kEndStream, 1, "more than two")));
  EXPECT_EQ(Reset(Out(), 1), kProtocolError);
  EXPECT_EQ(events_.body, "");  // none of the excess was delivered
  ASSERT_TRUE(Send(FrameBytes(kHeaders, kEndHeaders, 3, Request("/", "POST") + Literal("content-length", "100")) +
                   FrameBytes(kData, kEndStream, 3, "short")));
  EXPECT_EQ(Reset(Out(), 3), kProtocolError);
  EXPECT_EQ(events_.ended, 0);
}

}  // namespace
}  // namespace sluice::http2

namespace sluice::http2 {
namespace {

// The pre-check reads frame headers as the bytes come: the same outcome
// whatever the read boundaries (whole, byte by byte, odd sizes that split
// headers and PRIORITY payloads).
class Chunked : public ::testing::TestWithParam<size_t> {
 protected:
  // Feeds `reads` one after another (each cut into GetParam()-byte pieces);
  // returns the GOAWAY code (-1: none) and the frames sent.
  int64_t Run(const std::vector<std::string>& reads, std::vector<OutFrame>* frames = nullptr) {
    events_.respond = respond_;
    ServerConnection conn(ServerOptions(), &events_);
    events_.conn = &conn;
    conn.Start();
    std::vector<OutFrame> all;
    bool ok = true;
    std::vector<std::string> with_preface = reads;
    with_preface.insert(with_preface.begin(), std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") +
                                                  FrameBytes(kSettings, 0, 0, "") + FrameBytes(kSettings, 1, 0, ""));
    for (const std::string& read : with_preface) {
      std::string_view rest = read;
      size_t step = GetParam() == 0 ? rest.size() : GetParam();
      while (ok && !rest.empty()) {
        size_t k = std::min(step, rest.size());
        ok = conn.Receive(rest.substr(0, k), 0).ok();
        rest.remove_prefix(k);
      }
      net::Buffer out;
      conn.SendPending(out, 1 << 20);
      for (const OutFrame& f : Frames(out.view())) all.push_back(f);
      if (!ok) break;
    }
    if (frames != nullptr) *frames = all;
    for (const OutFrame& f : all) {
      if (f.type == kGoaway) return f.code;
    }
    return -1;
  }
  Recorder events_;
  bool respond_ = false;
};

TEST_P(Chunked, ViolationsAreFoundAcrossReadBoundaries) {
  const std::string post1 = FrameBytes(kHeaders, kEndHeaders, 1, Request("/", "POST"));
  EXPECT_EQ(Run({post1 + FrameBytes(kRstStream, 0, 1, U32(kCancel)) + FrameBytes(kData, kEndStream, 1, "x")}),
            kStreamClosed);
  EXPECT_EQ(Run({post1 + FrameBytes(kData, 0, 1, "a"), FrameBytes(kRstStream, 0, 1, U32(kCancel)),
                 FrameBytes(kData, kEndStream, 1, "x")}),
            kStreamClosed);
  EXPECT_EQ(Run({post1 + FrameBytes(kRstStream, 0, 1, U32(kCancel)) +
                 FrameBytes(kHeaders, kEndHeaders | kEndStream, 1, Request())}),
            kStreamClosed);
  EXPECT_EQ(Run({FrameBytes(kHeaders, kEndHeaders | kEndStream, 5, Request()) +
                 FrameBytes(kHeaders, kEndHeaders | kEndStream, 3, Request())}),
            kProtocolError);
  EXPECT_EQ(Run({FrameBytes(kPriority, 0, 7, U32(7) + std::string(1, '\x10'))}), kProtocolError);
  EXPECT_EQ(Run({FrameBytes(kPriority, 0, 0, U32(3) + std::string(1, '\x10'))}), kProtocolError);
  // DATA after the client's END_STREAM on a stream still open (no answer
  // yet): nghttp2's own STREAM_CLOSED, a connection error too.
  EXPECT_EQ(Run({post1 + FrameBytes(kData, 0, 1, "a"), FrameBytes(kData, kEndStream, 1, "b"),
                 FrameBytes(kData, 0, 1, "c")}),
            kStreamClosed);
}

TEST_P(Chunked, PipelinedUploadsAndTrailersPass) {
  respond_ = true;
  std::string read;
  for (uint32_t id = 1; id < 40; id += 2) {
    read += FrameBytes(kHeaders, kEndHeaders, id, Request("/", "POST")) + FrameBytes(kData, 0, id, "ab");
    read += FrameBytes(kPriority, 0, id, U32(0) + std::string(1, '\x10'));
  }
  for (uint32_t id = 1; id < 40; id += 2) {
    read += id % 4 == 1 ? FrameBytes(kData, kEndStream, id, "c")
                        : FrameBytes(kHeaders, kEndHeaders | kEndStream, id, Literal("x-trailer", "1"));
  }
  std::vector<OutFrame> frames;
  EXPECT_EQ(Run({read}, &frames), -1);
  EXPECT_EQ(events_.requests.size(), 20u);
  EXPECT_EQ(events_.ended, 20);
  EXPECT_EQ(events_.body.size(), 20u * 2 + 10);
  for (const OutFrame& f : frames) EXPECT_NE(f.type, kRstStream) << f.stream;
}

INSTANTIATE_TEST_SUITE_P(Reads, Chunked, ::testing::Values(0, 1, 5, 10, 13));

// Closed streams are recycled (a per-thread spare list, reset member by
// member): one that ended refused (a 400, its head never handed on, its
// flags set) must serve the next request exactly like a new stream.
TEST_F(Conformance, ARecycledStreamStartsClean) {
  ASSERT_TRUE(ok_);
  ASSERT_TRUE(Send(FrameBytes(kHeaders, kEndHeaders | kEndStream, 1,
                              Request("/refused") + Literal("x-old", "1") + Literal("host", "other.test"))));
  ASSERT_TRUE(Has(Out(), kHeaders, 1));  // the 400 ends the stream: it is recycled
  ASSERT_TRUE(events_.requests.empty());
  ASSERT_TRUE(Send(FrameBytes(kHeaders, kEndHeaders | kEndStream, 3, Request("/next") + Literal("x-new", "2"))));
  ASSERT_EQ(events_.requests, (std::vector<std::string>{"GET /next @a.test"}));
  EXPECT_EQ(events_.last_fields, "x-new: 2\n");
  ServerStream* stream = events_.last_stream;
  EXPECT_FALSE(stream->response_submitted());
  EXPECT_EQ(stream->buffered_response_bytes(), 0u);
  http::ResponseHead head;
  head.status = 200;
  conn_.SubmitResponse(stream, std::move(head), false);
  conn_.AppendResponseData(stream, "hello");
  conn_.EndResponse(stream, nullptr);
  std::vector<OutFrame> out = Out();
  EXPECT_TRUE(Has(out, kHeaders, 3));
  EXPECT_TRUE(Has(out, kData, 3));
  EXPECT_EQ(Reset(out, 3), -1);
  EXPECT_EQ(events_.closed_bytes, (std::vector<uint64_t>{5}));
}

}  // namespace
}  // namespace sluice::http2
