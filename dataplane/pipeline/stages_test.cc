// Each stage alone: a request in an ExchangeState, the stage's hook, its
// decision and what it changed. No sockets.
#include <gtest/gtest.h>

#include "dataplane/pipeline/access_log_stage.h"
#include "dataplane/pipeline/metrics_stage.h"
#include "dataplane/metrics/series.h"
#include "dataplane/pipeline/body_limit_stage.h"
#include "dataplane/pipeline/https_redirect_stage.h"
#include "dataplane/pipeline/request_headers_stage.h"
#include "dataplane/pipeline/response_headers_stage.h"
#include "dataplane/pipeline/stage_test_support.h"

namespace sluice::pipeline {
namespace {

http::ClientInfo PlainClient() { return http::ClientInfo::At(*IpAddress::Parse("192.0.2.7"), "http"); }
http::ClientInfo TlsClient() { return http::ClientInfo::At(*IpAddress::Parse("192.0.2.7"), "https"); }

ExchangeState Request(const http::ClientInfo* client, std::string authority = "Shop.Example:8080",
                      std::string path = "/cart?id=1") {
  return GetRequest(client, std::move(authority), std::move(path));
}

TEST(MetricsStageTest, CountsTheFinishedExchangeOnItsRouteAndCluster) {
  metrics::SeriesCounters route, cluster;
  ExchangeState state;
  state.start = std::chrono::steady_clock::now() - std::chrono::milliseconds(3);
  state.status = 502;
  state.request_body_bytes = 7;
  state.bytes_out = 120;
  state.upstream_attempts = 3;
  state.upstream_connect_failures = 2;
  state.upstream_seconds = 0.002;
  state.route_series = &route;
  state.cluster_series = &cluster;
  MetricsStage stage;
  EXPECT_EQ(stage.hooks(), kComplete);
  stage.OnComplete(state);
  for (const metrics::SeriesCounters* c : {&route, &cluster}) {
    metrics::SeriesTotals t;
    t.Add(*c);
    EXPECT_EQ(t.requests[5], 1u);
    EXPECT_EQ(t.retries, 2u);
    EXPECT_EQ(t.connect_failures, 2u);
    EXPECT_EQ(t.bytes_in, 7u);
    EXPECT_EQ(t.bytes_out, 120u);
    EXPECT_EQ(t.latency[metrics::LatencyBucket(2500)] + t.latency[metrics::LatencyBucket(5000)] +
                  t.latency[metrics::LatencyBucket(10000)] + t.latency[metrics::kLatencyBuckets],
              1u);  // 3 ms or a little more
    EXPECT_EQ(t.upstream_latency[metrics::LatencyBucket(2000)], 1u);
  }
  // No series (no registry, or no route): nothing to do, nothing crashes.
  ExchangeState bare;
  stage.OnComplete(bare);
}

TEST(HttpsRedirectStageTest, SendsPlainHttpToTheSameUrlOverHttps) {
  http::ClientInfo client = PlainClient();
  ExchangeState state = Request(&client);
  HttpsRedirectStage stage(443);
  ASSERT_EQ(stage.OnRequestHead(state), Verdict::kReply);
  EXPECT_EQ(state.reply.status, 308);
  EXPECT_EQ(state.reply.location, "https://shop.example/cart?id=1");
  EXPECT_EQ(state.error.code, ErrorCode::kRedirect);

  ExchangeState other_port = Request(&client, "shop.example.");
  ASSERT_EQ(HttpsRedirectStage(8443).OnRequestHead(other_port), Verdict::kReply);
  EXPECT_EQ(other_port.reply.location, "https://shop.example:8443/cart?id=1");
}

TEST(HttpsRedirectStageTest, LeavesTlsRequestsAcmeChallengesAndHostlessRequestsAlone) {
  http::ClientInfo tls = TlsClient();
  http::ClientInfo plain = PlainClient();
  ExchangeState secure = Request(&tls);
  EXPECT_EQ(HttpsRedirectStage(443).OnRequestHead(secure), Verdict::kContinue);
  ExchangeState acme = Request(&plain, "shop.example", "/.well-known/acme-challenge/token");
  EXPECT_EQ(HttpsRedirectStage(443).OnRequestHead(acme), Verdict::kContinue);
  ExchangeState hostless = Request(&plain, "");
  EXPECT_EQ(HttpsRedirectStage(443).OnRequestHead(hostless), Verdict::kContinue);
  EXPECT_TRUE(secure.reply.empty());
}

TEST(BodyLimitStageTest, RefusesADeclaredLengthOverTheLimitBeforeTheBody) {
  http::ClientInfo client = PlainClient();
  ExchangeState state = Request(&client);
  state.request_content_length = 11;
  BodyLimitStage stage(10);
  ASSERT_EQ(stage.OnRequestHead(state), Verdict::kReply);
  EXPECT_EQ(state.reply.status, 413);
  ExchangeState fits = Request(&client);
  fits.request_content_length = 10;
  EXPECT_EQ(stage.OnRequestHead(fits), Verdict::kContinue);
}

TEST(BodyLimitStageTest, RefusesABodyOfUnknownLengthOnceItPassesTheLimit) {
  http::ClientInfo client = PlainClient();
  ExchangeState state = Request(&client);
  BodyLimitStage stage(10);
  EXPECT_EQ(stage.OnRequestHead(state), Verdict::kContinue);
  state.request_body_bytes = 6;
  EXPECT_EQ(stage.OnRequestBody(state, "123456"), Verdict::kContinue);
  state.request_body_bytes = 12;
  ASSERT_EQ(stage.OnRequestBody(state, "123456"), Verdict::kReply);
  EXPECT_EQ(state.reply.status, 413);
  EXPECT_EQ(state.error.code, ErrorCode::kBodyTooLarge);
}

TEST(RequestHeadersStageTest, KeepsEndToEndFieldsAndStatesWhatTheProxySaw) {
  http::ClientInfo client = TlsClient();
  ExchangeState state = Request(&client, "shop.example");
  http::HeaderMap& h = state.request.headers;
  h.Add("host", "shop.example");
  h.Add("user-agent", "curl");
  h.Add("connection", "keep-alive, X-Hop");
  h.Add("x-hop", "1");
  h.Add("keep-alive", "timeout=5");
  h.Add("te", "trailers");
  h.Add("expect", "100-continue");
  h.Add("content-length", "3");
  h.Add("x-forwarded-for", "10.0.0.1");  // spoofed by the client
  h.Add("x-forwarded-proto", "http");
  h.Add("x-forwarded-host", "evil.example");
  h.Add("cookie", "a=b");
  RequestHeadersStage stage;
  ASSERT_EQ(stage.OnRequestHead(state), Verdict::kContinue);
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h.entries()[0].name, "user-agent");
  EXPECT_EQ(h.entries()[1].name, "cookie");
  EXPECT_TRUE(state.te_trailers);
  EXPECT_EQ(AddedField(state, "x-forwarded-for"), "192.0.2.7");
  EXPECT_EQ(AddedField(state, "x-forwarded-proto"), "https");
  EXPECT_EQ(AddedField(state, "x-forwarded-host"), "shop.example");
}

TEST(RequestHeadersStageTest, TrailersCannotCarryFramingRoutingOrHopFields) {
  http::ClientInfo client = PlainClient();
  ExchangeState state = Request(&client);
  http::HeaderMap trailers;
  trailers.Add("grpc-status", "0");
  trailers.Add("content-length", "5");
  trailers.Add("host", "other.example");
  trailers.Add("transfer-encoding", "chunked");
  trailers.Add("trailer", "x");
  RequestHeadersStage stage;
  EXPECT_EQ(stage.OnRequestEnd(state, &trailers), Verdict::kContinue);
  ASSERT_EQ(trailers.size(), 1u);
  EXPECT_EQ(trailers.entries()[0].name, "grpc-status");
}

http::ResponseHead BackendResponse() {
  http::ResponseHead head;
  head.status = 200;
  head.headers.Add("server", "Apache/2.4");
  head.headers.Add("x-powered-by", "PHP/8");
  head.headers.Add("connection", "keep-alive");
  head.headers.Add("transfer-encoding", "chunked");
  head.headers.Add("content-type", "text/html");
  return head;
}

TEST(ResponseHeadersStageTest, RemovesHopByHopAndBackendSoftwareAndAddsHstsAndAffinity) {
  v1::RoutePolicy policy;
  policy.mutable_hsts()->set_max_age_seconds(31536000);
  policy.mutable_hsts()->set_include_subdomains(true);
  ResponseHeadersStage stage(ResponseHeadersStage::Options::From(policy));
  http::ClientInfo client = TlsClient();
  ExchangeState state = Request(&client);
  state.affinity_cookie = "sluice-affinity=abc; Path=/; HttpOnly";
  http::ResponseHead head = BackendResponse();
  ASSERT_EQ(stage.OnResponseHead(state, head, false), Verdict::kContinue);
  EXPECT_EQ(head.headers.Get("server"), nullptr);
  EXPECT_EQ(head.headers.Get("x-powered-by"), nullptr);
  EXPECT_EQ(head.headers.Get("connection"), nullptr);
  EXPECT_EQ(head.headers.Get("transfer-encoding"), nullptr);
  ASSERT_NE(head.headers.Get("strict-transport-security"), nullptr);
  EXPECT_EQ(*head.headers.Get("strict-transport-security"), "max-age=31536000; includeSubDomains");
  ASSERT_NE(head.headers.Get("set-cookie"), nullptr);
  EXPECT_EQ(*head.headers.Get("content-type"), "text/html");
}

TEST(ResponseHeadersStageTest, KeepsServerWhenAskedAndSendsNoHstsOverPlainHttpOrOnLocalReplies) {
  v1::RoutePolicy policy;
  policy.set_keep_server_header(true);
  policy.mutable_hsts()->set_max_age_seconds(60);
  ResponseHeadersStage stage(ResponseHeadersStage::Options::From(policy));
  http::ClientInfo plain = PlainClient();
  ExchangeState state = Request(&plain);
  http::ResponseHead head = BackendResponse();
  stage.OnResponseHead(state, head, false);
  EXPECT_NE(head.headers.Get("server"), nullptr);
  EXPECT_EQ(head.headers.Get("strict-transport-security"), nullptr);

  http::ClientInfo tls = TlsClient();
  ExchangeState local_state = Request(&tls);
  http::ResponseHead local;
  local.status = 404;
  stage.OnResponseHead(local_state, local, /*local=*/true);
  EXPECT_EQ(local.headers.Get("strict-transport-security"), nullptr);
}

TEST(AccessLogStageTest, WritesOneLineWithTheOwnedErrorMessage) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  {
    accesslog::AccessLog::Options options;
    options.fd = fds[1];
    accesslog::AccessLog log(options);
    auto writer = log.NewWriter();
    http::ClientInfo client = PlainClient();
    ExchangeState state = Request(&client);
    state.status = 502;
    state.access_log = writer.get();
    {
      std::string transient = "upstream sent a malformed status line";
      state.error = ProxyError::Upstream(ErrorCode::kBadResponse, transient);
    }  // the message is the state's own: it outlives the text it came from
    AccessLogStage().OnComplete(state);
    writer->Flush();
  }
  close(fds[1]);
  char buf[4096];
  ssize_t n = read(fds[0], buf, sizeof buf);
  close(fds[0]);
  ASSERT_GT(n, 0);
  std::string line(buf, static_cast<size_t>(n));
  EXPECT_NE(line.find("\"status\":502"), std::string::npos) << line;
  EXPECT_NE(line.find("upstream sent a malformed status line"), std::string::npos) << line;
}

}  // namespace
}  // namespace sluice::pipeline
