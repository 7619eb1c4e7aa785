// The server and client wrappers talking to each other in memory: every
// byte one side frames is fed to the other, as a socket would.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "dataplane/http2/client_connection.h"
#include "dataplane/http2/header_names.h"
#include "dataplane/http2/server_connection.h"
#include "dataplane/http2/session_memory.h"

namespace sluice::http2 {
namespace {

// nghttp2 keeps what it stores in blocks from SessionMemory(): contents must
// survive realloc across the size classes and beyond them, and a block
// freed and handed out again must be usable for its full size.
TEST(SessionMemory, KeepsContentsAcrossReallocAndReuse) {
  nghttp2_mem* mem = SessionMemory();
  auto fill = [](void* p, size_t n, char seed) {
    for (size_t i = 0; i < n; ++i) static_cast<char*>(p)[i] = static_cast<char>(seed + i * 7);
  };
  auto same = [](const void* p, size_t n, char seed) {
    for (size_t i = 0; i < n; ++i) {
      if (static_cast<const char*>(p)[i] != static_cast<char>(seed + i * 7)) return false;
    }
    return true;
  };
  const size_t sizes[] = {1, 17, 64, 65, 200, 512, 1000, 2048, 2049, 5000, 70000};
  for (size_t from : sizes) {
    for (size_t to : sizes) {
      void* p = mem->malloc(from, mem->mem_user_data);
      ASSERT_NE(p, nullptr);
      fill(p, from, 3);
      void* q = mem->realloc(p, to, mem->mem_user_data);
      ASSERT_NE(q, nullptr);
      EXPECT_TRUE(same(q, std::min(from, to), 3)) << from << " -> " << to;
      fill(q, to, 5);  // the whole new size is ours
      EXPECT_TRUE(same(q, to, 5));
      mem->free(q, mem->mem_user_data);
    }
  }
  // Recycled blocks come back zeroed through calloc, at any size.
  std::vector<void*> blocks;
  for (size_t n : sizes) {
    void* p = mem->malloc(n, mem->mem_user_data);
    fill(p, n, 9);
    blocks.push_back(p);
  }
  for (void* p : blocks) mem->free(p, mem->mem_user_data);
  for (size_t n : sizes) {
    auto* p = static_cast<unsigned char*>(mem->calloc(1, n, mem->mem_user_data));
    ASSERT_NE(p, nullptr);
    size_t nonzero = 0;
    for (size_t i = 0; i < n; ++i) nonzero += p[i] != 0;
    EXPECT_EQ(nonzero, 0u) << n;
    mem->free(p, mem->mem_user_data);
  }
  mem->free(nullptr, mem->mem_user_data);
}

// Answers every request with its path and body echoed, plus a trailer.
class EchoServer : public ServerEvents {
 public:
  explicit EchoServer(const ServerOptions& options) : conn(options, this) { conn.Start(); }
  void OnRequest(ServerStream* stream, http::RequestHead&& head, bool end_stream) override {
    stream->user = this;
    bodies[stream->id()] = "path=" + head.path + " authority=" + head.authority + " body=";
    if (end_stream) Answer(stream);
  }
  void OnRequestData(ServerStream* stream, std::string_view data) override {
    bodies[stream->id()] += std::string(data);
    conn.ConsumeRequestData(stream, data.size());
  }
  void OnRequestEnd(ServerStream* stream, const http::HeaderMap*) override { Answer(stream); }
  void OnStreamClosed(ServerStream*, uint32_t code) override { closed_codes.push_back(code); }
  void OnResponseWritable(ServerStream*) override {}
  void Answer(ServerStream* stream) {
    http::ResponseHead head;
    head.headers.Add("content-type", "text/plain");
    conn.SubmitResponse(stream, head, false);
    conn.AppendResponseData(stream, bodies[stream->id()]);
    http::HeaderMap trailers;
    trailers.Add("grpc-status", "0");
    conn.EndResponse(stream, &trailers);
  }
  ServerConnection conn;
  std::map<int32_t, std::string> bodies;
  std::vector<uint32_t> closed_codes;
};

class Recorder : public ClientStreamEvents {
 public:
  void OnResponseHead(http::ResponseHead head, bool end) override {
    status = head.status;
    ended = end;
  }
  void OnResponseData(std::string_view data) override { body += std::string(data); }
  void OnResponseEnd(const http::HeaderMap* t) override {
    ended = true;
    if (t != nullptr) trailers = *t;
  }
  void OnStreamReset(uint32_t code) override { reset_code = static_cast<int>(code); }
  void OnRequestWritable() override {}
  int status = 0;
  bool ended = false;
  std::string body;
  http::HeaderMap trailers;
  int reset_code = -1;
};

// Moves bytes both ways until neither side has anything to say.
void Pump(ClientConnection& client, ServerConnection& server, bool* server_failed = nullptr) {
  for (int i = 0; i < 100; ++i) {
    net::Buffer a, b;
    ASSERT_TRUE(client.SendPending(a, 1 << 20).ok());
    if (!a.empty()) {
      Status s = server.Receive(a.view(), i);
      if (!s.ok() && server_failed != nullptr) *server_failed = true;
    }
    ASSERT_TRUE(server.SendPending(b, 1 << 20).ok());
    if (!b.empty()) (void)client.Receive(b.view());
    if (a.empty() && b.empty()) return;
  }
}

std::vector<nghttp2_nv> Get(const std::string& path, std::vector<std::pair<std::string, std::string>>* storage) {
  storage->insert(storage->begin(), {{":method", "GET"}, {":scheme", "http"}, {":authority", "example.test"}, {":path", path}});
  std::vector<nghttp2_nv> nv;
  for (auto& [n, v] : *storage) nv.push_back(MakeNv(n, v));
  return nv;
}

TEST(Http2Test, RequestResponseWithBodyAndTrailers) {
  EchoServer server{ServerOptions{}};
  ClientConnection client{ClientOptions{}};
  client.Start();
  Recorder rec;
  std::vector<std::pair<std::string, std::string>> storage;
  auto nv = Get("/hello", &storage);
  nv[0] = MakeNv(":method", "POST");
  ClientStream* stream = client.SubmitRequest(nv.data(), nv.size(), false, &rec);
  ASSERT_NE(stream, nullptr);
  client.AppendRequestData(stream, "abc");
  client.EndRequest(stream);
  Pump(client, server.conn);
  EXPECT_EQ(rec.status, 200);
  EXPECT_TRUE(rec.ended);
  EXPECT_EQ(rec.body, "path=/hello authority=example.test body=abc");
  ASSERT_NE(rec.trailers.Get("grpc-status"), nullptr);
  EXPECT_EQ(*rec.trailers.Get("grpc-status"), "0");
}

TEST(Http2Test, OversizedHeaderListGets431AndOtherStreamsGoOn) {
  ServerOptions options;
  options.max_header_list_bytes = 4096;
  EchoServer server{options};
  ClientConnection client{ClientOptions{}};
  client.Start();
  Recorder big, small;
  std::vector<std::pair<std::string, std::string>> s1 = {{"x-big", std::string(8000, 'a')}};
  auto nv1 = Get("/big", &s1);
  std::vector<std::pair<std::string, std::string>> s2;
  auto nv2 = Get("/small", &s2);
  client.SubmitRequest(nv1.data(), nv1.size(), true, &big);
  client.SubmitRequest(nv2.data(), nv2.size(), true, &small);
  bool failed = false;
  Pump(client, server.conn, &failed);
  EXPECT_FALSE(failed);
  EXPECT_EQ(big.status, 431);
  EXPECT_EQ(small.status, 200);
  EXPECT_EQ(small.body, "path=/small authority=example.test body=");
}

}  // namespace
}  // namespace sluice::http2
