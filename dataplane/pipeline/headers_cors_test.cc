// The CORS stage, the request_headers stage's set fields and upstream
// vhost, and the response_headers stage's custom fields: each alone, on an
// ExchangeState, no sockets.
#include <gtest/gtest.h>

#include "dataplane/pipeline/chain.h"
#include "dataplane/pipeline/cors_stage.h"
#include "dataplane/pipeline/request_headers_stage.h"
#include "dataplane/pipeline/response_headers_stage.h"

namespace sluice::pipeline {
namespace {

v1::CorsPolicy Cors(std::initializer_list<const char*> origins, bool credentials = true) {
  v1::CorsPolicy cors;
  for (const char* origin : origins) cors.add_allow_origins(origin);
  cors.set_allow_methods("GET, PUT, POST, DELETE, PATCH, OPTIONS");
  cors.set_allow_headers("DNT,Content-Type,Authorization");
  cors.set_allow_credentials(credentials);
  cors.set_max_age_seconds(1728000);
  return cors;
}

ExchangeState Request(std::string method, std::initializer_list<std::pair<const char*, const char*>> fields) {
  ExchangeState state;
  state.request.method = std::move(method);
  state.request.authority = "api.example";
  state.request.path = "/v1/items";
  for (const auto& [name, value] : fields) state.request.headers.Add(name, value);
  return state;
}

std::string Field(const http::HeaderMap& headers, std::string_view name) {
  const std::string* value = headers.Get(name);
  return value != nullptr ? *value : "<none>";
}

TEST(CorsStageTest, OriginMatching) {
  CorsStage stage(CorsStage::Options::From(
      Cors({"https://app.example", "http://*.example.com:8080", "https://*.Shop.Example"})));
  struct Case {
    const char* origin;
    bool allowed;
  };
  const Case cases[] = {
      {"https://app.example", true},
      {"HTTPS://APP.EXAMPLE", true},
      {"http://app.example", false},          // scheme
      {"https://app.example:443", false},     // port written: not the same origin text
      {"https://app.example.evil", false},
      {"https://evilapp.example", false},
      {"http://a.example.com:8080", true},
      {"http://a-b1.example.com:8080", true},
      {"http://a.example.com", false},        // port
      {"http://a.b.example.com:8080", false}, // one label only (as ingress-nginx)
      {"http://.example.com:8080", false},
      {"http://example.com:8080", false},
      {"https://x.shop.example", true},
      {"https://x.shop.example.evil", false},
      {"null", false},
      {"", false},
  };
  for (const Case& c : cases) EXPECT_EQ(stage.Allows(c.origin), c.allowed) << c.origin;
  CorsStage any(CorsStage::Options::From(Cors({"*"})));
  EXPECT_TRUE(any.Allows("https://anything.example"));
  EXPECT_TRUE(any.Allows("null"));
  CorsStage none(CorsStage::Options::From(Cors({})));
  EXPECT_FALSE(none.Allows("https://app.example"));
}

TEST(CorsStageTest, PreflightFromAnAllowedOriginIsAnswered204WithTheFields) {
  CorsStage stage(CorsStage::Options::From(Cors({"https://app.example"})));
  ExchangeState state = Request("OPTIONS", {{"origin", "https://app.example"},
                                            {"access-control-request-method", "PUT"}});
  ASSERT_EQ(stage.OnRequestHead(state), Verdict::kReply);
  EXPECT_EQ(state.reply.status, 204);
  EXPECT_TRUE(state.reply.head_only);
  http::ResponseHead head = BuildLocalReplyHead(state.reply, ReplyShape::Of(state.request));
  EXPECT_EQ(head.status, 204);
  ASSERT_EQ(stage.OnResponseHead(state, head, /*local=*/true), Verdict::kContinue);
  EXPECT_EQ(Field(head.headers, "access-control-allow-origin"), "https://app.example");
  EXPECT_EQ(Field(head.headers, "vary"), "Origin");
  EXPECT_EQ(Field(head.headers, "access-control-allow-credentials"), "true");
  EXPECT_EQ(Field(head.headers, "access-control-allow-methods"), "GET, PUT, POST, DELETE, PATCH, OPTIONS");
  EXPECT_EQ(Field(head.headers, "access-control-allow-headers"), "DNT,Content-Type,Authorization");
  EXPECT_EQ(Field(head.headers, "access-control-max-age"), "1728000");
  EXPECT_EQ(Field(head.headers, "access-control-expose-headers"), "<none>");
  EXPECT_EQ(Field(head.headers, "content-length"), "<none>") << "a 204 carries no Content-Length";
}

TEST(CorsStageTest, OtherRequestsGoOn) {
  CorsStage stage(CorsStage::Options::From(Cors({"https://app.example"})));
  // Not allowed: the backend answers the OPTIONS (as ingress-nginx).
  ExchangeState evil = Request("OPTIONS", {{"origin", "https://evil.example"}, {"access-control-request-method", "PUT"}});
  EXPECT_EQ(stage.OnRequestHead(evil), Verdict::kContinue);
  // Not a preflight: no Access-Control-Request-Method, or no Origin, or not OPTIONS.
  ExchangeState plain_options = Request("OPTIONS", {{"origin", "https://app.example"}});
  EXPECT_EQ(stage.OnRequestHead(plain_options), Verdict::kContinue);
  ExchangeState no_origin = Request("OPTIONS", {{"access-control-request-method", "PUT"}});
  EXPECT_EQ(stage.OnRequestHead(no_origin), Verdict::kContinue);
  ExchangeState get = Request("GET", {{"origin", "https://app.example"}, {"access-control-request-method", "PUT"}});
  EXPECT_EQ(stage.OnRequestHead(get), Verdict::kContinue);
}

TEST(CorsStageTest, ActualResponseOfAnAllowedOriginGetsTheFieldsInsteadOfTheBackends) {
  v1::CorsPolicy policy = Cors({"https://app.example"}, /*credentials=*/false);
  policy.set_expose_headers("X-Count");
  CorsStage stage(CorsStage::Options::From(policy));
  ExchangeState state = Request("GET", {{"origin", "https://app.example"}});
  http::ResponseHead head;
  head.headers.Add("access-control-allow-origin", "*");  // the backend's own: replaced
  head.headers.Add("vary", "Accept-Encoding");
  head.headers.Add("content-type", "application/json");
  ASSERT_EQ(stage.OnResponseHead(state, head, false), Verdict::kContinue);
  EXPECT_EQ(head.headers.Count("access-control-allow-origin"), 1u);
  EXPECT_EQ(Field(head.headers, "access-control-allow-origin"), "https://app.example");
  EXPECT_EQ(head.headers.Count("vary"), 2u);  // Accept-Encoding, then Origin
  EXPECT_EQ(Field(head.headers, "access-control-allow-credentials"), "<none>");
  EXPECT_EQ(Field(head.headers, "access-control-expose-headers"), "X-Count");
  EXPECT_EQ(Field(head.headers, "content-type"), "application/json");

  // Vary already naming Origin (or "*"): not repeated.
  http::ResponseHead varied;
  varied.headers.Add("vary", "Accept-Encoding, origin");
  stage.OnResponseHead(state, varied, false);
  EXPECT_EQ(varied.headers.Count("vary"), 1u);

  // A disallowed origin, or none: the backend's response is untouched.
  for (const char* origin : {"https://evil.example", ""}) {
    ExchangeState other = *origin ? Request("GET", {{"origin", origin}}) : Request("GET", {});
    http::ResponseHead untouched;
    untouched.headers.Add("access-control-allow-origin", "https://backend.example");
    stage.OnResponseHead(other, untouched, false);
    EXPECT_EQ(untouched.headers.size(), 1u) << origin;
    EXPECT_EQ(Field(untouched.headers, "access-control-allow-origin"), "https://backend.example");
  }
}

TEST(CorsStageTest, AnyOriginSendsStarWithoutVaryAndCredentialsAsIngressNginx) {
  CorsStage stage(CorsStage::Options::From(Cors({"*"})));
  ExchangeState state = Request("GET", {{"origin", "https://whoever.example"}});
  http::ResponseHead head;
  stage.OnResponseHead(state, head, false);
  EXPECT_EQ(Field(head.headers, "access-control-allow-origin"), "*");
  EXPECT_EQ(Field(head.headers, "vary"), "<none>");
  EXPECT_EQ(Field(head.headers, "access-control-allow-credentials"), "true");
}

TEST(CorsStageTest, LocalRepliesAreDecoratedToo) {
  CorsStage stage(CorsStage::Options::From(Cors({"https://app.example"})));
  ExchangeState state = Request("GET", {{"origin", "https://app.example"}});
  LocalReply reply;
  reply.status = 429;
  reply.body = "too many requests\n";
  http::ResponseHead head = BuildLocalReplyHead(reply, ReplyShape::Of(state.request));
  stage.OnResponseHead(state, head, /*local=*/true);
  EXPECT_EQ(Field(head.headers, "access-control-allow-origin"), "https://app.example");
}

TEST(CorsStageTest, RunsBeforeAccessControlInTheChain) {
  v1::RoutePolicy policy;
  *policy.mutable_cors() = Cors({"*"});
  policy.mutable_access_control()->add_allow("10.0.0.0/8");
  auto chain = CompileChain(policy, ChainDefaults{});
  std::vector<std::string_view> names = chain->StageNames();
  ASSERT_GE(names.size(), 2u);
  EXPECT_EQ(names[0], "cors");
  EXPECT_EQ(names[1], "access_control");
  EXPECT_LT(static_cast<int>(StageOrder::kCors), static_cast<int>(StageOrder::kAccessControl));
}

TEST(RequestHeadersStageTest, SetFieldsReplaceTheClientsAndVhostChangesOnlyTheUpstreamHost) {
  v1::RoutePolicy policy;
  policy.set_upstream_vhost("backend.internal:8080");
  auto* a = policy.add_set_request_headers();
  a->set_name("x-team");
  a->set_value("checkout");
  auto* b = policy.add_set_request_headers();
  b->set_name("x-env");
  b->set_value("prod");
  RequestHeadersStage stage(RequestHeadersStage::Options::From(policy));
  http::ClientInfo client = http::ClientInfo::At(*IpAddress::Parse("192.0.2.7"), "http");
  ExchangeState state = Request("GET", {{"x-team", "spoofed"}, {"X-Team", "spoofed-too"}, {"accept", "*/*"}});
  // Header names arrive lower case from the codecs.
  state.request.headers.mutable_entries()[1].name = "x-team";
  state.client = &client;
  ASSERT_EQ(stage.OnRequestHead(state), Verdict::kContinue);
  EXPECT_EQ(state.request.headers.Count("x-team"), 1u);
  EXPECT_EQ(Field(state.request.headers, "x-team"), "checkout");
  EXPECT_EQ(Field(state.request.headers, "x-env"), "prod");
  EXPECT_EQ(Field(state.request.headers, "accept"), "*/*");
  EXPECT_EQ(state.UpstreamAuthority(), "backend.internal:8080");
  EXPECT_EQ(state.request.authority, "api.example") << "routing, logs and hashing keep the client's host";
  bool forwarded_host = false;
  for (size_t i = 0; i < state.added_field_count; ++i) {
    if (state.added_fields[i].name == "x-forwarded-host") {
      forwarded_host = true;
      EXPECT_EQ(state.added_fields[i].value, "api.example");
    }
  }
  EXPECT_TRUE(forwarded_host);

  // Without a vhost the upstream gets the client's Host.
  RequestHeadersStage plain;
  ExchangeState other = Request("GET", {});
  other.client = &client;
  plain.OnRequestHead(other);
  EXPECT_EQ(other.UpstreamAuthority(), "api.example");
}

TEST(ResponseHeadersStageTest, CustomFieldsReplaceTheBackendsOnUpstreamResponsesOnly) {
  v1::RoutePolicy policy;
  auto* a = policy.add_set_response_headers();
  a->set_name("x-frame-options");
  a->set_value("DENY");
  auto* b = policy.add_set_response_headers();
  b->set_name("cache-control");
  b->set_value("no-store");
  ResponseHeadersStage stage(ResponseHeadersStage::Options::From(policy));
  ExchangeState state = Request("GET", {});
  http::ResponseHead head;
  head.headers.Add("x-frame-options", "SAMEORIGIN");
  head.headers.Add("content-type", "text/html");
  ASSERT_EQ(stage.OnResponseHead(state, head, false), Verdict::kContinue);
  EXPECT_EQ(head.headers.Count("x-frame-options"), 1u);
  EXPECT_EQ(Field(head.headers, "x-frame-options"), "DENY");
  EXPECT_EQ(Field(head.headers, "cache-control"), "no-store");
  EXPECT_EQ(Field(head.headers, "content-type"), "text/html");

  LocalReply reply;
  reply.status = 502;
  reply.body = "bad gateway\n";
  http::ResponseHead local = BuildLocalReplyHead(reply, ReplyShape::Of(state.request));
  stage.OnResponseHead(state, local, /*local=*/true);
  EXPECT_EQ(Field(local.headers, "x-frame-options"), "<none>");
}

}  // namespace
}  // namespace sluice::pipeline
