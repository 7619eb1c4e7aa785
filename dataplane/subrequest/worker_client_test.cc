// WorkerClient against real fake upstreams on 127.0.0.1: the answer, the
// body cap, the timeout, cancellation by the Handle, a cluster that does
// not exist, fire-and-forget. The test thread runs the worker's loop.
#include "dataplane/subrequest/worker_client.h"

#include <gtest/gtest.h>

#include <optional>

#include "dataplane/snapshot/compiled_snapshot.h"
#include "test/support/fake_upstream.h"
#include "test/support/process.h"

namespace sluice::subrequest {
namespace {

using namespace std::chrono_literals;
using testing::FakeUpstream;

class WorkerClientTest : public ::testing::Test {
 protected:
  WorkerClientTest() : ctx_(&loop_, &config_) {}

  void UseUpstream(int port) {
    v1::Snapshot s;
    auto* cluster = s.add_clusters();
    cluster->set_name("auth/svc:80");
    auto* endpoint = cluster->add_endpoints();
    endpoint->set_address("127.0.0.1");
    endpoint->set_port(static_cast<uint32_t>(port));
    auto compiled = snapshot::Compile(s, "v1");
    ASSERT_TRUE(compiled.ok()) << compiled.status().message();
    ctx_.snapshot = *compiled;
  }
  // Runs the loop until Stop() or `limit` passes.
  void RunFor(std::chrono::milliseconds limit) {
    loop_.AddTimer(limit, [this] { loop_.Stop(); });
    loop_.Run();
  }
  Request Get(std::string path) {
    Request r;
    r.cluster = "auth/svc:80";
    r.path = std::move(path);
    r.authority = "auth.example";
    return r;
  }

  net::EventLoop loop_;
  proxy::ProxyConfig config_;
  proxy::WorkerContext ctx_;
};

TEST_F(WorkerClientTest, DeliversStatusHeadersAndBodyOnTheLoop) {
  FakeUpstream origin(FakeUpstream::Always(FakeUpstream::OkResponse("allowed", "X-User: ann\r\n")));
  UseUpstream(origin.port());
  WorkerClient client(&ctx_);
  std::optional<Response> got;
  Request request = Get("/check?x=1");
  request.headers.Add("x-original-url", "http://app/a");
  auto handle = client.Send(std::move(request), [&](Response&& r) {
    got = std::move(r);
    loop_.Stop();
  });
  EXPECT_FALSE(got.has_value());  // never from inside Send
  RunFor(5s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status, 200) << got->error;
  EXPECT_EQ(got->body, "allowed");
  ASSERT_NE(got->headers.Get("x-user"), nullptr);
  EXPECT_EQ(*got->headers.Get("x-user"), "ann");
  std::vector<std::string> heads = origin.request_heads();
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_EQ(heads[0].rfind("GET /check?x=1 HTTP/1.1\r\n", 0), 0u) << heads[0];
  EXPECT_NE(heads[0].find("host: auth.example\r\n"), std::string::npos) << heads[0];
  EXPECT_NE(heads[0].find("x-original-url: http://app/a\r\n"), std::string::npos) << heads[0];
  EXPECT_EQ(client.in_flight(), 0u);
}

TEST_F(WorkerClientTest, SendsABodyWithItsLength) {
  FakeUpstream origin(FakeUpstream::Always(FakeUpstream::OkResponse("ok")));
  UseUpstream(origin.port());
  WorkerClient client(&ctx_);
  std::optional<Response> got;
  Request request = Get("/mirror");
  request.method = "POST";
  request.body = "hello";
  auto handle = client.Send(std::move(request), [&](Response&& r) {
    got = std::move(r);
    loop_.Stop();
  });
  RunFor(5s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status, 200) << got->error;
  std::string received = origin.received(0);
  EXPECT_NE(received.find("content-length: 5\r\n\r\nhello"), std::string::npos) << received;
}

TEST_F(WorkerClientTest, KeepsAtMostTheCapOfTheBody) {
  FakeUpstream origin(FakeUpstream::Always(FakeUpstream::OkResponse(std::string(1000, 'a'))));
  UseUpstream(origin.port());
  WorkerClient client(&ctx_);
  std::optional<Response> got;
  Request request = Get("/");
  request.max_body_bytes = 100;
  auto handle = client.Send(std::move(request), [&](Response&& r) {
    got = std::move(r);
    loop_.Stop();
  });
  RunFor(5s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(got->body.size(), 100u);
  EXPECT_TRUE(got->truncated);
}

TEST_F(WorkerClientTest, TimesOut) {
  FakeUpstream origin(FakeUpstream::Silent());
  UseUpstream(origin.port());
  WorkerClient client(&ctx_);
  std::optional<Response> got;
  Request request = Get("/slow");
  request.timeout = 200ms;
  auto start = std::chrono::steady_clock::now();
  auto handle = client.Send(std::move(request), [&](Response&& r) {
    got = std::move(r);
    loop_.Stop();
  });
  RunFor(5s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status, 0);
  EXPECT_TRUE(got->timed_out) << got->error;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST_F(WorkerClientTest, DestroyingTheHandleCancels) {
  FakeUpstream origin(FakeUpstream::Silent());
  UseUpstream(origin.port());
  WorkerClient client(&ctx_);
  bool called = false;
  auto handle = client.Send(Get("/wait"), [&](Response&&) { called = true; });
  // Once the request reached the origin, the exchange "dies".
  std::function<void()> poll = [&] {
    if (origin.request_count() > 0) {
      handle.reset();
      loop_.AddTimer(100ms, [this] { loop_.Stop(); });
      return;
    }
    loop_.AddTimer(5ms, poll);
  };
  loop_.AddTimer(5ms, poll);
  RunFor(5s);
  EXPECT_EQ(handle, nullptr);
  EXPECT_FALSE(called);
  EXPECT_EQ(client.in_flight(), 0u);
  for (int i = 0; i < 200 && !origin.peer_closed(0); ++i) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(origin.peer_closed(0));  // the connection was closed, not pooled
}

TEST_F(WorkerClientTest, UnknownClusterFailsOnTheLoop) {
  FakeUpstream origin(FakeUpstream::Silent());
  UseUpstream(origin.port());
  WorkerClient client(&ctx_);
  std::optional<Response> got;
  Request request = Get("/");
  request.cluster = "nope/svc:1";
  auto handle = client.Send(std::move(request), [&](Response&& r) {
    got = std::move(r);
    loop_.Stop();
  });
  EXPECT_FALSE(got.has_value());
  RunFor(5s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status, 0);
  EXPECT_NE(got->error.find("no cluster"), std::string::npos) << got->error;
}

TEST_F(WorkerClientTest, ConnectionRefusedIsAnError) {
  UseUpstream(testing::FreePort());
  WorkerClient client(&ctx_);
  std::optional<Response> got;
  auto handle = client.Send(Get("/"), [&](Response&& r) {
    got = std::move(r);
    loop_.Stop();
  });
  RunFor(5s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status, 0);
  EXPECT_FALSE(got->timed_out);
}

TEST_F(WorkerClientTest, FireAndForget) {
  FakeUpstream origin(FakeUpstream::Always(FakeUpstream::OkResponse("ok")));
  UseUpstream(origin.port());
  WorkerClient client(&ctx_);
  client.Fire(Get("/mirrored"));
  std::function<void()> poll = [&] {
    if (client.in_flight() == 0) return loop_.Stop();
    loop_.AddTimer(5ms, poll);
  };
  loop_.AddTimer(5ms, poll);
  RunFor(5s);
  EXPECT_EQ(client.in_flight(), 0u);
  EXPECT_EQ(origin.request_count(), 1u);
}

}  // namespace
}  // namespace sluice::subrequest
