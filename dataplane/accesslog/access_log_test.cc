#include "dataplane/accesslog/access_log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace sluice::accesslog {
namespace {

using namespace std::chrono_literals;

std::chrono::system_clock::time_point At(std::chrono::year_month_day date, std::chrono::milliseconds time_of_day) {
  return std::chrono::sys_days{date} + time_of_day;
}

Entry TypicalEntry() {
  Entry e;
  e.start = At(std::chrono::year{2026} / 11 / 26, 13h + 55min + 25s + 835ms);
  e.client_address = "127.0.0.1";
  e.method = "GET";
  e.host = "demo.local";
  e.path = "/app?x=1";
  e.status = 200;
  e.bytes_in = 0;
  e.bytes_out = 295;
  e.upstream_address = "127.0.0.1:9001";
  e.upstream_seconds = 0.0012;
  e.total_seconds = 0.0019;
  e.snapshot_version = "16d1";
  e.route_origin = "demo/demo";
  return e;
}

std::string Line(const Entry& e) {
  std::string out;
  AppendJsonLine(e, out);
  return out;
}

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t begin = 0;
  for (size_t end; (end = text.find('\n', begin)) != std::string::npos; begin = end + 1) {
    lines.push_back(text.substr(begin, end - begin));
  }
  EXPECT_EQ(begin, text.size()) << "output ends with an incomplete line";
  return lines;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir ? dir : "/tmp") + "/" + name;
  ::unlink(path.c_str());
  return path;
}

// Reads a pipe to EOF on its own thread.
class PipeDrainer {
 public:
  explicit PipeDrainer(int fd) : done_(std::async(std::launch::async, [fd] {
                                   std::string text;
                                   char buf[65536];
                                   for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;) {
                                     if (n > 0) text.append(buf, static_cast<size_t>(n));
                                   }
                                   return text;
                                 })) {}
  std::string Wait() { return done_.get(); }

 private:
  std::future<std::string> done_;
};

TEST(JsonLineTest, CacheOutcomeIsTheLastFieldWhenSet) {
  Entry e = TypicalEntry();
  e.cache = "COALESCED";
  EXPECT_TRUE(Line(e).ends_with(R"("route":"demo/demo","cache":"COALESCED"})"
                                "\n"))
      << Line(e);
  EXPECT_EQ(Line(TypicalEntry()).find("\"cache\""), std::string::npos);
}

TEST(JsonLineTest, FormatsATypicalRequestExactly) {
  EXPECT_EQ(Line(TypicalEntry()),
            R"({"time":"2026-11-26T13:55:25.835Z","client":"127.0.0.1","method":"GET","host":"demo.local",)"
            R"("path":"/app?x=1","status":200,"bytes_in":0,"bytes_out":295,"upstream":"127.0.0.1:9001",)"
            R"("upstream_time":0.001,"total_time":0.002,"version":"16d1","route":"demo/demo"})"
            "\n");
}

TEST(JsonLineTest, LeavesOutWhatTheRequestNeverHadAndReportsTheProxysOwnError) {
  Entry e;
  e.start = At(std::chrono::year{1999} / 1 / 2, 3h + 4min + 5s + 7ms);
  e.client_address = "10.0.0.7";
  e.method = "POST";
  e.host = "api.local";
  e.path = "/upload";
  e.status = 502;
  e.bytes_in = 1234567890123;
  e.bytes_out = 150;
  e.total_seconds = 12.3456;
  e.error = "upstream connect refused";
  EXPECT_EQ(Line(e),
            R"({"time":"1999-01-02T03:04:05.007Z","client":"10.0.0.7","method":"POST","host":"api.local",)"
            R"("path":"/upload","status":502,"bytes_in":1234567890123,"bytes_out":150,"total_time":12.346,)"
            R"("error":"upstream connect refused"})"
            "\n");
}

TEST(JsonLineTest, PeerFollowsTheClientWhenTheyDiffer) {
  Entry e;
  e.start = At(std::chrono::year{1999} / 1 / 2, 3h + 4min + 5s + 7ms);
  e.client_address = "203.0.113.9";
  e.peer_address = "10.0.0.2";  // the balancer that sent the PROXY header
  e.method = "GET";
  e.host = "a";
  e.path = "/";
  e.status = 403;
  EXPECT_EQ(Line(e),
            R"({"time":"1999-01-02T03:04:05.007Z","client":"203.0.113.9","peer":"10.0.0.2","method":"GET",)"
            R"("host":"a","path":"/","status":403,"bytes_in":0,"bytes_out":0,"total_time":0.000})"
            "\n");
}

TEST(JsonLineTest, NonsenseNumbersStillGiveValidJson) {
  Entry e = TypicalEntry();
  e.status = -5;
  e.total_seconds = std::nan("");
  e.upstream_seconds = std::nan("");
  auto parsed = nlohmann::json::parse(Line(e));
  EXPECT_EQ(parsed["status"], 0);
  EXPECT_EQ(parsed["total_time"], 0.0);
  EXPECT_FALSE(parsed.contains("upstream_time"));
}

TEST(JsonLineTest, EscapesEverythingAClientCanSendInPathHostAndMethod) {
  Entry e = TypicalEntry();
  const std::string path = std::string("/a\"b\\c\nd\re\tf\x01g\x7fh\x1b") + "\xff" + "i\xc3" + "j" +
                           "\xc0\xaf" + "\xed\xa0\x80" + "\xf4\x90\x80\x80" + "\xe2\x80\xa8" + "é€😀";
  e.path = path;
  e.host = "evil\r\nX-Fake: 1";
  e.method = std::string_view("G\0T", 3);
  const std::string line = Line(e);

  EXPECT_NE(line.find(R"("path":"/a\"b\\c\nd\re\tf\u0001g\u007fh\u001b\u00ffi\u00c3j\u00c0\u00af\u00ed\u00a0\u0080)"
                      R"(\u00f4\u0090\u0080\u0080\u2028é€😀")"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find(R"("host":"evil\r\nX-Fake: 1")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("method":"G\u0000T")"), std::string::npos) << line;
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "only the terminating newline";

  // It parses as JSON (nlohmann rejects raw invalid UTF-8) and round-trips.
  auto parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["host"], "evil\r\nX-Fake: 1");
  EXPECT_EQ(parsed["method"], std::string("G\0T", 3));
  // Valid UTF-8 comes back unchanged; each invalid byte comes back as the
  // code point of the same value.
  EXPECT_EQ(parsed["path"].get<std::string>().substr(0, 16), "/a\"b\\c\nd\re\tf\x01g\x7fh");
  EXPECT_EQ(parsed["path"].get<std::string>().substr(parsed["path"].get<std::string>().size() - 9), "é€😀");
}

TEST(JsonLineTest, EveryByteValueAtEveryPositionRoundTrips) {
  // Exercises the word-at-a-time fast path as well as the byte-wise one.
  const std::string plain = "abcdefghijklmnopqrs";
  for (int byte = 0; byte < 256; ++byte) {
    for (size_t position = 0; position < plain.size(); ++position) {
      std::string text = plain;
      text[position] = static_cast<char>(byte);
      std::string quoted;
      AppendJsonString(text, quoted);
      for (unsigned char c : quoted) ASSERT_GE(c, 0x20) << "raw control byte for " << byte;
      auto parsed = nlohmann::json::parse(quoted, nullptr, /*allow_exceptions=*/false);
      ASSERT_FALSE(parsed.is_discarded()) << quoted;
      std::string expected = text;
      if (byte >= 0x80) {  // a lone non-ASCII byte is invalid UTF-8: it comes back as U+00XX
        expected.replace(position, 1, {static_cast<char>(0xc0 | (byte >> 6)), static_cast<char>(0x80 | (byte & 0x3f))});
      }
      ASSERT_EQ(parsed.get<std::string>(), expected) << "byte " << byte << " at " << position;
    }
  }
}

TEST(JsonLineTest, AClientCannotAddOrOverrideFields) {
  Entry e = TypicalEntry();
  e.path = R"(/x","status":999,"route":"other/route","extra":")";
  e.host = "h\"}\n{\"time\":\"fake";
  const std::string line = Line(e);
  auto parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["status"], 200);
  EXPECT_EQ(parsed["route"], "demo/demo");
  EXPECT_FALSE(parsed.contains("extra"));
  EXPECT_EQ(parsed["path"], e.path);
  EXPECT_EQ(parsed["host"], e.host);
  EXPECT_EQ(parsed.size(), 13u);
}

TEST(AccessLogTest, ConcurrentWritersProduceExactlyTheirLinesNeverInterleaved) {
  const std::string path = TempPath("concurrent.log");
  constexpr int kThreads = 4;
  constexpr int kLinesPerThread = 20000;
  {
    AccessLog::Options options;
    options.max_pending_bytes = size_t{1} << 30;  // this test is about correctness, not back-pressure
    auto log = AccessLog::OpenFile(path, options);
    ASSERT_TRUE(log.ok()) << log.status().message();
    std::vector<std::thread> workers;
    for (int t = 0; t < kThreads; ++t) {
      workers.emplace_back([&log, t] {
        auto writer = (*log)->NewWriter();
        Entry e = TypicalEntry();
        for (int i = 0; i < kLinesPerThread; ++i) {
          std::string p = "/t" + std::to_string(t) + "/" + std::to_string(i);
          e.path = p;
          writer->Log(e);
          if (i % 997 == 0) writer->Flush();  // as a periodic timer would, at odd points
        }
        EXPECT_EQ(writer->dropped_lines(), 0u);
      });  // the Writer's destructor hands over its remainder
    }
    for (auto& w : workers) w.join();
  }  // ~AccessLog writes everything and joins
  const std::vector<std::string> lines = SplitLines(ReadFile(path));
  ASSERT_EQ(lines.size(), size_t{kThreads} * kLinesPerThread);
  std::set<std::string> paths;
  for (const std::string& line : lines) {
    auto parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(parsed.is_discarded()) << line;
    paths.insert(parsed["path"].get<std::string>());
  }
  EXPECT_EQ(paths.size(), size_t{kThreads} * kLinesPerThread) << "every line exactly once";
  EXPECT_TRUE(paths.count("/t3/19999"));
}

TEST(AccessLogTest, AFullBufferIsHandedOverWithoutFlush) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  PipeDrainer drainer(fds[0]);
  uint64_t logged = 0;
  {
    AccessLog log({.fd = fds[1]});
    auto writer = log.NewWriter();
    while (logged * 250 < 2 * AccessLog::kHandOverBytes) {
      writer->Log(TypicalEntry());
      ++logged;
    }
    for (int i = 0; i < 5000 && log.written_lines() == 0; ++i) std::this_thread::sleep_for(1ms);
    EXPECT_GT(log.written_lines(), 0u);
    EXPECT_LT(log.written_lines(), logged) << "the part below 64 KiB waits for a Flush";
  }
  ::close(fds[1]);
  EXPECT_EQ(SplitLines(drainer.Wait()).size(), logged);
}

TEST(AccessLogTest, ABlockedOutputNeverBlocksTheWorkerAndCountsDrops) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  AccessLog::Options options;
  options.fd = fds[1];
  options.max_pending_bytes = 256 << 10;
  auto log = std::make_unique<AccessLog>(options);
  auto writer = log->NewWriter();

  // Nobody reads the pipe: the writer thread fills it and then blocks in
  // write(2). The worker must carry on regardless.
  constexpr uint64_t kLines = 50000;  // ~12 MB, far beyond pipe + max_pending
  auto worker = std::async(std::launch::async, [&] {
    for (uint64_t i = 0; i < kLines; ++i) {
      writer->Log(TypicalEntry());
      if (i % 100 == 0) writer->Flush();
    }
    writer->Flush();
  });
  const bool finished = worker.wait_for(30s) == std::future_status::ready;
  EXPECT_TRUE(finished) << "Log()/Flush() blocked on the output";
  EXPECT_GT(writer->dropped_lines(), kLines / 2);
  EXPECT_EQ(log->dropped_lines(), writer->dropped_lines());

  // Once someone reads, everything accepted is written, as whole lines.
  PipeDrainer drainer(fds[0]);
  worker.wait();
  writer.reset();
  const uint64_t dropped = log->dropped_lines();
  log.reset();
  ::close(fds[1]);
  const std::vector<std::string> lines = SplitLines(drainer.Wait());
  EXPECT_EQ(lines.size() + dropped, kLines);
  for (const std::string& line : lines) ASSERT_EQ(line, Line(TypicalEntry()).substr(0, line.size()));
}

TEST(AccessLogTest, DestructionWritesWhatWasFlushedAndWhatWritersStillHeld) {
  const std::string path = TempPath("shutdown.log");
  {
    auto log = AccessLog::OpenFile(path, {});
    ASSERT_TRUE(log.ok());
    auto flushed = (*log)->NewWriter();
    auto unflushed = (*log)->NewWriter();
    for (int i = 0; i < 3; ++i) flushed->Log(TypicalEntry());
    flushed->Flush();
    for (int i = 0; i < 2; ++i) unflushed->Log(TypicalEntry());
    unflushed.reset();  // a worker shutting down hands over its remainder
    EXPECT_EQ(ReadFile(path).size() % Line(TypicalEntry()).size(), 0u) << "never a partial line";
  }
  EXPECT_EQ(SplitLines(ReadFile(path)).size(), 5u);
}

TEST(AccessLogTest, AWriterThatOutlivesTheLogCountsItsLinesAsDropped) {
  const std::string path = TempPath("outlived.log");
  std::unique_ptr<AccessLog::Writer> writer;
  {
    auto log = AccessLog::OpenFile(path, {});
    ASSERT_TRUE(log.ok());
    writer = (*log)->NewWriter();
  }
  writer->Log(TypicalEntry());
  writer->Flush();
  EXPECT_EQ(writer->dropped_lines(), 1u);
  EXPECT_EQ(ReadFile(path), "");
}

TEST(AccessLogTest, AClosedPipeIsCountedNotFatal) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::close(fds[0]);  // a write now raises SIGPIPE unless the writer thread blocks it
  uint64_t dropped = 0;
  {
    AccessLog log({.fd = fds[1]});
    auto writer = log.NewWriter();
    for (int i = 0; i < 10; ++i) writer->Log(TypicalEntry());
    writer.reset();
    for (int i = 0; i < 5000 && log.dropped_lines() < 10; ++i) std::this_thread::sleep_for(1ms);
    dropped = log.dropped_lines();
    EXPECT_EQ(log.written_lines(), 0u);
  }
  ::close(fds[1]);
  EXPECT_EQ(dropped, 10u);
}

TEST(AccessLogTest, OpenFileReportsAnUnwritablePath) {
  auto log = AccessLog::OpenFile("/nonexistent-dir/access.log", {});
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.status().message().find("/nonexistent-dir/access.log"), std::string::npos);
}

}  // namespace
}  // namespace sluice::accesslog
