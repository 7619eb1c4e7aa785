// Static content without sockets: the path normaliser's table, media
// types (Range, validators and preconditions: dataplane/http/conditional), and the stage's
// answers for a site in memory and for a directory (with a secret planted
// beside the root and symlinks pointing at it).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>
#include <gtest/gtest.h>

#include "dataplane/metrics/series.h"
#include "dataplane/pipeline/mime_types.h"
#include "dataplane/pipeline/io_pool.h"
#include "dataplane/pipeline/open_file_cache.h"
#include "dataplane/pipeline/static_http.h"
#include "dataplane/pipeline/static_path.h"
#include "dataplane/pipeline/static_site.h"
#include "dataplane/pipeline/static_stage.h"

namespace sluice::pipeline {
namespace {

TEST(StaticPathTest, NormalisesOrRefuses) {
  struct Case {
    const char* path;
    int status;
    const char* relative;
  };
  const Case cases[] = {
      {"/", 0, ""},
      {"/index.html", 0, "index.html"},
      {"/a/b.css?v=../../x", 0, "a/b.css"},
      {"//a///b/./c", 0, "a/b/c"},
      {"/a%20b.txt", 0, "a b.txt"},
      {"/%e2%82%ac.txt", 0, "\xe2\x82\xac.txt"},
      {"/a/../b", 400, ""},
      {"/..", 400, ""},
      {"/%2e%2e/secret", 400, ""},
      {"/%2E%2e/secret", 400, ""},
      {"/.%2e/secret", 400, ""},
      {"/a/%2e%2e%2fsecret", 400, ""},
      {"/a%2fb", 400, ""},
      {"/a%2Fb", 400, ""},
      {"/a\\..\\b", 400, ""},
      {"/a%5c..%5cb", 400, ""},
      {"/a%00.html", 400, ""},
      {"/a%0a", 400, ""},
      {"/a%", 400, ""},
      {"/a%4", 400, ""},
      {"/a%zz", 400, ""},
      {"a/b", 400, ""},
      {"", 400, ""},
      {"*", 400, ""},
  };
  for (const Case& c : cases) {
    StaticPath got = NormalizeStaticPath(c.path);
    EXPECT_EQ(got.status, c.status) << c.path;
    if (c.status == 0) EXPECT_EQ(got.relative, c.relative) << c.path;
  }
  EXPECT_TRUE(NormalizeStaticPath("/a/.git/config").hidden);
  EXPECT_TRUE(NormalizeStaticPath("/%2eenv").hidden);
  EXPECT_FALSE(NormalizeStaticPath("/a.b/c").hidden);
  EXPECT_TRUE(NormalizeStaticPath("/docs/").trailing_slash);
  EXPECT_EQ(NormalizeStaticPath("/" + std::string(300, 'a')).status, 400);
}

TEST(StaticHttpTest, KnowsMediaTypesAndHashedNames) {
  EXPECT_EQ(MimeTypeFor("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(MimeTypeFor("a/b/APP.JS"), "text/javascript; charset=utf-8");
  EXPECT_EQ(MimeTypeFor("logo.svg"), "image/svg+xml");
  EXPECT_EQ(MimeTypeFor("font.woff2"), "font/woff2");
  EXPECT_EQ(MimeTypeFor("README"), "application/octet-stream");
  EXPECT_EQ(MimeTypeFor("dir.d/noext"), "application/octet-stream");
  EXPECT_TRUE(LooksHashed("assets/app.3f2a9c1e.js"));
  EXPECT_TRUE(LooksHashed("main-BdXw12Kq.css"));
  EXPECT_FALSE(LooksHashed("index.html"));
  EXPECT_FALSE(LooksHashed("jquery-ui.min.js"));
  EXPECT_FALSE(LooksHashed("3f2a9c1e11.js"));
}

// --- The stage -------------------------------------------------------------

ExchangeState Get(std::string path, std::string method = "GET") {
  ExchangeState state;
  state.request.method = std::move(method);
  state.request.path = std::move(path);
  return state;
}

std::string Body(ExchangeState& state) {
  std::string body;
  if (state.reply.source == nullptr) return std::string(state.reply.text());
  for (int i = 0; i < 10000; ++i) {
    BodySource::Chunk chunk = state.reply.source->Next(7);
    EXPECT_FALSE(chunk.failed);
    body.append(chunk.data);
    if (chunk.end || chunk.failed) break;
  }
  return body;
}

std::string Field(const ExchangeState& state, std::string_view name) {
  const std::string* value = state.reply.headers.Get(name);
  return value == nullptr ? "<none>" : *value;
}

StaticStage MemorySite(StaticStage::Options options = {}) {
  std::vector<std::pair<std::string, std::string>> files = {
      {"index.html", "<h1>home</h1>"},
      {"docs/index.html", "docs"},
      {"app.3f2a9c1e.js", "console.log(1)"},
      {"digits.txt", "0123456789"},
      {".env", "SECRET=1"},
      {"app.js", "plain js"},
      {"app.js.br", "brotli bytes"},
      {"app.js.gz", "gzip bytes"},
  };
  return StaticStage(std::make_shared<MemoryFiles>(files), std::move(options));
}

TEST(StaticStageTest, ServesFilesAndIndexes) {
  StaticStage stage = MemorySite();
  ExchangeState root = Get("/");
  ASSERT_EQ(stage.OnRequestHead(root), Verdict::kReply);
  EXPECT_EQ(root.reply.status, 200);
  EXPECT_EQ(Body(root), "<h1>home</h1>");
  EXPECT_EQ(Field(root, "content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(Field(root, "accept-ranges"), "bytes");
  EXPECT_EQ(Field(root, "last-modified"), "<none>");  // memory files have no time
  EXPECT_EQ(Field(root, "etag").front(), '"');

  ExchangeState docs = Get("/docs/?q=1");
  stage.OnRequestHead(docs);
  EXPECT_EQ(Body(docs), "docs");
  ExchangeState redirect = Get("/docs?q=1");
  stage.OnRequestHead(redirect);
  EXPECT_EQ(redirect.reply.status, 301);
  EXPECT_EQ(redirect.reply.location, "/docs/?q=1");

  ExchangeState missing = Get("/nope.html");
  stage.OnRequestHead(missing);
  EXPECT_EQ(missing.reply.status, 404);
  ExchangeState dotfile = Get("/.env");
  stage.OnRequestHead(dotfile);
  EXPECT_EQ(dotfile.reply.status, 404);
  ExchangeState traversal = Get("/%2e%2e/etc/passwd");
  stage.OnRequestHead(traversal);
  EXPECT_EQ(traversal.reply.status, 400);
}

TEST(StaticStageTest, AnswersHeadAndRefusesOtherMethods) {
  StaticStage stage = MemorySite();
  ExchangeState head = Get("/digits.txt", "HEAD");
  stage.OnRequestHead(head);
  EXPECT_EQ(head.reply.status, 200);
  EXPECT_TRUE(head.reply.head_only);
  EXPECT_EQ(Field(head, "content-length"), "10");
  http::ResponseHead built = BuildLocalReplyHead(head.reply, ReplyShape{});
  EXPECT_EQ(*built.headers.Get("content-length"), "10");
  EXPECT_FALSE(BodyFollows(head.reply, ReplyShape{}));

  ExchangeState post = Get("/digits.txt", "POST");
  stage.OnRequestHead(post);
  EXPECT_EQ(post.reply.status, 405);
  EXPECT_EQ(Field(post, "allow"), "GET, HEAD");
}

TEST(StaticStageTest, AnswersConditionalRequests) {
  StaticStage stage = MemorySite();
  ExchangeState first = Get("/digits.txt");
  stage.OnRequestHead(first);
  std::string etag = Field(first, "etag");
  ExchangeState again = Get("/digits.txt");
  again.request.headers.Add("if-none-match", etag);
  stage.OnRequestHead(again);
  EXPECT_EQ(again.reply.status, 304);
  EXPECT_TRUE(again.reply.head_only);
  EXPECT_EQ(Field(again, "etag"), etag);
  http::ResponseHead built = BuildLocalReplyHead(again.reply, ReplyShape{});
  EXPECT_EQ(built.headers.Get("content-length"), nullptr);

  ExchangeState stale = Get("/digits.txt");
  stale.request.headers.Add("if-none-match", "\"old\"");
  stage.OnRequestHead(stale);
  EXPECT_EQ(stale.reply.status, 200);
}

TEST(StaticStageTest, AnswersRanges) {
  StaticStage stage = MemorySite();
  ExchangeState single = Get("/digits.txt");
  single.request.headers.Add("range", "bytes=2-4");
  stage.OnRequestHead(single);
  EXPECT_EQ(single.reply.status, 206);
  EXPECT_EQ(Field(single, "content-range"), "bytes 2-4/10");
  EXPECT_EQ(Body(single), "234");

  ExchangeState multi = Get("/digits.txt");
  multi.request.headers.Add("range", "bytes=0-1,-2");
  stage.OnRequestHead(multi);
  EXPECT_EQ(multi.reply.status, 206);
  std::string type = Field(multi, "content-type");
  ASSERT_EQ(type.rfind("multipart/byteranges; boundary=", 0), 0u);
  std::string boundary = type.substr(type.find('=') + 1);
  int64_t length = multi.reply.source->length();
  std::string body = Body(multi);
  EXPECT_EQ(static_cast<int64_t>(body.size()), length);
  EXPECT_EQ(body, "\r\n--" + boundary + "\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-range: bytes 0-1/10\r\n\r\n01" +
                      "\r\n--" + boundary + "\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-range: bytes 8-9/10\r\n\r\n89" +
                      "\r\n--" + boundary + "--\r\n");

  ExchangeState beyond = Get("/digits.txt");
  beyond.request.headers.Add("range", "bytes=10-");
  stage.OnRequestHead(beyond);
  EXPECT_EQ(beyond.reply.status, 416);
  EXPECT_EQ(Field(beyond, "content-range"), "bytes */10");

  ExchangeState changed = Get("/digits.txt");
  changed.request.headers.Add("range", "bytes=2-4");
  changed.request.headers.Add("if-range", "\"not-this-one\"");
  stage.OnRequestHead(changed);
  EXPECT_EQ(changed.reply.status, 200);
  EXPECT_EQ(Body(changed), "0123456789");
}

TEST(StaticStageTest, ServesPrecompressedSiblingsAndCacheControl) {
  StaticStage::Options options;
  options.precompressed = true;
  options.hashed_assets = true;
  options.cache_control = "public, max-age=60";
  StaticStage stage = MemorySite(options);
  ExchangeState br = Get("/app.js");
  br.request.headers.Add("accept-encoding", "gzip, br");
  stage.OnRequestHead(br);
  EXPECT_EQ(Field(br, "content-encoding"), "br");
  EXPECT_EQ(Field(br, "vary"), "Accept-Encoding");
  EXPECT_EQ(Field(br, "content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(Body(br), "brotli bytes");

  ExchangeState gzip = Get("/app.js");
  gzip.request.headers.Add("accept-encoding", "gzip;q=1, br;q=0.5, zstd");  // zstd: no sibling
  stage.OnRequestHead(gzip);
  EXPECT_EQ(Body(gzip), "gzip bytes");
  ExchangeState identity = Get("/app.js");
  stage.OnRequestHead(identity);
  EXPECT_EQ(Field(identity, "content-encoding"), "<none>");
  EXPECT_EQ(Body(identity), "plain js");
  EXPECT_EQ(Field(identity, "cache-control"), "public, max-age=60");

  ExchangeState hashed = Get("/app.3f2a9c1e.js");
  stage.OnRequestHead(hashed);
  EXPECT_EQ(Field(hashed, "cache-control"), "public, max-age=31536000, immutable");
}

TEST(StaticStageTest, FallsBackToTheSpaFileAndStripsTheRoutePrefix) {
  StaticStage::Options options;
  options.spa_fallback = "index.html";
  options.strip_prefix = "/site";
  StaticStage stage = MemorySite(options);
  ExchangeState deep = Get("/site/users/42");
  stage.OnRequestHead(deep);
  EXPECT_EQ(deep.reply.status, 200);
  EXPECT_EQ(Body(deep), "<h1>home</h1>");
  ExchangeState file = Get("/site/digits.txt");
  stage.OnRequestHead(file);
  EXPECT_EQ(Body(file), "0123456789");
  ExchangeState bare = Get("/site");
  stage.OnRequestHead(bare);
  EXPECT_EQ(bare.reply.status, 301);
  EXPECT_EQ(bare.reply.location, "/site/");
}

// A real directory: the root, a secret beside it, and symlinks out.
class DirectorySiteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/sluice-static-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    base_ = pattern;
    root_ = base_ + "/root";
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir((root_ + "/sub").c_str(), 0755), 0);
    Write(base_ + "/secret.txt", "TOP SECRET");
    Write(root_ + "/index.html", "root index");
    Write(root_ + "/sub/page.html", "sub page");
    ASSERT_EQ(symlink((base_ + "/secret.txt").c_str(), (root_ + "/absolute-link").c_str()), 0);
    ASSERT_EQ(symlink("../secret.txt", (root_ + "/relative-link").c_str()), 0);
    ASSERT_EQ(symlink("..", (root_ + "/parent").c_str()), 0);
    ASSERT_EQ(symlink("sub/page.html", (root_ + "/inside-link.html").c_str()), 0);
    ASSERT_EQ(mkfifo((root_ + "/fifo").c_str(), 0644), 0);
  }
  void TearDown() override { std::system(("rm -rf " + base_).c_str()); }
  static void Write(const std::string& path, const std::string& content) {
    std::ofstream(path, std::ios::binary) << content;
  }
  std::string base_, root_;
};

TEST_F(DirectorySiteTest, ServesFilesBeneathTheRootOnly) {
  StaticStage stage(std::make_shared<DirectoryFiles>(root_), StaticStage::Options{});
  ExchangeState page = Get("/sub/page.html");
  stage.OnRequestHead(page);
  EXPECT_EQ(page.reply.status, 200);
  EXPECT_EQ(Body(page), "sub page");
  EXPECT_NE(Field(page, "last-modified"), "<none>");
  ExchangeState inside = Get("/inside-link.html");
  stage.OnRequestHead(inside);
  EXPECT_EQ(Body(inside), "sub page");

  for (const char* path : {"/absolute-link", "/relative-link", "/parent/secret.txt", "/parent/root/index.html",
                           "/../secret.txt", "/%2e%2e/secret.txt", "/sub/..%2f..%2fsecret.txt", "/fifo"}) {
    ExchangeState attempt = Get(path);
    stage.OnRequestHead(attempt);
    EXPECT_TRUE(attempt.reply.status == 400 || attempt.reply.status == 404) << path << " " << attempt.reply.status;
    EXPECT_EQ(Body(attempt).find("SECRET"), std::string::npos) << path;
  }
}

TEST_F(DirectorySiteTest, AnswersLastModifiedConditionals) {
  StaticStage stage(std::make_shared<DirectoryFiles>(root_), StaticStage::Options{});
  ExchangeState first = Get("/index.html");
  stage.OnRequestHead(first);
  ExchangeState again = Get("/index.html");
  again.request.headers.Add("if-modified-since", Field(first, "last-modified"));
  stage.OnRequestHead(again);
  EXPECT_EQ(again.reply.status, 304);
  ExchangeState range = Get("/index.html");
  range.request.headers.Add("range", "bytes=0-3,5-");
  stage.OnRequestHead(range);
  EXPECT_EQ(range.reply.status, 206);
  EXPECT_NE(Body(range).find("root"), std::string::npos);
}

// The route's static counters: the kind of each answer, the bytes sent and
// whether the worker's open-file cache answered the lookups.
TEST_F(DirectorySiteTest, CountsResponsesByKindAndOpenFileCacheUse) {
  auto files = std::make_shared<DirectoryFiles>(root_);
  OpenFileCache cache(16, 3600ll * 1'000'000'000);
  files->UseCache(&cache);
  StaticStage stage(files, StaticStage::Options{});
  metrics::SeriesCounters series;
  auto run = [&](ExchangeState state, int sent_status) {
    state.route_series = &series;
    stage.OnRequestHead(state);
    state.status = sent_status;
    state.bytes_out = 100;
    stage.OnComplete(state);
    return state.reply.status;
  };
  EXPECT_EQ(run(Get("/index.html"), 200), 200);
  EXPECT_EQ(run(Get("/index.html"), 200), 200);
  EXPECT_EQ(run(Get("/missing.css"), 404), 404);
  EXPECT_EQ(run(Get("/missing.css"), 404), 404);
  ExchangeState range = Get("/index.html");
  range.request.headers.Add("range", "bytes=0-3");
  EXPECT_EQ(run(std::move(range), 206), 206);
  ExchangeState post = Get("/index.html");
  post.request.method = "POST";
  EXPECT_EQ(run(std::move(post), 405), 405);
  ExchangeState bad = Get("/%2e%2e/secret.txt");
  EXPECT_EQ(run(std::move(bad), 400), 400);
  const metrics::StaticCounters& counted = series.static_content;
  EXPECT_EQ(counted.responses[static_cast<size_t>(metrics::StaticKind::kFull)].Get(), 2u);
  EXPECT_EQ(counted.responses[static_cast<size_t>(metrics::StaticKind::kPartial)].Get(), 1u);
  EXPECT_EQ(counted.responses[static_cast<size_t>(metrics::StaticKind::kNotFound)].Get(), 2u);
  EXPECT_EQ(counted.responses[static_cast<size_t>(metrics::StaticKind::kMethodNotAllowed)].Get(), 1u);
  EXPECT_EQ(counted.responses[static_cast<size_t>(metrics::StaticKind::kOther)].Get(), 1u);
  EXPECT_EQ(counted.bytes_sent.Get(), 700u);
  // index.html: a miss then two hits; missing.css: a miss then a hit (a
  // negative entry).
  EXPECT_EQ(counted.open_cache_misses.Get(), 2u);
  EXPECT_EQ(counted.open_cache_hits.Get(), 3u);
}

// The I/O pool's side of a worker, by hand: jobs wait until the test runs
// their work on another thread and then their `done` (as the loop would).
class ManualIo final : public IoOffload {
 public:
  struct Job {
    std::function<void()> work, done;
  };
  std::vector<Job> jobs;
  bool full = false;
  bool Submit(std::function<void()> work, std::function<void()> done) override {
    if (full) return false;
    jobs.push_back({std::move(work), std::move(done)});
    return true;
  }
  void RunAll() {
    for (Job& job : jobs) {
      std::thread pool_thread(job.work);
      pool_thread.join();
      job.done();
    }
    jobs.clear();
  }
};

struct CountingResumer final : Resumer {
  int resumed = 0;
  void Resume() override { ++resumed; }
};

TEST_F(DirectorySiteTest, OpensCacheMissesOnTheIoPoolThenServesFromTheCache) {
  auto files = std::make_shared<DirectoryFiles>(root_);
  OpenFileCache cache(64, 3600ll * 1'000'000'000);
  files->UseCache(&cache);
  auto serve = std::make_shared<const StaticStage>(files, StaticStage::Options{});
  StaticOpenStage open(serve);
  ManualIo io;
  CountingResumer resumer;
  metrics::SeriesCounters series;

  ExchangeState first = Get("/sub/");
  first.io = &io;
  first.resumer = &resumer;
  first.route_series = &series;
  EXPECT_EQ(open.OnRequestHead(first), Verdict::kPause);
  ASSERT_EQ(io.jobs.size(), 1u);
  EXPECT_EQ(cache.size(), 0u);  // nothing opened on this (the loop's) thread
  io.RunAll();
  EXPECT_EQ(resumer.resumed, 1);
  EXPECT_GE(cache.size(), 2u);  // "sub" (a directory) and "sub/index.html" (nothing there)
  EXPECT_EQ(serve->OnRequestHead(first), Verdict::kReply);
  EXPECT_EQ(first.reply.status, 404);  // no index in sub/: still answered from the cache
  // The pool's opens are the misses; the static stage itself only hit.
  EXPECT_EQ(series.static_content.open_cache_misses.Get(), 2u);
  EXPECT_EQ(series.static_content.open_cache_hits.Get(), 2u);

  ExchangeState page = Get("/sub/page.html");
  page.io = &io;
  page.resumer = &resumer;
  page.route_series = &series;
  EXPECT_EQ(open.OnRequestHead(page), Verdict::kPause);
  io.RunAll();
  serve->OnRequestHead(page);
  EXPECT_EQ(page.reply.status, 200);
  EXPECT_EQ(Body(page), "sub page");
  EXPECT_EQ(series.static_content.open_cache_misses.Get(), 4u);  // + "sub/page.html" and ".../index.html"
  EXPECT_EQ(series.static_content.open_cache_hits.Get(), 3u);

  // Fresh in the cache: no pause, no job; the open stage answers at once.
  ExchangeState again = Get("/sub/page.html");
  again.io = &io;
  again.resumer = &resumer;
  EXPECT_EQ(open.OnRequestHead(again), Verdict::kReply);
  EXPECT_TRUE(io.jobs.empty());
  EXPECT_EQ(again.reply.status, 200);
  EXPECT_EQ(Body(again), "sub page");

  // The client went away while the pool opened: the cache is filled, the
  // dead exchange is not resumed.
  auto gone = std::make_unique<ExchangeState>(Get("/index.html"));
  gone->io = &io;
  gone->resumer = &resumer;
  EXPECT_EQ(open.OnRequestHead(*gone), Verdict::kPause);
  gone.reset();
  const size_t before = cache.size();
  io.RunAll();
  EXPECT_EQ(resumer.resumed, 2);
  EXPECT_GT(cache.size(), before);

  // A full queue: the static stage opens on the loop as before.
  io.full = true;
  ExchangeState busy = Get("/missing-" + std::to_string(before) + ".html");
  busy.io = &io;
  EXPECT_EQ(open.OnRequestHead(busy), Verdict::kContinue);
}

// A small file opened on the pool is kept whole in the worker's cache: the
// answers (whole, HEAD, a range, several ranges, a 304) come from its bytes,
// with the same validators, and the reply's head takes its fields without
// copying them.
TEST_F(DirectorySiteTest, AnswersSmallFilesFromTheBytesTheCacheKeeps) {
  auto files = std::make_shared<DirectoryFiles>(root_);
  OpenFileCache cache(64, 3600ll * 1'000'000'000, /*inline_bytes=*/1024);
  files->UseCache(&cache);
  auto serve = std::make_shared<const StaticStage>(files, StaticStage::Options{});
  StaticOpenStage open(serve);
  ManualIo io;
  CountingResumer resumer;
  ExchangeState first = Get("/sub/page.html");
  first.io = &io;
  first.resumer = &resumer;
  EXPECT_EQ(open.OnRequestHead(first), Verdict::kPause);
  io.RunAll();
  ASSERT_EQ(serve->OnRequestHead(first), Verdict::kReply);
  EXPECT_EQ(first.reply.status, 200);
  BodySource::FileRange range;
  EXPECT_FALSE(first.reply.source->NextFileRange(&range));  // the cache's bytes, no descriptor
  const std::string etag = Field(first, "etag");
  const std::string last_modified = Field(first, "last-modified");
  EXPECT_EQ(Field(first, "content-type"), MimeTypeFor("page.html"));
  EXPECT_EQ(last_modified.size(), 29u);
  http::ResponseHead head = TakeLocalReplyHead(first.reply, ReplyShape{});
  EXPECT_EQ(*head.headers.Get("etag"), etag);
  EXPECT_EQ(*head.headers.Get("content-length"), "8");
  EXPECT_TRUE(first.reply.headers.empty());  // moved, not copied
  EXPECT_EQ(Body(first), "sub page");

  // Fresh now: no pause, and the same answers from memory.
  ExchangeState head_request = Get("/sub/page.html", "HEAD");
  head_request.io = &io;
  EXPECT_EQ(open.OnRequestHead(head_request), Verdict::kReply);
  EXPECT_TRUE(head_request.reply.head_only);
  EXPECT_EQ(Field(head_request, "content-length"), "8");
  EXPECT_EQ(Field(head_request, "etag"), etag);

  ExchangeState single = Get("/sub/page.html");
  single.request.headers.Add("range", "bytes=4-");
  serve->OnRequestHead(single);
  EXPECT_EQ(single.reply.status, 206);
  EXPECT_EQ(Body(single), "page");
  ExchangeState multi = Get("/sub/page.html");
  multi.request.headers.Add("range", "bytes=0-2,4-7");
  serve->OnRequestHead(multi);
  EXPECT_EQ(multi.reply.status, 206);
  std::string body = Body(multi);
  EXPECT_NE(body.find("\r\n\r\nsub\r\n"), std::string::npos) << body;
  EXPECT_NE(body.find("\r\n\r\npage\r\n"), std::string::npos) << body;
  ExchangeState unchanged = Get("/sub/page.html");
  unchanged.request.headers.Add("if-none-match", etag);
  serve->OnRequestHead(unchanged);
  EXPECT_EQ(unchanged.reply.status, 304);
  ExchangeState since = Get("/sub/page.html");
  since.request.headers.Add("if-modified-since", last_modified);
  serve->OnRequestHead(since);
  EXPECT_EQ(since.reply.status, 304);
}

TEST(IoPoolTest, RunsJobsOnItsThreadsAndRefusesBeyondItsQueue) {
  std::atomic<int> ran{0};
  std::atomic<bool> started{false}, elsewhere{false};
  std::mutex gate;
  std::unique_lock<std::mutex> closed(gate);
  const std::thread::id caller = std::this_thread::get_id();
  {
    IoPool pool(1, 2);
    // The first job holds the only thread until the gate opens...
    EXPECT_TRUE(pool.Submit([&] {
      started = true;
      std::lock_guard<std::mutex> wait(gate);
      elsewhere = std::this_thread::get_id() != caller;
      ++ran;
    }));
    for (int i = 0; i < 5000 && !started; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_TRUE(started);
    // ...so two more fill the queue and a third is refused.
    EXPECT_TRUE(pool.Submit([&] { ++ran; }));
    EXPECT_TRUE(pool.Submit([&] { ++ran; }));
    EXPECT_FALSE(pool.Submit([&] { ++ran; }));
    closed.unlock();
  }  // the destructor runs what is queued, then joins
  EXPECT_EQ(ran, 3);
  EXPECT_TRUE(elsewhere);
}

TEST(DirectoryFilesTest, AMissingRootAnswers404) {
  StaticStage stage(std::make_shared<DirectoryFiles>("/nonexistent/sluice/site"), StaticStage::Options{});
  ExchangeState state = Get("/index.html");
  stage.OnRequestHead(state);
  EXPECT_EQ(state.reply.status, 404);
}

}  // namespace
}  // namespace sluice::pipeline
