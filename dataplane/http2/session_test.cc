// Sessions from NewSession talking to each other in memory, through the
// same pumps the connections use.
#include "dataplane/http2/session.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace sluice::http2 {
namespace {

// What one side's callbacks saw; reached through user_data.
struct Seen {
  std::vector<uint8_t> frame_types;
  size_t data_bytes = 0;
};

int RecordFrame(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  static_cast<Seen*>(user_data)->frame_types.push_back(frame->hd.type);
  return 0;
}

int RecordData(nghttp2_session*, uint8_t, int32_t, const uint8_t*, size_t len, void* user_data) {
  static_cast<Seen*>(user_data)->data_bytes += len;  // never consumed: the window stays as it is
  return 0;
}

SessionCallbacks Recording() {
  SessionCallbacks callbacks;
  callbacks.on_frame_recv = &RecordFrame;
  callbacks.on_data_chunk_recv = &RecordData;
  return callbacks;
}

// Frame types in a run of whole frames, as written to the wire.
std::vector<uint8_t> FrameTypes(std::string_view wire, size_t skip_preface) {
  std::vector<uint8_t> types;
  size_t at = skip_preface;
  while (at + 9 <= wire.size()) {
    size_t length = (uint8_t(wire[at]) << 16) | (uint8_t(wire[at + 1]) << 8) | uint8_t(wire[at + 2]);
    types.push_back(static_cast<uint8_t>(wire[at + 3]));
    at += 9 + length;
  }
  return types;
}

struct SessionDeleter {
  void operator()(nghttp2_session* session) const { nghttp2_session_del(session); }
};
using SessionPtr = std::unique_ptr<nghttp2_session, SessionDeleter>;

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

TEST(Session, ClientAndServerExchangeSettingsAndReachUserData) {
  Seen client_seen, server_seen;
  SessionPtr client(NewSession(SessionSide::kClient, Recording(), SessionLimits(), &client_seen));
  SessionPtr server(NewSession(SessionSide::kServer, Recording(), SessionLimits(), &server_seen));
  ASSERT_NE(client, nullptr);
  ASSERT_NE(server, nullptr);
  ASSERT_EQ(nghttp2_submit_settings(client.get(), NGHTTP2_FLAG_NONE, nullptr, 0), 0);
  ASSERT_EQ(nghttp2_submit_settings(server.get(), NGHTTP2_FLAG_NONE, nullptr, 0), 0);
  std::string client_failure, server_failure;
  net::Buffer to_server, to_client;
  ASSERT_TRUE(DrainSession(client.get(), to_server, 1 << 20, client_failure).ok());
  EXPECT_EQ(to_server.view().substr(0, kPreface.size()), kPreface);
  ASSERT_TRUE(FeedSession(server.get(), to_server.view(), server_failure).ok());
  ASSERT_TRUE(DrainSession(server.get(), to_client, 1 << 20, server_failure).ok());
  ASSERT_TRUE(FeedSession(client.get(), to_client.view(), client_failure).ok());
  // Each side saw the other's SETTINGS (and the server, its ACK too).
  EXPECT_EQ(server_seen.frame_types, std::vector<uint8_t>{NGHTTP2_SETTINGS});
  EXPECT_EQ(client_seen.frame_types, (std::vector<uint8_t>{NGHTTP2_SETTINGS, NGHTTP2_SETTINGS}));
  EXPECT_TRUE(client_failure.empty());
  EXPECT_TRUE(server_failure.empty());
}

// Backpressure depends on it: bytes the receiver has not taken must not
// reopen the sender's window (nghttp2 would after half of it by default).
TEST(Session, ReceivedDataOpensNoWindowUntilConsumed) {
  Seen client_seen, server_seen;
  SessionPtr client(NewSession(SessionSide::kClient, Recording(), SessionLimits(), &client_seen));
  SessionPtr server(NewSession(SessionSide::kServer, Recording(), SessionLimits(), &server_seen));
  ASSERT_EQ(nghttp2_submit_settings(client.get(), NGHTTP2_FLAG_NONE, nullptr, 0), 0);
  ASSERT_EQ(nghttp2_submit_settings(server.get(), NGHTTP2_FLAG_NONE, nullptr, 0), 0);
  static const std::string body(60000, 'b');  // beyond half of the 65535-byte windows
  size_t body_sent = 0;
  nghttp2_data_provider provider;
  provider.source.ptr = &body_sent;
  provider.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                              nghttp2_data_source* source, void*) -> ssize_t {
    size_t& sent = *static_cast<size_t*>(source->ptr);
    size_t n = std::min(length, body.size() - sent);
    if (n == 0) return NGHTTP2_ERR_DEFERRED;  // the stream stays open, so its window counts too
    std::memcpy(buf, body.data() + sent, n);
    sent += n;
    (void)flags;
    return static_cast<ssize_t>(n);
  };
  const nghttp2_nv head[] = {
      {(uint8_t*)":method", (uint8_t*)"POST", 7, 4, NGHTTP2_NV_FLAG_NONE},
      {(uint8_t*)":scheme", (uint8_t*)"http", 7, 4, NGHTTP2_NV_FLAG_NONE},
      {(uint8_t*)":authority", (uint8_t*)"a", 10, 1, NGHTTP2_NV_FLAG_NONE},
      {(uint8_t*)":path", (uint8_t*)"/", 5, 1, NGHTTP2_NV_FLAG_NONE},
  };
  ASSERT_GT(nghttp2_submit_request(client.get(), nullptr, head, 4, &provider, nullptr), 0);
  std::string client_failure, server_failure;
  net::Buffer to_server;
  ASSERT_TRUE(DrainSession(client.get(), to_server, 1 << 20, client_failure).ok());
  ASSERT_TRUE(FeedSession(server.get(), to_server.view(), server_failure).ok());
  ASSERT_EQ(server_seen.data_bytes, body.size());
  net::Buffer to_client;
  ASSERT_TRUE(DrainSession(server.get(), to_client, 1 << 20, server_failure).ok());
  std::vector<uint8_t> types = FrameTypes(to_client.view(), 0);
  ASSERT_FALSE(types.empty());
  EXPECT_EQ(std::count(types.begin(), types.end(), NGHTTP2_WINDOW_UPDATE), 0);

  // Once the bytes are taken, the window reopens.
  nghttp2_session_consume(server.get(), 1, body.size());
  to_client.Consume(to_client.size());
  ASSERT_TRUE(DrainSession(server.get(), to_client, 1 << 20, server_failure).ok());
  types = FrameTypes(to_client.view(), 0);
  EXPECT_EQ(std::count(types.begin(), types.end(), NGHTTP2_WINDOW_UPDATE), 2);  // stream and connection
}

TEST(Session, PeerStreamLimitHoldsUntilPeerSettings) {
  Seen seen;
  for (uint32_t limit : {3u, 250u}) {
    SessionLimits limits;
    limits.peer_max_concurrent_streams = limit;
    SessionPtr client(NewSession(SessionSide::kClient, Recording(), limits, &seen));
    EXPECT_EQ(nghttp2_session_get_remote_settings(client.get(), NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS), limit);
  }
}

TEST(Session, DrainStopsAtTheLimitAndLeavesTheRest) {
  Seen seen;
  SessionPtr client(NewSession(SessionSide::kClient, Recording(), SessionLimits(), &seen));
  for (int i = 0; i < 4; ++i) ASSERT_EQ(nghttp2_submit_ping(client.get(), NGHTTP2_FLAG_NONE, nullptr), 0);
  std::string failure;
  net::Buffer out;
  ASSERT_TRUE(DrainSession(client.get(), out, 1, failure).ok());
  EXPECT_EQ(out.size(), kPreface.size());  // one chunk, then the limit holds
  EXPECT_NE(nghttp2_session_want_write(client.get()), 0);
  ASSERT_TRUE(DrainSession(client.get(), out, 1 << 20, failure).ok());
  std::vector<uint8_t> types = FrameTypes(out.view(), kPreface.size());
  EXPECT_EQ(std::count(types.begin(), types.end(), NGHTTP2_PING), 4);
  EXPECT_EQ(nghttp2_session_want_write(client.get()), 0);
}

TEST(Session, FeedKeepsTheFirstFailure) {
  Seen seen;
  SessionPtr server(NewSession(SessionSide::kServer, Recording(), SessionLimits(), &seen));
  SessionPtr other(NewSession(SessionSide::kServer, Recording(), SessionLimits(), &seen));
  std::string failure;
  Status first = FeedSession(server.get(), "GET / HTTP/1.1\r\nHost: a\r\n\r\n", failure);
  ASSERT_FALSE(first.ok());
  EXPECT_FALSE(failure.empty());
  EXPECT_EQ(first.message(), failure);
  failure = "the first cause";
  Status again = FeedSession(other.get(), "GET / HTTP/1.1\r\nHost: a\r\n\r\n", failure);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.message(), "the first cause");
  EXPECT_EQ(failure, "the first cause");
}

}  // namespace
}  // namespace sluice::http2
