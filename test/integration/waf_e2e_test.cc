// The application firewall end to end: sluice-controller reading manifests,
// sluice-proxy with the OWASP CRS (Debian's modsecurity-crs) and the echo
// backend, over real loopback sockets. What is checked is what a client,
// the backend and an operator see: the 403 with its transaction ID, whether
// the request reached the backend, the audit line with the rule IDs, the
// counters in /metrics, the controller's warning for a refused snippet.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "test/support/http_client.h"
#include "test/support/manifests.h"
#include "test/support/process.h"
#include "test/support/sluice_cluster.h"

namespace sluice {
namespace {

using testing::Fetch;
using testing::HttpConnection;
using testing::Response;

// block.local: the CRS at paranoia 1, blocking; a 16 KiB inspection limit
// (413 above); a modsecurity-snippet that must be refused while the rest
// applies. detect.local: the same, logging only. excluded.local: blocking
// with the SQLi and XSS rule families excluded. pass.local: 1 KiB
// inspected, the rest passes. plain.local: no firewall.
std::string Manifests(int backend_port) {
  using testing::PrefixIngress;
  return testing::DefaultIngressClass() + "---\n" + testing::ServiceAndSlice("app", "waf", backend_port) + "---\n" +
         PrefixIngress("block", "waf", "block.local", "app",
                       "sluice.io/waf: \"block\"\nsluice.io/waf-body-limit: \"16k\"\n"
                       "nginx.ingress.kubernetes.io/modsecurity-snippet: |\n  SecRuleEngine Off\n") +
         "---\n" + PrefixIngress("detect", "waf", "detect.local", "app", "sluice.io/waf: \"detect\"\n") + "---\n" +
         PrefixIngress("excluded", "waf", "excluded.local", "app",
                       "sluice.io/waf: \"block\"\nsluice.io/waf-exclude-rules: \"attack-sqli, attack-xss\"\n") +
         "---\n" +
         PrefixIngress("pass", "waf", "pass.local", "app",
                       "sluice.io/waf: \"block\"\nsluice.io/waf-body-limit: \"1k\"\n"
                       "sluice.io/waf-body-over-limit: \"pass\"\n") +
         "---\n" + PrefixIngress("plain", "waf", "plain.local", "app");
}

struct Request {
  std::string name;
  std::string method = "GET";
  std::string path;
  std::map<std::string, std::string> headers;
  std::string content_type;
  std::string body;
  std::string family;  // the CRS rule family expected in the audit line: "942" (SQLi), "941" (XSS)
};

// SQLi and XSS in each place a client can put them. Each has its own path,
// so the backend's count says whether it got through.
std::vector<Request> Attacks() {
  const std::string form = "application/x-www-form-urlencoded";
  return {
      {"SQLi in the query", "GET", "/attack/query-sqli?id=1%27%20OR%20%271%27=%271", {}, "", "", "942"},
      {"XSS in the query", "GET", "/attack/query-xss?q=%3Cscript%3Ealert(1)%3C/script%3E", {}, "", "", "941"},
      {"SQLi in a form", "POST", "/attack/form-sqli", {}, form, "username=admin%27%20OR%201=1--&password=x", "942"},
      {"XSS in a form", "POST", "/attack/form-xss", {}, form, "comment=%3Cscript%3Ealert(document.cookie)%3C/script%3E",
       "941"},
      {"SQLi in JSON", "POST", "/attack/json-sqli", {}, "application/json",
       R"({"id": "1 UNION SELECT username, password FROM users--"})", "942"},
      {"XSS in JSON", "POST", "/attack/json-xss", {}, "application/json", R"({"comment": "<img src=x onerror=alert(1)>"})",
       "941"},
      {"SQLi in a header", "GET", "/attack/header-sqli", {{"referer", "http://x/' UNION SELECT password FROM users--"}}, "",
       "", "942"},
      {"XSS in a header", "GET", "/attack/header-xss", {{"user-agent", "<script>alert(1)</script>"}}, "", "", "941"},
  };
}

// The false-positive set kept beside this test (waf/clean_traffic.json).
std::vector<Request> CleanTraffic() {
  std::vector<Request> requests;
  nlohmann::json all = nlohmann::json::parse(testing::ReadFile(testing::RunfilePath("test/integration/waf/clean_traffic.json")));
  for (const auto& item : all) {
    Request r;
    r.name = item.at("name");
    r.method = item.at("method");
    r.path = item.at("path");
    r.content_type = item.value("content_type", "");
    r.body = item.value("body", "");
    if (item.contains("headers")) {
      for (const auto& [name, value] : item.at("headers").items()) r.headers[name] = value;
    }
    requests.push_back(std::move(r));
  }
  return requests;
}

class WafEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_port_ = testing::FreePort();
    backend_ = cluster_.StartEchoBackend("app", backend_port_);
    cluster_.WriteManifest("all.yaml", Manifests(backend_port_));
    cluster_.Start();
    ASSERT_TRUE(testing::WaitForPort(backend_port_));
    ASSERT_TRUE(cluster_.WaitReady()) << cluster_.Logs();
    ASSERT_TRUE(testing::WaitUntil(
        [&] {
          return Fetch(cluster_.http_port(), "pass.local", "/ready").status == 200 &&
                 Fetch(cluster_.http_port(), "block.local", "/ready").status == 200;
        },
        std::chrono::seconds(20), std::chrono::milliseconds(50)))
        << cluster_.Logs();
  }

  void TearDown() override {
    if (HasFailure()) std::cerr << cluster_.Logs() << "--- audit ---\n" << testing::ReadFile(audit_path_);
  }

  Response Send(const std::string& host, const Request& r) {
    std::string raw = r.method + " " + r.path + " HTTP/1.1\r\nHost: " + host + "\r\n";
    if (!r.headers.count("user-agent")) raw += "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Firefox/120.0\r\n";
    if (!r.headers.count("accept")) raw += "Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n";
    for (const auto& [name, value] : r.headers) raw += name + ": " + value + "\r\n";
    if (!r.content_type.empty()) raw += "Content-Type: " + r.content_type + "\r\n";
    if (!r.body.empty() || r.method == "POST" || r.method == "PUT" || r.method == "PATCH") {
      raw += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    }
    raw += "\r\n" + r.body;
    HttpConnection connection(cluster_.http_port(), "127.0.0.1", 15000);
    if (!connection.SendRaw(raw)) return Response{};
    return connection.ReadResponse(r.method == "HEAD");
  }

  // How many requests for `path` (without query) the backend received.
  int BackendCount(const std::string& path) {
    std::string clean(http::PathWithoutQuery(path));
    return std::stoi(Fetch(backend_port_, "127.0.0.1", "/control/count?path=" + clean).body);
  }

  // The audit line of a transaction, or "".
  std::string AuditLineOf(const std::string& transaction_id) {
    std::string log = testing::ReadFile(audit_path_);
    size_t at = log.find("\"transaction_id\":\"" + transaction_id + "\"");
    if (at == std::string::npos) return "";
    size_t start = log.rfind('\n', at);
    start = start == std::string::npos ? 0 : start + 1;
    return log.substr(start, log.find('\n', at) - start);
  }

  int backend_port_ = 0;
  std::unique_ptr<testing::Process> backend_;
  // The audit log in the test's own temporary directory (the cluster's is
  // chosen when it is built).
  std::string audit_path_ = std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp") +
                            "/waf-audit-" + std::to_string(getpid()) + "-" +
                            ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".log";
  testing::SluiceCluster cluster_{{.name = "waf-e2e",
                                   .workers = 2,
                                   .access_log = "access.log",
                                   .extra_proxy_flags = {"--waf-audit-log", audit_path_}}};
};

std::string TransactionIdIn(const std::string& body) {
  std::smatch m;
  return std::regex_search(body, m, std::regex("transaction ID: ([0-9a-zA-Z._-]+)")) ? std::string(m[1]) : "";
}

TEST_F(WafEndToEndTest, AttacksAreBlockedBeforeTheBackendAndAudited) {
  for (const Request& attack : Attacks()) {
    SCOPED_TRACE(attack.name);
    Response response = Send("block.local", attack);
    EXPECT_EQ(response.status, 403) << response.body;
    std::string id = TransactionIdIn(response.body);
    ASSERT_FALSE(id.empty()) << response.body;
    EXPECT_EQ(response.body.find("942"), std::string::npos) << "no rule in the reply: " << response.body;
    EXPECT_EQ(BackendCount(attack.path), 0) << "the backend must not see a blocked request";
    std::string line;
    ASSERT_TRUE(testing::WaitUntil([&] { return !(line = AuditLineOf(id)).empty(); }, std::chrono::seconds(5)))
        << testing::ReadFile(audit_path_);
    nlohmann::json audit = nlohmann::json::parse(line);
    EXPECT_EQ(audit["action"], "blocked");
    EXPECT_EQ(audit["route"], "waf/block");
    EXPECT_EQ(audit["client"], "127.0.0.1");
    bool family = false, anomaly = false;
    for (const auto& rule : audit["rule_ids"]) {
      family = family || std::to_string(rule.get<int>()).starts_with(attack.family);
      anomaly = anomaly || rule.get<int>() == 949110;
    }
    EXPECT_TRUE(family && anomaly) << line;
  }
  // Counters per route and rule.
  std::string metrics = Fetch(cluster_.admin_port(), "127.0.0.1", "/metrics").body;
  EXPECT_NE(metrics.find("sluice_waf_interventions_total{route=\"waf/block\",action=\"blocked\"} 8"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("sluice_waf_rule_matches_total{route=\"waf/block\",rule=\"949110\"} 8"), std::string::npos)
      << metrics;
  EXPECT_TRUE(std::regex_search(metrics, std::regex("sluice_waf_rule_matches_total\\{route=\"waf/block\",rule=\"942100\"\\} [1-9]")))
      << metrics;
}

TEST_F(WafEndToEndTest, DetectModeAndExclusionsLetTheSameRequestsThrough) {
  for (const Request& attack : Attacks()) {
    SCOPED_TRACE(attack.name);
    Response detected = Send("detect.local", attack);
    EXPECT_EQ(detected.status, 200) << detected.body;
    Response excluded = Send("excluded.local", attack);
    EXPECT_EQ(excluded.status, 200) << excluded.body;
    EXPECT_EQ(BackendCount(attack.path), 2);
  }
  std::string audit = testing::ReadFile(audit_path_);
  size_t detected_lines = 0;
  for (size_t at = audit.find("\"route\":\"waf/detect\""); at != std::string::npos;
       at = audit.find("\"route\":\"waf/detect\"", at + 1)) {
    ++detected_lines;
  }
  EXPECT_EQ(detected_lines, Attacks().size()) << audit;
  EXPECT_NE(audit.find("\"action\":\"detected\""), std::string::npos);
  EXPECT_EQ(audit.find("\"route\":\"waf/excluded\""), std::string::npos) << audit;
}

TEST_F(WafEndToEndTest, CleanTrafficOfARealisticAppIsNotBlocked) {
  std::vector<Request> clean = CleanTraffic();
  ASSERT_GE(clean.size(), 10u);
  for (const Request& request : clean) {
    SCOPED_TRACE(request.name);
    Response response = Send("block.local", request);
    EXPECT_EQ(response.status, 200) << response.body << "\n" << testing::ReadFile(audit_path_);
    // The backend got the body whole.
    if (!request.body.empty()) {
      EXPECT_NE(response.body.find("\"body_bytes\":" + std::to_string(request.body.size())), std::string::npos)
          << response.body;
    }
  }
  EXPECT_EQ(testing::ReadFile(audit_path_), "");
}

TEST_F(WafEndToEndTest, BodyOverTheInspectionLimit) {
  Request big{"20 KiB form", "POST", "/echo", {}, "application/x-www-form-urlencoded", "data=" + std::string(20000, 'a')};
  // block.local inspects 16 KiB and refuses more.
  EXPECT_EQ(Send("block.local", big).status, 413);
  EXPECT_EQ(BackendCount("/echo"), 0);
  // pass.local inspects the first KiB and passes the rest, whole.
  Response passed = Send("pass.local", big);
  EXPECT_EQ(passed.status, 200);
  EXPECT_EQ(passed.body, big.body);
  // An attack in the inspected part is still blocked.
  Request attack = big;
  attack.body = "q=1%27%20UNION%20SELECT%20password%20FROM%20users--&" + big.body;
  EXPECT_EQ(Send("pass.local", attack).status, 403);
  EXPECT_EQ(BackendCount("/echo"), 1);
  // Without a firewall nothing is held back.
  EXPECT_EQ(Send("plain.local", attack).status, 200);
}

TEST_F(WafEndToEndTest, ModSecuritySnippetIsRefusedLoudlyAndTheRestApplies) {
  std::string log = cluster_.Read("controller.log");
  std::smatch m;
  EXPECT_TRUE(std::regex_search(log, m, std::regex("modsecurity-snippet[^\\n]*refused"))) << log;
  // "SecRuleEngine Off" did not apply: still blocking.
  EXPECT_EQ(Send("block.local", Attacks()[0]).status, 403);
}

}  // namespace
}  // namespace sluice
