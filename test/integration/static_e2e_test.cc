// Static content end to end: sluice-controller reading manifests (a
// labelled ConfigMap site and StaticSite directory sites), sluice-proxy,
// and real clients (curl, and a raw socket for the paths curl would
// normalise). Every traversal attempt is refused with 400 or 404, and the
// secret the test plants outside the site's root never appears in any
// answer, whatever the path or symlink.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <thread>

#include "dataplane/fs/page_cache.h"
#include "test/support/http_client.h"
#include "test/support/shell.h"
#include "test/support/sluice_cluster.h"

namespace sluice {
namespace {

using testing::Fetch;
using testing::ShellOutput;

constexpr const char* kSecret = "TOP-SECRET-e2e-7f3a";

// cm.local: the ConfigMap site under /site. dir.local: the StaticSite
// directory. spa.local: the same directory as a single-page app.
constexpr const char* kManifests = R"yaml(apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: sluice
  annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
spec:
  controller: sluice.io/ingress-controller
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: landing
  namespace: web
  labels: {sluice.io/static-site: "true"}
  annotations: {sluice.io/static-cache-control: "public, max-age=60"}
data:
  index.html: "<h1>landing</h1>"
  css__site.css: "body { color: red }"
  app.js: "console.log('plain')"
binaryData:
  app.js.gz: R1otU0lCTElORw==
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unlabelled, namespace: web}
data: {index.html: "must not be served"}
---
apiVersion: sluice.io/v1alpha1
kind: StaticSite
metadata: {name: docs, namespace: web}
spec:
  root: ROOT
  precompressed: true
  cacheControl: "public, max-age=300"
---
apiVersion: sluice.io/v1alpha1
kind: StaticSite
metadata: {name: app, namespace: web}
spec:
  root: ROOT
  spaFallback: index.html
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: sites, namespace: web}
spec:
  rules:
    - host: cm.local
      http:
        paths: [{path: /site, pathType: Prefix, backend: {resource: {kind: ConfigMap, name: landing}}}]
    - host: dir.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {resource: {apiGroup: sluice.io, kind: StaticSite, name: docs}}}]
    - host: spa.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {resource: {apiGroup: sluice.io, kind: StaticSite, name: app}}}]
    - host: bad.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {resource: {kind: ConfigMap, name: unlabelled}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: compressed
  namespace: web
  annotations: {sluice.io/compression: "on"}
spec:
  rules:
    - host: gz.local
      http:
        paths: [{path: /, pathType: Prefix, backend: {resource: {apiGroup: sluice.io, kind: StaticSite, name: docs}}}]
)yaml";

std::string MakeBase() {
  char pattern[] = "/tmp/sluice-static-e2e-XXXXXX";
  return mkdtemp(pattern) != nullptr ? pattern : "";
}

void Write(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

std::string HeaderValue(const std::string& headers, const std::string& name) {
  std::smatch m;
  if (std::regex_search(headers, m, std::regex("(^|\\n)" + name + ": ([^\\r\\n]*)", std::regex::icase))) {
    return m[2];
  }
  return "";
}

class StaticEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(base_.empty());
    // The site, and beside it (outside the root) the secret and links to it.
    root_ = base_ + "/volume/site";
    Write(root_ + "/index.html", "<h1>docs index</h1>");
    Write(root_ + "/sub/index.html", "sub index");
    Write(root_ + "/sub/page.html", "sub page");
    Write(root_ + "/app.3f2a9c1e.js", "hashed");
    Write(root_ + "/app.js", "plain app js");
    Write(root_ + "/app.js.br", "BROTLI-SIBLING");
    Write(root_ + "/app.js.zst", "ZSTD-SIBLING");
    Write(root_ + "/.env", std::string("DOTFILE ") + kSecret);
    std::string big;
    for (int i = 0; i < 100000; ++i) big.push_back(static_cast<char>('a' + i % 26));
    Write(root_ + "/big.txt", big);
    Write(base_ + "/volume/secret.txt", kSecret);
    Write(base_ + "/secret.txt", kSecret);
    ASSERT_EQ(symlink("../secret.txt", (root_ + "/leak.txt").c_str()), 0);
    ASSERT_EQ(symlink((base_ + "/secret.txt").c_str(), (root_ + "/absolute.txt").c_str()), 0);
    ASSERT_EQ(symlink("..", (root_ + "/up").c_str()), 0);
    ASSERT_EQ(symlink(("/proc/self/root/" + base_.substr(1) + "/secret.txt").c_str(), (root_ + "/magic.txt").c_str()), 0);

    std::string manifests = kManifests;
    manifests = std::regex_replace(manifests, std::regex("ROOT"), root_);
    cluster_.WriteManifest("all.yaml", manifests);
    cluster_.Start();
    ASSERT_TRUE(cluster_.WaitReady()) << cluster_.Logs();
    ASSERT_TRUE(testing::WaitUntil([&] { return Fetch(cluster_.http_port(), "dir.local", "/").status == 200; },
                                   std::chrono::seconds(15), std::chrono::milliseconds(50)))
        << cluster_.Logs();
  }

  void TearDown() override {
    if (HasFailure()) std::cerr << cluster_.Logs();
    std::filesystem::remove_all(base_);
  }

  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(cluster_.http_port()) + path;
  }
  // curl through the proxy: the headers (the body to `body_` when asked).
  std::string Curl(const std::string& host, const std::string& path, const std::string& flags = "") {
    std::string headers = cluster_.Path("curl.h");
    body_file_ = cluster_.Path("curl.body");
    std::filesystem::remove(headers);
    std::filesystem::remove(body_file_);
    ShellOutput("timeout 30 curl -sS " + flags + " -H 'Host: " + host + "' -D " + headers + " -o " + body_file_ +
                " '" + Url(path) + "'");
    body_ = testing::ReadFile(body_file_);
    return testing::ReadFile(headers);
  }

  std::string base_ = MakeBase();
  std::string root_;
  std::string body_file_, body_;
  testing::SluiceCluster cluster_{{.name = "static-e2e",
                                   .workers = 1,
                                   .access_log = "off",
                                   .extra_controller_flags = {"--static-site-root", base_ + "/volume"}}};
};

int StatusOf(const std::string& headers) {
  std::smatch m;
  return std::regex_search(headers, m, std::regex("^HTTP/[0-9.]+ (\\d+)")) ? std::stoi(m[1]) : 0;
}

TEST_F(StaticEndToEndTest, ServesTheConfigMapSite) {
  std::string headers = Curl("cm.local", "/site/");
  EXPECT_EQ(StatusOf(headers), 200) << headers;
  EXPECT_EQ(body_, "<h1>landing</h1>");
  EXPECT_EQ(HeaderValue(headers, "content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(HeaderValue(headers, "cache-control"), "public, max-age=60");
  headers = Curl("cm.local", "/site/css/site.css");
  EXPECT_EQ(body_, "body { color: red }");
  EXPECT_EQ(HeaderValue(headers, "content-type"), "text/css; charset=utf-8");
  // The precompressed sibling from binaryData.
  headers = Curl("cm.local", "/site/app.js", "-H 'Accept-Encoding: gzip'");
  EXPECT_EQ(HeaderValue(headers, "content-encoding"), "gzip") << headers;
  EXPECT_EQ(body_, "GZ-SIBLING");
  EXPECT_EQ(HeaderValue(headers, "vary"), "Accept-Encoding");
  headers = Curl("cm.local", "/site");
  EXPECT_EQ(StatusOf(headers), 301);
  EXPECT_EQ(HeaderValue(headers, "location"), "/site/");
  // Validators from the content: 304 on a match.
  headers = Curl("cm.local", "/site/css/site.css");
  std::string etag = HeaderValue(headers, "etag");
  ASSERT_FALSE(etag.empty());
  headers = Curl("cm.local", "/site/css/site.css", "-H 'If-None-Match: " + etag + "'");
  EXPECT_EQ(StatusOf(headers), 304) << headers;
  EXPECT_EQ(body_, "");
  // An unlabelled ConfigMap is not a site (and not stored at all).
  EXPECT_EQ(Fetch(cluster_.http_port(), "bad.local", "/").status, 404);
}

TEST_F(StaticEndToEndTest, ServesTheDirectorySite) {
  std::string headers = Curl("dir.local", "/");
  EXPECT_EQ(StatusOf(headers), 200) << headers;
  EXPECT_EQ(body_, "<h1>docs index</h1>");
  EXPECT_FALSE(HeaderValue(headers, "last-modified").empty());
  EXPECT_EQ(HeaderValue(headers, "accept-ranges"), "bytes");
  EXPECT_EQ(HeaderValue(headers, "cache-control"), "public, max-age=300");
  EXPECT_EQ(StatusOf(Curl("dir.local", "/sub/")), 200);
  EXPECT_EQ(body_, "sub index");
  headers = Curl("dir.local", "/sub");
  EXPECT_EQ(StatusOf(headers), 301);
  EXPECT_EQ(HeaderValue(headers, "location"), "/sub/");
  headers = Curl("dir.local", "/app.3f2a9c1e.js");
  EXPECT_EQ(HeaderValue(headers, "cache-control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(HeaderValue(headers, "content-type"), "text/javascript; charset=utf-8");
  // HEAD: the length, no body; other methods: 405 with Allow.
  headers = Curl("dir.local", "/big.txt", "-I");
  EXPECT_EQ(StatusOf(headers), 200);
  EXPECT_EQ(HeaderValue(headers, "content-length"), "100000");
  EXPECT_EQ(body_.find("abcdefghij"), std::string::npos);  // (curl -I writes the head as its output)
  headers = Curl("dir.local", "/big.txt", "-X POST -d x=1");
  EXPECT_EQ(StatusOf(headers), 405);
  EXPECT_EQ(HeaderValue(headers, "allow"), "GET, HEAD");
  // The whole big file, byte for byte.
  Curl("dir.local", "/big.txt");
  EXPECT_EQ(ShellOutput("cmp " + body_file_ + " " + root_ + "/big.txt && echo same"), "same\n");
  // Dotfiles hidden, no listing, missing files 404.
  EXPECT_EQ(StatusOf(Curl("dir.local", "/.env")), 404);
  EXPECT_EQ(StatusOf(Curl("dir.local", "/nope.html")), 404);
  Write(root_ + "/empty/placeholder.txt", "x");
  EXPECT_EQ(StatusOf(Curl("dir.local", "/empty/")), 404);
}

// Plain HTTP/1.1 sends files with sendfile(2): a client slower than the
// socket buffer makes the proxy wait for the socket again and again, and
// a range starts mid-file; every byte must still be right.
TEST_F(StaticEndToEndTest, SendsALargeFileToASlowClientByteForByte) {
  std::string large;
  for (int i = 0; i < 3 * 1024 * 1024; ++i) large.push_back(static_cast<char>('A' + (i * 7 + i / 4099) % 26));
  Write(root_ + "/large.bin", large);
  std::string headers = Curl("dir.local", "/large.bin", "--limit-rate 6M");
  EXPECT_EQ(StatusOf(headers), 200) << headers;
  EXPECT_EQ(ShellOutput("cmp " + body_file_ + " " + root_ + "/large.bin && echo same"), "same\n");
  headers = Curl("dir.local", "/large.bin", "-r 1000001-");
  EXPECT_EQ(StatusOf(headers), 206) << headers;
  EXPECT_EQ(body_, large.substr(1000001));
}

TEST_F(StaticEndToEndTest, AnswersRangesAndConditionals) {
  std::string headers = Curl("dir.local", "/big.txt", "-r 0-9");
  EXPECT_EQ(StatusOf(headers), 206) << headers;
  EXPECT_EQ(HeaderValue(headers, "content-range"), "bytes 0-9/100000");
  EXPECT_EQ(body_, "abcdefghij");
  headers = Curl("dir.local", "/big.txt", "-r -4");
  EXPECT_EQ(body_, "abcd");  // 99996 = 26 * 3846: the last four start at "a"
  headers = Curl("dir.local", "/big.txt", "-r 0-1,26-27");
  EXPECT_EQ(StatusOf(headers), 206);
  std::string type = HeaderValue(headers, "content-type");
  ASSERT_EQ(type.rfind("multipart/byteranges; boundary=", 0), 0u) << headers;
  std::string boundary = type.substr(type.find('=') + 1);
  EXPECT_NE(body_.find("content-range: bytes 0-1/100000\r\n\r\nab\r\n--" + boundary), std::string::npos) << body_;
  EXPECT_NE(body_.find("content-range: bytes 26-27/100000\r\n\r\nab\r\n--" + boundary + "--"), std::string::npos);
  EXPECT_EQ(std::to_string(body_.size()), HeaderValue(headers, "content-length"));
  headers = Curl("dir.local", "/big.txt", "-r 200000-");
  EXPECT_EQ(StatusOf(headers), 416);
  EXPECT_EQ(HeaderValue(headers, "content-range"), "bytes */100000");

  headers = Curl("dir.local", "/index.html");
  std::string etag = HeaderValue(headers, "etag"), modified = HeaderValue(headers, "last-modified");
  EXPECT_EQ(StatusOf(Curl("dir.local", "/index.html", "-H 'If-None-Match: " + etag + "'")), 304);
  EXPECT_EQ(StatusOf(Curl("dir.local", "/index.html", "-H 'If-Modified-Since: " + modified + "'")), 304);
  EXPECT_EQ(StatusOf(Curl("dir.local", "/index.html", "-H 'If-None-Match: \"other\"'")), 200);
  // If-Range: a stale validator gets the whole file.
  headers = Curl("dir.local", "/index.html", "-r 0-3 -H 'If-Range: \"stale\"'");
  EXPECT_EQ(StatusOf(headers), 200);
  headers = Curl("dir.local", "/index.html", "-r 0-3 -H 'If-Range: " + etag + "'");
  EXPECT_EQ(StatusOf(headers), 206);
  EXPECT_EQ(body_, "<h1>");
}

TEST_F(StaticEndToEndTest, ServesPrecompressedSiblingsAndTheSpaFallback) {
  std::string headers = Curl("dir.local", "/app.js", "-H 'Accept-Encoding: gzip, br;q=0.8, zstd;q=0.9'");
  EXPECT_EQ(HeaderValue(headers, "content-encoding"), "zstd") << headers;  // no .gz: zstd has the higher q
  EXPECT_EQ(body_, "ZSTD-SIBLING");
  EXPECT_EQ(HeaderValue(headers, "vary"), "Accept-Encoding");
  headers = Curl("dir.local", "/app.js", "-H 'Accept-Encoding: br'");
  EXPECT_EQ(body_, "BROTLI-SIBLING");
  headers = Curl("dir.local", "/app.js", "-H 'Accept-Encoding: gzip'");
  EXPECT_EQ(HeaderValue(headers, "content-encoding"), "");
  EXPECT_EQ(body_, "plain app js");

  headers = Curl("spa.local", "/users/42/settings");
  EXPECT_EQ(StatusOf(headers), 200);
  EXPECT_EQ(body_, "<h1>docs index</h1>");
  Curl("spa.local", "/sub/page.html");
  EXPECT_EQ(body_, "sub page");
  // No precompressed siblings on this site (the option is off).
  headers = Curl("spa.local", "/app.js", "-H 'Accept-Encoding: br'");
  EXPECT_EQ(body_, "plain app js");
}

TEST_F(StaticEndToEndTest, RefusesEveryTraversal) {
  const char* attempts[] = {
      "/../secret.txt",         "/../../secret.txt",          "/%2e%2e/secret.txt",
      "/%2E%2E/%2e%2e/secret.txt", "/.%2e/secret.txt",        "/sub/%2e%2e%2f%2e%2e%2fsecret.txt",
      "/sub%2f..%2f..%2fsecret.txt", "/..%5csecret.txt",      "/sub\\..\\..\\secret.txt",
      "/secret.txt%00.html",    "/leak.txt",                  "/absolute.txt",
      "/magic.txt",             "/up/secret.txt",             "/up/up/secret.txt",
      "/up/site/index.html",    "/.env",                      "/%2eenv",
      "//../secret.txt",        "/sub/../../secret.txt",      "/%252e%252e/secret.txt",
  };
  for (const char* host : {"dir.local", "spa.local"}) {
    for (const char* path : attempts) {
      testing::Response response = Fetch(cluster_.http_port(), host, path);
      // The SPA site answers its fallback for a plain miss: never the secret.
      bool refused = response.status == 400 || response.status == 404 ||
                     (std::string(host) == "spa.local" && response.body == "<h1>docs index</h1>");
      EXPECT_TRUE(refused) << host << path << " -> " << response.status << " " << response.body;
      EXPECT_EQ(response.body.find(kSecret), std::string::npos) << host << path;
    }
  }
  // curl with --path-as-is too (its own request line), and the ConfigMap site.
  for (const char* path : {"/../secret.txt", "/site/../../secret.txt"}) {
    Curl("cm.local", path, "--path-as-is");
    EXPECT_EQ(body_.find(kSecret), std::string::npos) << path;
  }
  Curl("dir.local", "/../../secret.txt", "--path-as-is");
  EXPECT_EQ(body_.find(kSecret), std::string::npos);
}

// The worker's open-file cache under load: a file replaced on disk the way
// a deploy does it (a new file renamed into place) is served new once the
// cache's validity interval (the default, 1 s) has passed; every response
// meanwhile is the whole old or the whole new file, and a connection that
// saw the new one never sees the old one again. /metrics then shows the
// cache answering (hits) and the route's static counters, and passes
// promtool.
TEST_F(StaticEndToEndTest, ServesAReplacedFileAfterTheOpenFileCacheInterval) {
  const std::string before(3000, 'o'), after(5000, 'n');
  Write(root_ + "/deploy.js", before);
  std::atomic<bool> stop{false};
  std::atomic<int> requests{0}, news{0}, wrong{0}, old_after_new{0};
  auto load = [&] {
    testing::HttpConnection connection(cluster_.http_port());
    bool seen_new = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (int i = 0; i < 200000 && !stop && std::chrono::steady_clock::now() < deadline; ++i) {
      testing::Response response = connection.Get("dir.local", "/deploy.js");
      ++requests;
      if (response.status != 200 || (response.body != before && response.body != after)) {
        ++wrong;
        return;
      }
      if (response.body == after) {
        seen_new = true;
        ++news;
      } else if (seen_new) {
        ++old_after_new;
      }
    }
  };
  std::thread first(load), second(load);
  EXPECT_TRUE(testing::WaitUntil([&] { return requests >= 200 || wrong > 0; }, std::chrono::seconds(15),
                                 std::chrono::milliseconds(10)));
  Write(root_ + "/deploy.js.tmp", after);
  ASSERT_EQ(rename((root_ + "/deploy.js.tmp").c_str(), (root_ + "/deploy.js").c_str()), 0);
  const int at_replacement = requests;
  EXPECT_TRUE(testing::WaitUntil([&] { return news >= 200 || wrong > 0; }, std::chrono::seconds(20),
                                 std::chrono::milliseconds(10)));
  stop = true;
  first.join();
  second.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(old_after_new, 0);
  EXPECT_GE(news, 200) << requests << " requests, " << at_replacement << " before the replacement";
  EXPECT_EQ(Fetch(cluster_.http_port(), "dir.local", "/deploy.js").body, after);

  EXPECT_EQ(StatusOf(Curl("dir.local", "/deploy.js", "-r 0-9")), 206);
  EXPECT_EQ(StatusOf(Curl("dir.local", "/missing.js")), 404);
  std::string metrics = Fetch(cluster_.admin_port(), "127.0.0.1", "/metrics").body;
  auto value = [&](const std::string& family, const std::string& extra) {
    std::smatch m;
    std::regex series(family + "\\{[^}]*host=\"dir\\.local\"[^}]*" + extra + "[^}]*\\} ([0-9]+)");
    return std::regex_search(metrics, m, series) ? std::stoll(m[1]) : -1;
  };
  // Thousands of requests, a handful of opens: the cache answered.
  EXPECT_GE(value("sluice_route_static_open_cache_hits_total", ""), 1000) << metrics;
  EXPECT_GE(value("sluice_route_static_open_cache_misses_total", ""), 2);
  EXPECT_GE(value("sluice_route_static_responses_total", "kind=\"full\""), requests.load());
  EXPECT_EQ(value("sluice_route_static_responses_total", "kind=\"partial\""), 1);
  EXPECT_GE(value("sluice_route_static_responses_total", "kind=\"not_found\""), 1);
  EXPECT_GT(value("sluice_route_static_sent_bytes_total", ""), 3000ll * requests);
  // A ConfigMap site has no open-file cache: its lookups are neither.
  EXPECT_NE(metrics.find("sluice_route_static_responses_total{namespace=\"web\",ingress=\"sites\",host=\"cm.local\""),
            std::string::npos);
  const char* promtool = "/usr/bin/promtool";
  if (access(promtool, X_OK) == 0) {
    std::string path = cluster_.Path("metrics.txt");
    std::ofstream(path) << metrics;
    EXPECT_EQ(ShellOutput(std::string("timeout 30 ") + promtool + " check metrics < " + path + " 2>&1; echo exit=$?"),
              "exit=0\n");
  }
}

// A small file (kept whole in the worker's open-file cache) rewritten in
// place, as an editor or `cp` over it does (the same inode, another
// content and size): every answer on a keep-alive connection is the whole
// old file or the whole new one, with its own length and ETag, and the new
// one is served once the interval (the default, 1 s) has passed. (With a
// kept descriptor instead, the old length over the new bytes sent a mix.)
TEST_F(StaticEndToEndTest, ServesASmallFileRewrittenInPlaceWholeOldThenWholeNew) {
  const std::string before(100, 'o');
  const std::string after = std::string(150, 'n');
  const std::string path = root_ + "/rewritten.css";
  Write(path, before);
  testing::HttpConnection connection(cluster_.http_port());
  testing::Response first = connection.Get("dir.local", "/rewritten.css");
  ASSERT_EQ(first.status, 200);
  ASSERT_EQ(first.body, before);
  const std::string old_etag = first.Header("etag");
  struct stat original;
  ASSERT_EQ(stat(path.c_str(), &original), 0);
  {
    // Longer bytes written over the old ones: never an empty or short file.
    std::fstream file(path, std::ios::binary | std::ios::in | std::ios::out);
    file.write(after.data(), static_cast<std::streamsize>(after.size()));
  }
  struct stat rewritten;
  ASSERT_EQ(stat(path.c_str(), &rewritten), 0);
  ASSERT_EQ(rewritten.st_ino, original.st_ino);
  ASSERT_EQ(rewritten.st_size, 150);
  int olds = 0, news = 0, wrong = 0;
  std::string new_etag;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (int i = 0; i < 100000 && news < 50 && wrong == 0 && std::chrono::steady_clock::now() < deadline; ++i) {
    testing::Response response = connection.Get("dir.local", "/rewritten.css");
    if (response.status == 200 && response.body == before && response.Header("etag") == old_etag) {
      EXPECT_EQ(news, 0) << "the old file after the new one";
      ++olds;
    } else if (response.status == 200 && response.body == after && response.Header("etag") != old_etag) {
      new_etag = response.Header("etag");
      ++news;
    } else {
      ++wrong;
      ADD_FAILURE() << response.status << " " << response.body.size() << " bytes: " << response.body.substr(0, 200);
    }
  }
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(news, 50) << olds << " old answers first";
  EXPECT_EQ(connection.Get("dir.local", "/rewritten.css").Header("content-length"), "150");
  EXPECT_EQ(StatusOf(Curl("dir.local", "/rewritten.css", "-H 'If-None-Match: " + new_etag + "'")), 304);
}

// Files never seen are opened on the I/O pool while their exchange waits,
// over HTTP/2 (h2c: a stream per connection with curl, then 8 streams at
// once on one connection with nghttp, paused and resumed independently)
// and HTTP/1.1, each answered with its own bytes. (curl with several URLs
// on one h2c connection gets "Error in the HTTP2 framing layer" from its
// second stream on, before this change as well (7f7325a), where nghttp's
// streams on one connection all succeed: not investigated yet.)
TEST_F(StaticEndToEndTest, AnswersRequestsThatWaitedForTheIoPool) {
  for (int i = 0; i < 8; ++i) {
    const std::string name = "/pool/f" + std::to_string(i) + ".txt";
    Write(root_ + name, "file " + std::to_string(i) + "\n");
    EXPECT_EQ(ShellOutput("timeout 30 curl -sS --http2-prior-knowledge -H 'Host: dir.local' '" + Url(name) + "' 2>&1"),
              "file " + std::to_string(i) + "\n");
  }
  std::string urls, expected;
  for (int i = 0; i < 8; ++i) {
    const std::string name = "/pool/g" + std::to_string(i) + ".txt";
    Write(root_ + name, "stream " + std::to_string(i) + "\n");
    urls += " '" + Url(name) + "'";
    expected += "stream " + std::to_string(i) + "\n";
  }
  EXPECT_EQ(ShellOutput("timeout 30 nghttp -H ':authority: dir.local'" + urls + " 2>&1 | sort"), expected);
  Write(root_ + "/pool/h1.txt", "over http/1.1");
  EXPECT_EQ(Fetch(cluster_.http_port(), "dir.local", "/pool/h1.txt").body, "over http/1.1");
  EXPECT_EQ(Fetch(cluster_.http_port(), "dir.local", "/pool/nothing.txt").status, 404);
}

// A file whose pages are not in the page cache is read in by an I/O
// thread before the loop sends it (sendfile on HTTP/1.1, pread on h2c):
// the loop never waits on the disk. The test drops the file's pages
// (posix_fadvise DONTNEED of a synced file) and sees the offload counted
// and every byte right.
TEST_F(StaticEndToEndTest, ReadsFilesNotInThePageCacheOnTheIoPool) {
  std::string cold;
  for (int i = 0; i < 4 * 1024 * 1024; ++i) cold.push_back(static_cast<char>('a' + (i * 13 + i / 8191) % 26));
  const std::string path = root_ + "/cold.bin";
  Write(path, cold);
  auto drop = [&] {
    int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0) return false;
    fsync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    const bool dropped = fs::RangeResidency(fd, 0, cold.size()) == fs::Residency::kNotResident;
    close(fd);
    return dropped;
  };
  if (!drop()) GTEST_SKIP() << "no cachestat(2), or this filesystem keeps its pages";
  auto offloaded = [&] {
    std::string metrics = Fetch(cluster_.admin_port(), "127.0.0.1", "/metrics").body;
    std::smatch m;
    return std::regex_search(metrics, m, std::regex("\\nsluice_file_reads_offloaded_total (\\d+)")) ? std::stoll(m[1])
                                                                                                  : -1;
  };
  ASSERT_EQ(offloaded(), 0);
  std::string headers = Curl("dir.local", "/cold.bin");
  EXPECT_EQ(StatusOf(headers), 200) << headers;
  EXPECT_EQ(ShellOutput("cmp " + body_file_ + " " + path + " && echo same"), "same\n");
  const int64_t after_http1 = offloaded();
  EXPECT_GE(after_http1, 1);
  ASSERT_TRUE(drop());
  headers = Curl("dir.local", "/cold.bin", "--http2-prior-knowledge");
  EXPECT_EQ(StatusOf(headers), 200) << headers;
  EXPECT_EQ(ShellOutput("cmp " + body_file_ + " " + path + " && echo same"), "same\n");
  EXPECT_GT(offloaded(), after_http1);
  // Once in the page cache, nothing more is offloaded.
  const int64_t warm = offloaded();
  Curl("dir.local", "/cold.bin");
  EXPECT_EQ(offloaded(), warm);
}

// Compression on a static site's Ingress compresses files as it does an
// origin's responses (nginx's gzip does the same for its files): the
// client gets gzip, br or zstd bytes that decode to the file, a weakened
// ETag that still validates, and a precompressed sibling when one exists.
// Ranges, HEAD and small files stay identity.
TEST_F(StaticEndToEndTest, CompressesFilesOnTheFlyWhereTheIngressSaysSo) {
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "line " + std::to_string(i % 37) + " of a compressible stylesheet\n";
  Write(root_ + "/style.css", text);
  for (const char* coding : {"gzip", "br", "zstd"}) {
    std::string headers = Curl("gz.local", "/style.css", std::string("-H 'Accept-Encoding: ") + coding + "'");
    EXPECT_EQ(StatusOf(headers), 200) << headers;
    EXPECT_EQ(HeaderValue(headers, "content-encoding"), coding) << headers;
    EXPECT_EQ(HeaderValue(headers, "vary"), "Accept-Encoding") << headers;
    EXPECT_EQ(HeaderValue(headers, "content-length"), "") << headers;
    EXPECT_LT(body_.size(), text.size() / 4) << coding;
    const std::string decode = std::string(coding) == "gzip" ? "gzip -dc" : std::string(coding) == "br" ? "brotli -dc" : "zstd -dcq";
    EXPECT_EQ(ShellOutput(decode + " < " + body_file_ + " | cmp - " + root_ + "/style.css && echo same"), "same\n")
        << coding;
  }
  // The weakened ETag validates the compressed representation.
  std::string headers = Curl("gz.local", "/style.css", "-H 'Accept-Encoding: gzip'");
  const std::string etag = HeaderValue(headers, "etag");
  ASSERT_EQ(etag.substr(0, 2), "W/") << headers;
  headers = Curl("gz.local", "/style.css", "-H 'Accept-Encoding: gzip' -H 'If-None-Match: " + etag + "'");
  EXPECT_EQ(StatusOf(headers), 304) << headers;
  // Not compressed: no Accept-Encoding, a range, HEAD, a file under the
  // minimum length, a precompressed sibling (served as it is).
  headers = Curl("gz.local", "/style.css");
  EXPECT_EQ(HeaderValue(headers, "content-encoding"), "");
  EXPECT_EQ(body_, text);
  headers = Curl("gz.local", "/style.css", "-H 'Accept-Encoding: gzip' -r 0-9");
  EXPECT_EQ(StatusOf(headers), 206) << headers;
  EXPECT_EQ(body_, text.substr(0, 10));
  headers = Curl("gz.local", "/style.css", "-H 'Accept-Encoding: gzip' -I");
  EXPECT_EQ(HeaderValue(headers, "content-encoding"), "");
  headers = Curl("gz.local", "/sub/page.html", "-H 'Accept-Encoding: gzip'");
  EXPECT_EQ(HeaderValue(headers, "content-encoding"), "");
  EXPECT_EQ(body_, "sub page");
  headers = Curl("gz.local", "/app.js", "-H 'Accept-Encoding: br'");
  EXPECT_EQ(HeaderValue(headers, "content-encoding"), "br");
  EXPECT_EQ(body_, "BROTLI-SIBLING");
  // Without the annotation the same site's file goes as it is.
  headers = Curl("dir.local", "/style.css", "-H 'Accept-Encoding: gzip'");
  EXPECT_EQ(HeaderValue(headers, "content-encoding"), "");
  EXPECT_EQ(body_, text);
}

}  // namespace
}  // namespace sluice
