#include "controlplane/translate/annotations.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace sluice::translate {
namespace {

using nlohmann::json;

// ---- Value syntaxes. ----

struct ValueRow {
  std::string text;
  uint64_t expected;  // when ok
  std::string error;  // "" = must parse
};

std::string Describe(const ValueRow& row) { return "value \"" + row.text + "\""; }

TEST(ParseTimeoutMsTest, Table) {
  const std::string syntax = "expected a timeout like 60 (seconds), 60s, 500ms or 5m";
  const std::string range = "must be from 1ms to 24 hours (1440m)";
  const std::vector<ValueRow> rows = {
      {"60", 60000, ""},        // bare number = seconds, as in ingress-nginx
      {"60s", 60000, ""},
      {"500ms", 500, ""},
      {"5m", 300000, ""},
      {"1ms", 1, ""},           // lower bound
      {"86400", 86400000, ""},  // upper bound: 24 h
      {"1440m", 86400000, ""},
      {"007", 7000, ""},
      {" 30s ", 30000, ""},  // surrounding blanks are not part of the value
      {"0", 0, range},
      {"0ms", 0, range},
      {"86401", 0, range},
      {"1441m", 0, range},
      {"86400001ms", 0, range},
      {"86400000ms", 86400000, ""},
      {"99999999999999999999999999", 0, range},  // no overflow into a small value
      {"", 0, syntax},
      {"s", 0, syntax},
      {"-5", 0, syntax},
      {"+5", 0, syntax},
      {"1.5", 0, syntax},
      {"10h", 0, syntax},
      {"10S", 0, syntax},
      {"10 s", 0, syntax},
      {"10sec", 0, syntax},
      {"ten", 0, syntax},
  };
  for (const ValueRow& row : rows) {
    sluice::Result<uint32_t> result = ParseTimeoutMs(row.text);
    if (row.error.empty()) {
      ASSERT_TRUE(result.ok()) << Describe(row) << ": " << result.status().message();
      EXPECT_EQ(*result, row.expected) << Describe(row);
    } else {
      ASSERT_FALSE(result.ok()) << Describe(row) << " parsed as " << *result;
      EXPECT_EQ(result.status().message(), row.error) << Describe(row);
    }
  }
}

TEST(ParseSizeBytesTest, Table) {
  const std::string syntax = "expected a size like 8m, 512k or 1048576";
  const std::string range = "must be at most 1 TiB (1024g)";
  const std::vector<ValueRow> rows = {
      {"0", 0, ""},  // unlimited
      {"0m", 0, ""},
      {"1048576", 1048576, ""},
      {"512k", 512 * 1024, ""},
      {"512K", 512 * 1024, ""},
      {"8m", 8 * 1024 * 1024, ""},
      {"8M", 8 * 1024 * 1024, ""},
      {"1g", 1ull << 30, ""},
      {"1024g", 1ull << 40, ""},  // upper bound: 1 TiB
      {"1099511627776", 1ull << 40, ""},
      {"1099511627777", 0, range},
      {"1025g", 0, range},
      {"99999999999999999999999g", 0, range},
      {"8q", 0, syntax},
      {"8mb", 0, syntax},
      {"1t", 0, syntax},
      {"1.5m", 0, syntax},
      {"-1", 0, syntax},
      {"m", 0, syntax},
      {"", 0, syntax},
  };
  for (const ValueRow& row : rows) {
    sluice::Result<uint64_t> result = ParseSizeBytes(row.text);
    if (row.error.empty()) {
      ASSERT_TRUE(result.ok()) << Describe(row) << ": " << result.status().message();
      EXPECT_EQ(*result, row.expected) << Describe(row);
    } else {
      ASSERT_FALSE(result.ok()) << Describe(row) << " parsed as " << *result;
      EXPECT_EQ(result.status().message(), row.error) << Describe(row);
    }
  }
}

TEST(ParseBooleanTest, OnlyTrueAndFalse) {
  EXPECT_TRUE(*ParseBoolean("true"));
  EXPECT_FALSE(*ParseBoolean("false"));
  for (const char* text : {"", "yes", "1", "TRUE", "on"}) {
    sluice::Result<bool> result = ParseBoolean(text);
    ASSERT_FALSE(result.ok()) << text;
    EXPECT_EQ(result.status().message(), "expected \"true\" or \"false\"") << text;
  }
}

// ---- Annotations -> policy. ----

// The policy as one readable line, so table rows compare whole policies.
std::string Show(const v1::RoutePolicy& p) {
  return "connect=" + std::to_string(p.connect_timeout_ms()) + " response=" + std::to_string(p.response_timeout_ms()) +
         " idle=" + std::to_string(p.idle_timeout_ms()) + " body=" + std::to_string(p.max_request_body_bytes()) +
         " client_body=" + std::to_string(p.client_body_timeout_ms()) +
         " keep_server=" + (p.keep_server_header() ? "true" : "false");
}

struct PolicyRow {
  std::string what;
  json annotations;
  std::string expected_policy;
  std::vector<std::string> expected_problems;
};

class PolicyTableTest : public ::testing::TestWithParam<PolicyRow> {};

TEST_P(PolicyTableTest, AnnotationsGiveThePolicy) {
  const PolicyRow& row = GetParam();
  AnnotatedPolicy result = RoutePolicyFromAnnotations(&row.annotations);
  EXPECT_EQ(Show(result.policy), row.expected_policy) << row.what;
  std::vector<std::string> problems;
  for (const AnnotationProblem& problem : result.problems) problems.push_back(problem.message);
  EXPECT_EQ(problems, row.expected_problems) << row.what;
}

const char kDefaults[] = "connect=0 response=0 idle=0 body=0 client_body=0 keep_server=false";

INSTANTIATE_TEST_SUITE_P(
    Rows, PolicyTableTest,
    ::testing::Values(
        PolicyRow{"none", json::object(), kDefaults, {}},
        PolicyRow{"unrelated annotations are not looked at",
                  {{"kubernetes.io/ingress.class", "sluice"}, {"sluice.io/something-else", "x"}},
                  kDefaults,
                  {}},
        PolicyRow{"every sluice annotation",
                  {{"sluice.io/proxy-connect-timeout", "2s"},
                   {"sluice.io/proxy-read-timeout", "120"},
                   {"sluice.io/proxy-body-size", "8m"},
                   {"sluice.io/client-body-timeout", "30s"},
                   {"sluice.io/keep-server-header", "true"}},
                  "connect=2000 response=120000 idle=120000 body=8388608 client_body=30000 keep_server=true",
                  {}},
        PolicyRow{"response timeout overrides the read timeout for response headers only",
                  {{"sluice.io/proxy-read-timeout", "300"}, {"sluice.io/proxy-response-timeout", "10s"}},
                  "connect=0 response=10000 idle=300000 body=0 client_body=0 keep_server=false",
                  {}},
        PolicyRow{"response timeout alone leaves idle at the default",
                  {{"sluice.io/proxy-response-timeout", "500ms"}},
                  "connect=0 response=500 idle=0 body=0 client_body=0 keep_server=false",
                  {}},
        PolicyRow{"ingress-nginx annotations alone",
                  {{"nginx.ingress.kubernetes.io/proxy-connect-timeout", "3"},
                   {"nginx.ingress.kubernetes.io/proxy-read-timeout", "90"},
                   {"nginx.ingress.kubernetes.io/proxy-body-size", "16M"},
                   {"nginx.ingress.kubernetes.io/client-body-timeout", "20"}},
                  "connect=3000 response=90000 idle=90000 body=16777216 client_body=20000 keep_server=false",
                  {}},
        PolicyRow{"sluice.io wins over ingress-nginx",
                  {{"sluice.io/proxy-connect-timeout", "1"},
                   {"nginx.ingress.kubernetes.io/proxy-connect-timeout", "9"},
                   {"sluice.io/proxy-read-timeout", "2"},
                   {"nginx.ingress.kubernetes.io/proxy-read-timeout", "9"},
                   {"sluice.io/proxy-body-size", "1k"},
                   {"nginx.ingress.kubernetes.io/proxy-body-size", "9m"},
                   {"sluice.io/client-body-timeout", "3"},
                   {"nginx.ingress.kubernetes.io/client-body-timeout", "9"}},
                  "connect=1000 response=2000 idle=2000 body=1024 client_body=3000 keep_server=false",
                  {}},
        PolicyRow{"nginx read timeout with a sluice response timeout",
                  {{"nginx.ingress.kubernetes.io/proxy-read-timeout", "90"},
                   {"sluice.io/proxy-response-timeout", "5"}},
                  "connect=0 response=5000 idle=90000 body=0 client_body=0 keep_server=false",
                  {}},
        PolicyRow{"body size 0 is unlimited, the proxy default",
                  {{"nginx.ingress.kubernetes.io/proxy-body-size", "0"}},
                  kDefaults,
                  {}},
        PolicyRow{"sluice.io body size 0 beats an nginx limit",
                  {{"sluice.io/proxy-body-size", "0"}, {"nginx.ingress.kubernetes.io/proxy-body-size", "1m"}},
                  kDefaults,
                  {}},
        PolicyRow{"keep-server-header false is the default",
                  {{"sluice.io/keep-server-header", "false"}},
                  kDefaults,
                  {}},
        PolicyRow{"an invalid value is ignored, the others still apply",
                  {{"sluice.io/proxy-body-size", "8q"}, {"sluice.io/proxy-connect-timeout", "2"}},
                  "connect=2000 response=0 idle=0 body=0 client_body=0 keep_server=false",
                  {"sluice.io/proxy-body-size \"8q\": expected a size like 8m, 512k or 1048576"}},
        PolicyRow{"an invalid sluice.io value counts as unset: the nginx one applies",
                  {{"sluice.io/proxy-read-timeout", "0"}, {"nginx.ingress.kubernetes.io/proxy-read-timeout", "45"}},
                  "connect=0 response=45000 idle=45000 body=0 client_body=0 keep_server=false",
                  {"sluice.io/proxy-read-timeout \"0\": must be from 1ms to 24 hours (1440m)"}},
        PolicyRow{"an invalid nginx value is reported even when shadowed",
                  {{"sluice.io/proxy-body-size", "1m"}, {"nginx.ingress.kubernetes.io/proxy-body-size", "lots"}},
                  "connect=0 response=0 idle=0 body=1048576 client_body=0 keep_server=false",
                  {"nginx.ingress.kubernetes.io/proxy-body-size \"lots\": expected a size like 8m, 512k or 1048576"}},
        PolicyRow{"wrong types (YAML without quotes) are problems",
                  {{"sluice.io/proxy-connect-timeout", 5}, {"sluice.io/keep-server-header", true}},
                  kDefaults,
                  {"sluice.io/proxy-connect-timeout: must be a string, write the value in quotes (got number 5)",
                   "sluice.io/keep-server-header: must be a string, write the value in quotes (got boolean true)"}},
        PolicyRow{"problems come in a fixed order, every invalid one reported",
                  {{"sluice.io/keep-server-header", "yes"},
                   {"sluice.io/proxy-response-timeout", "2h"},
                   {"nginx.ingress.kubernetes.io/client-body-timeout", "-1"},
                   {"sluice.io/proxy-body-size", "2048g"}},
                  kDefaults,
                  {"sluice.io/proxy-response-timeout \"2h\": expected a timeout like 60 (seconds), 60s, 500ms or 5m",
                   "sluice.io/proxy-body-size \"2048g\": must be at most 1 TiB (1024g)",
                   "nginx.ingress.kubernetes.io/client-body-timeout \"-1\": expected a timeout like 60 (seconds), "
                   "60s, 500ms or 5m",
                   "sluice.io/keep-server-header \"yes\": expected \"true\" or \"false\""}},
        PolicyRow{"values with quotes are shown escaped",
                  {{"sluice.io/proxy-body-size", "8\"m"}},
                  kDefaults,
                  {"sluice.io/proxy-body-size \"8\\\"m\": expected a size like 8m, 512k or 1048576"}},
        PolicyRow{"annotations that are not a map",
                  json::array({"sluice.io/proxy-body-size"}),
                  kDefaults,
                  {"metadata.annotations must be a map of strings (got array)"}}),
    [](const ::testing::TestParamInfo<PolicyRow>& info) { return "row" + std::to_string(info.index); });

TEST(RoutePolicyFromAnnotationsTest, NoAnnotationsAtAll) {
  AnnotatedPolicy result = RoutePolicyFromAnnotations(nullptr);
  EXPECT_EQ(Show(result.policy), kDefaults);
  EXPECT_TRUE(result.problems.empty());
  json null_annotations;  // "annotations:" with nothing after it in YAML
  EXPECT_TRUE(RoutePolicyFromAnnotations(&null_annotations).problems.empty());
}

}  // namespace
}  // namespace sluice::translate

namespace sluice::translate {
namespace {

TEST(TlsAnnotationsTest, SslRedirectDefaultsOnAndEitherSpellingTurnsItOff) {
  EXPECT_TRUE(RoutePolicyFromAnnotations(nullptr).ssl_redirect);
  nlohmann::json nginx = {{"nginx.ingress.kubernetes.io/ssl-redirect", "false"}};
  EXPECT_FALSE(RoutePolicyFromAnnotations(&nginx).ssl_redirect);
  nlohmann::json both = {{"nginx.ingress.kubernetes.io/ssl-redirect", "false"}, {"sluice.io/ssl-redirect", "true"}};
  EXPECT_TRUE(RoutePolicyFromAnnotations(&both).ssl_redirect);  // ours wins
}

TEST(TlsAnnotationsTest, HstsFromOurAnnotationsOnly) {
  nlohmann::json annotations = {{"sluice.io/hsts-max-age", "31536000"},
                                {"sluice.io/hsts-include-subdomains", "true"},
                                {"sluice.io/hsts-preload", "true"}};
  AnnotatedPolicy parsed = RoutePolicyFromAnnotations(&annotations);
  EXPECT_TRUE(parsed.problems.empty());
  EXPECT_EQ(parsed.policy.hsts().max_age_seconds(), 31536000u);
  EXPECT_TRUE(parsed.policy.hsts().include_subdomains());
  EXPECT_TRUE(parsed.policy.hsts().preload());
  nlohmann::json bad = {{"sluice.io/hsts-max-age", "1y"}};
  parsed = RoutePolicyFromAnnotations(&bad);
  ASSERT_EQ(parsed.problems.size(), 1u);
  EXPECT_FALSE(parsed.policy.has_hsts());
}

TEST(TlsAnnotationsTest, BackendProtocolMapsToClusterProtocolAndTls) {
  struct Case {
    const char* value;
    v1::Cluster::UpstreamProtocol protocol;
    bool tls;
  } cases[] = {{"HTTP", v1::Cluster::HTTP1, false}, {"https", v1::Cluster::HTTP1, true},
               {"h2c", v1::Cluster::H2C, false},    {"GRPC", v1::Cluster::H2C, false},
               {"h2", v1::Cluster::H2, true},       {"grpcs", v1::Cluster::H2, true}};
  for (const Case& c : cases) {
    nlohmann::json annotations = {{"nginx.ingress.kubernetes.io/backend-protocol", c.value}};
    AnnotatedBackend backend = BackendFromAnnotations(&annotations, "ns");
    EXPECT_EQ(backend.protocol, c.protocol) << c.value;
    EXPECT_EQ(backend.tls, c.tls) << c.value;
    EXPECT_TRUE(backend.problems.empty());
  }
  nlohmann::json bad = {{"sluice.io/backend-protocol", "FCGI"}};
  EXPECT_EQ(BackendFromAnnotations(&bad, "ns").problems.size(), 1u);
}

TEST(TlsAnnotationsTest, CaSecretNameSniAndVerify) {
  nlohmann::json ours = {{"sluice.io/backend-protocol", "https"},
                         {"sluice.io/backend-tls-ca-secret", "backend-ca"},
                         {"sluice.io/backend-tls-server-name", "api.internal"}};
  AnnotatedBackend backend = BackendFromAnnotations(&ours, "shop");
  EXPECT_EQ(backend.ca_secret_namespace, "shop");
  EXPECT_EQ(backend.ca_secret_name, "backend-ca");
  EXPECT_EQ(backend.server_name, "api.internal");
  EXPECT_TRUE(backend.verify);  // a CA means verify unless told otherwise
  nlohmann::json nginx = {{"nginx.ingress.kubernetes.io/proxy-ssl-secret", "certs/ca"},
                          {"nginx.ingress.kubernetes.io/proxy-ssl-verify", "off"}};
  backend = BackendFromAnnotations(&nginx, "shop");
  EXPECT_EQ(backend.ca_secret_namespace, "certs");
  EXPECT_EQ(backend.ca_secret_name, "ca");
  EXPECT_FALSE(backend.verify);
  nlohmann::json malformed = {{"sluice.io/backend-tls-ca-secret", "a/b/c"}};
  EXPECT_EQ(BackendFromAnnotations(&malformed, "shop").problems.size(), 1u);
}

}  // namespace
}  // namespace sluice::translate

namespace sluice::translate {
namespace {

TEST(CompressionAnnotationsTest, OffByDefault) {
  EXPECT_FALSE(RoutePolicyFromAnnotations(nullptr).policy.has_compression());
  nlohmann::json other = {{"sluice.io/proxy-body-size", "1m"}};
  EXPECT_FALSE(RoutePolicyFromAnnotations(&other).policy.compression().enabled());
}

TEST(CompressionAnnotationsTest, AllSettings) {
  nlohmann::json annotations = {
      {"sluice.io/compression", "on"},
      {"sluice.io/compression-types", "text/html, Application/JSON +xml\ttext/*"},
      {"sluice.io/compression-min-length", "2k"},
      {"sluice.io/compression-level-gzip", "9"},
      {"sluice.io/compression-level-brotli", "11"},
      {"sluice.io/compression-level-zstd", "19"},
      {"sluice.io/compression-codings", "BR, gzip"},
  };
  AnnotatedPolicy result = RoutePolicyFromAnnotations(&annotations);
  EXPECT_TRUE(result.problems.empty());
  ASSERT_EQ(result.policy.compression().codings_size(), 2);
  EXPECT_EQ(result.policy.compression().codings(0), "br");
  EXPECT_EQ(result.policy.compression().codings(1), "gzip");
  const v1::CompressionPolicy& c = result.policy.compression();
  EXPECT_TRUE(c.enabled());
  ASSERT_EQ(c.types_size(), 4);
  EXPECT_EQ(c.types(0), "text/html");
  EXPECT_EQ(c.types(1), "application/json");
  EXPECT_EQ(c.types(2), "+xml");
  EXPECT_EQ(c.types(3), "text/*");
  EXPECT_EQ(c.min_length(), 2048u);
  EXPECT_EQ(c.gzip_level(), 9u);
  EXPECT_EQ(c.brotli_level(), 11u);
  EXPECT_EQ(c.zstd_level(), 19u);
}

TEST(CompressionAnnotationsTest, OnOffSpellingsAndZeroMinLength) {
  nlohmann::json on = {{"sluice.io/compression", "true"}, {"sluice.io/compression-min-length", "0"}};
  AnnotatedPolicy result = RoutePolicyFromAnnotations(&on);
  EXPECT_TRUE(result.policy.compression().enabled());
  EXPECT_EQ(result.policy.compression().min_length(), 1u);  // any length
  nlohmann::json off = {{"sluice.io/compression", "off"}};
  EXPECT_FALSE(RoutePolicyFromAnnotations(&off).policy.compression().enabled());
}

TEST(CompressionAnnotationsTest, InvalidValuesAreProblemsAndIgnored) {
  nlohmann::json annotations = {
      {"sluice.io/compression", "yes"},
      {"sluice.io/compression-types", "text/html, nonsense"},
      {"sluice.io/compression-min-length", "big"},
      {"sluice.io/compression-level-gzip", "10"},
      {"sluice.io/compression-level-brotli", "0"},
      {"sluice.io/compression-level-zstd", "3"},
      {"sluice.io/compression-codings", "gzip, deflate"},
  };
  AnnotatedPolicy result = RoutePolicyFromAnnotations(&annotations);
  ASSERT_EQ(result.problems.size(), 6u);
  EXPECT_EQ(result.problems[0].annotation, "sluice.io/compression");
  EXPECT_EQ(result.problems[1].annotation, "sluice.io/compression-types");
  EXPECT_EQ(result.problems[2].annotation, "sluice.io/compression-codings");
  EXPECT_EQ(result.problems[3].annotation, "sluice.io/compression-min-length");
  EXPECT_EQ(result.problems[4].annotation, "sluice.io/compression-level-gzip");
  EXPECT_EQ(result.problems[4].message, "sluice.io/compression-level-gzip \"10\": must be from 1 to 9");
  EXPECT_EQ(result.problems[5].annotation, "sluice.io/compression-level-brotli");
  EXPECT_EQ(result.policy.compression().codings_size(), 0);
  nlohmann::json twice = {{"sluice.io/compression-codings", "br, br"}};
  EXPECT_EQ(RoutePolicyFromAnnotations(&twice).problems.size(), 1u);
  const v1::CompressionPolicy& c = result.policy.compression();
  EXPECT_FALSE(c.enabled());
  EXPECT_EQ(c.types_size(), 0);
  EXPECT_EQ(c.zstd_level(), 3u);
}

// ---- Application firewall. ----

TEST(WafAnnotationsTest, OffByDefault) {
  EXPECT_FALSE(RoutePolicyFromAnnotations(nullptr).policy.has_waf());
  nlohmann::json off = {{"sluice.io/waf", "off"}, {"sluice.io/waf-paranoia", "2"}};
  EXPECT_FALSE(RoutePolicyFromAnnotations(&off).policy.has_waf());
}

TEST(WafAnnotationsTest, AllSettings) {
  nlohmann::json annotations = {
      {"sluice.io/waf", "block"},
      {"sluice.io/waf-paranoia", "2"},
      {"sluice.io/waf-inbound-anomaly-threshold", "10"},
      {"sluice.io/waf-outbound-anomaly-threshold", "8"},
      {"sluice.io/waf-exclude-rules", "942100, 941160 attack-sqli,paranoia-level/2"},
      {"sluice.io/waf-body-limit", "1m"},
      {"sluice.io/waf-body-over-limit", "pass"},
      {"sluice.io/waf-response-body", "true"},
      {"sluice.io/waf-transaction-id-header", "X-Request-ID"},
  };
  AnnotatedPolicy result = RoutePolicyFromAnnotations(&annotations);
  EXPECT_TRUE(result.problems.empty()) << result.problems[0].message;
  const v1::WafPolicy& waf = result.policy.waf();
  EXPECT_EQ(waf.mode(), v1::WafPolicy::BLOCK);
  EXPECT_EQ(waf.paranoia_level(), 2u);
  EXPECT_EQ(waf.inbound_anomaly_threshold(), 10u);
  EXPECT_EQ(waf.outbound_anomaly_threshold(), 8u);
  ASSERT_EQ(waf.exclude_rule_ids_size(), 2);
  EXPECT_EQ(waf.exclude_rule_ids(0), 942100u);
  EXPECT_EQ(waf.exclude_rule_ids(1), 941160u);
  ASSERT_EQ(waf.exclude_tags_size(), 2);
  EXPECT_EQ(waf.exclude_tags(0), "attack-sqli");
  EXPECT_EQ(waf.exclude_tags(1), "paranoia-level/2");
  EXPECT_EQ(waf.request_body_limit(), 1u << 20);
  EXPECT_TRUE(waf.pass_over_body_limit());
  EXPECT_TRUE(waf.inspect_response_body());
  EXPECT_EQ(waf.transaction_id_header(), "x-request-id");
}

TEST(WafAnnotationsTest, IngressNginxNames) {
  nlohmann::json annotations = {
      {"nginx.ingress.kubernetes.io/enable-modsecurity", "true"},
      {"nginx.ingress.kubernetes.io/enable-owasp-core-rules", "true"},
      {"nginx.ingress.kubernetes.io/modsecurity-transaction-id", "$http_x_correlation_id"},
  };
  AnnotatedPolicy result = RoutePolicyFromAnnotations(&annotations);
  EXPECT_TRUE(result.problems.empty());
  EXPECT_EQ(result.policy.waf().mode(), v1::WafPolicy::DETECT);  // ingress-nginx's DetectionOnly default
  EXPECT_EQ(result.policy.waf().transaction_id_header(), "x-correlation-id");
  nlohmann::json request_id = {{"nginx.ingress.kubernetes.io/enable-modsecurity", "true"},
                               {"nginx.ingress.kubernetes.io/modsecurity-transaction-id", "$request_id"}};
  result = RoutePolicyFromAnnotations(&request_id);
  EXPECT_TRUE(result.problems.empty());
  EXPECT_EQ(result.policy.waf().transaction_id_header(), "");
  nlohmann::json expression = {{"nginx.ingress.kubernetes.io/enable-modsecurity", "true"},
                               {"nginx.ingress.kubernetes.io/modsecurity-transaction-id", "$host-$request_id"}};
  EXPECT_EQ(RoutePolicyFromAnnotations(&expression).problems.size(), 1u);
  // sluice.io/waf wins.
  nlohmann::json both = {{"sluice.io/waf", "block"}, {"nginx.ingress.kubernetes.io/enable-modsecurity", "true"}};
  EXPECT_EQ(RoutePolicyFromAnnotations(&both).policy.waf().mode(), v1::WafPolicy::BLOCK);
}

TEST(WafAnnotationsTest, SnippetIsRefusedAndNothingOfItApplies) {
  nlohmann::json annotations = {
      {"sluice.io/waf", "block"},
      {"nginx.ingress.kubernetes.io/modsecurity-snippet", "SecRuleEngine Off\nSecRuleRemoveById 949110"},
  };
  // The refusal itself is the translator's (annotation_catalog_test); the
  // policy takes nothing from the snippet.
  AnnotatedPolicy result = RoutePolicyFromAnnotations(&annotations);
  EXPECT_TRUE(result.problems.empty());
  const v1::WafPolicy& waf = result.policy.waf();
  EXPECT_EQ(waf.mode(), v1::WafPolicy::BLOCK);
  EXPECT_EQ(waf.exclude_rule_ids_size(), 0);
}

TEST(WafAnnotationsTest, InvalidValuesAreProblemsAndIgnored) {
  nlohmann::json annotations = {
      {"sluice.io/waf", "on"},
      {"sluice.io/waf-paranoia", "5"},
      {"sluice.io/waf-exclude-rules", "942100, x\" SecRuleEngine Off"},
      {"sluice.io/waf-body-limit", "0"},
      {"sluice.io/waf-body-over-limit", "drop"},
  };
  AnnotatedPolicy result = RoutePolicyFromAnnotations(&annotations);
  ASSERT_EQ(result.problems.size(), 5u);
  EXPECT_EQ(result.problems[0].annotation, "sluice.io/waf");
  EXPECT_EQ(result.problems[1].annotation, "sluice.io/waf-paranoia");
  EXPECT_EQ(result.problems[2].annotation, "sluice.io/waf-exclude-rules");
  EXPECT_FALSE(result.policy.has_waf());
}

}  // namespace
}  // namespace sluice::translate

namespace sluice::translate {
namespace {

TEST(CacheAnnotationsTest, KeyBypassMethodsTtlAndSetCookie) {
  nlohmann::json annotations = {
      {"sluice.io/cache", "on"},
      {"sluice.io/cache-key", "host, path query-sorted header:X-Tenant cookie:lang"},
      {"sluice.io/cache-bypass", "cookie:session header:Authorization"},
      {"sluice.io/cache-methods", "get"},
      {"sluice.io/cache-default-ttl", "5m"},
      {"sluice.io/cache-store-set-cookie", "true"},
  };
  AnnotatedPolicy result = RoutePolicyFromAnnotations(&annotations);
  EXPECT_TRUE(result.problems.empty()) << result.problems[0].message;
  const v1::CachePolicy& c = result.policy.cache();
  EXPECT_TRUE(c.enabled());
  EXPECT_TRUE(c.key().omit_scheme());
  EXPECT_FALSE(c.key().omit_host());
  EXPECT_EQ(c.key().query(), v1::CacheKey::QUERY_SORTED);
  ASSERT_EQ(c.key().headers_size(), 1);
  EXPECT_EQ(c.key().headers(0), "x-tenant");
  ASSERT_EQ(c.key().cookies_size(), 1);
  EXPECT_EQ(c.key().cookies(0), "lang");
  ASSERT_EQ(c.bypass_cookies_size(), 1);
  EXPECT_EQ(c.bypass_cookies(0), "session");
  ASSERT_EQ(c.bypass_headers_size(), 1);
  EXPECT_EQ(c.bypass_headers(0), "authorization");
  ASSERT_EQ(c.methods_size(), 1);
  EXPECT_EQ(c.methods(0), "GET");
  EXPECT_EQ(c.default_ttl_seconds(), 300u);
  EXPECT_TRUE(c.store_set_cookie());
}

TEST(CacheAnnotationsTest, KeyWithoutQueryIgnoresIt) {
  nlohmann::json annotations = {{"sluice.io/cache", "on"}, {"sluice.io/cache-key", "scheme host path"}};
  AnnotatedPolicy result = RoutePolicyFromAnnotations(&annotations);
  EXPECT_TRUE(result.problems.empty());
  EXPECT_EQ(result.policy.cache().key().query(), v1::CacheKey::QUERY_IGNORED);
  EXPECT_FALSE(result.policy.cache().key().omit_scheme());
}

TEST(CacheAnnotationsTest, InvalidValuesAreProblemsAndTheCacheStaysOnWithDefaults) {
  nlohmann::json annotations = {
      {"sluice.io/cache", "on"},
      {"sluice.io/cache-key", "host path fragment"},
      {"sluice.io/cache-bypass", "session"},
      {"sluice.io/cache-methods", "GET POST"},
      {"sluice.io/cache-default-ttl", "forever"},
  };
  AnnotatedPolicy result = RoutePolicyFromAnnotations(&annotations);
  ASSERT_EQ(result.problems.size(), 4u);
  EXPECT_NE(result.problems[1].message.find("unknown part \"fragment\""), std::string::npos)
      << result.problems[1].message;
  const v1::CachePolicy& c = result.policy.cache();
  EXPECT_TRUE(c.enabled());
  EXPECT_FALSE(c.has_key());
  EXPECT_EQ(c.bypass_cookies_size() + c.bypass_headers_size() + c.methods_size(), 0);
  EXPECT_EQ(c.default_ttl_seconds(), 0u);
}

TEST(CacheAnnotationsTest, OptionsWithoutTheCacheOnDoNothing) {
  nlohmann::json annotations = {{"sluice.io/cache-key", "host path"}};
  AnnotatedPolicy result = RoutePolicyFromAnnotations(&annotations);
  EXPECT_FALSE(result.policy.has_cache());
}

}  // namespace
}  // namespace sluice::translate
