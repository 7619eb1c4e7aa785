#include "controlplane/kube/watch_events.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::kube {
namespace {

std::vector<std::string> FeedAll(LineSplitter& splitter, const std::vector<std::string>& chunks) {
  std::vector<std::string> lines;
  for (const std::string& chunk : chunks) {
    splitter.Feed(chunk, [&lines](std::string_view line) { lines.emplace_back(line); });
  }
  return lines;
}

TEST(LineSplitterTest, ReassemblesEventsSplitAnywhere) {
  const std::string stream =
      "{\"type\":\"ADDED\",\"object\":{\"a\":1}}\n{\"type\":\"BOOKMARK\",\"object\":{}}\r\n\n{\"type\":\"DELETED\"}\n";
  // Every possible split point into two chunks, and one byte at a time.
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    LineSplitter splitter;
    auto lines = FeedAll(splitter, {stream.substr(0, cut), stream.substr(cut)});
    ASSERT_EQ(lines.size(), 3u) << "cut at " << cut;
    EXPECT_EQ(lines[0], "{\"type\":\"ADDED\",\"object\":{\"a\":1}}");
    EXPECT_EQ(lines[1], "{\"type\":\"BOOKMARK\",\"object\":{}}");
    EXPECT_EQ(lines[2], "{\"type\":\"DELETED\"}");
    EXPECT_EQ(splitter.buffered(), 0u);
  }
  LineSplitter bytewise;
  std::vector<std::string> bytes;
  for (char c : stream) bytes.emplace_back(1, c);
  EXPECT_EQ(FeedAll(bytewise, bytes).size(), 3u);
}

TEST(LineSplitterTest, KeepsAnIncompleteLastLine) {
  LineSplitter splitter;
  EXPECT_TRUE(FeedAll(splitter, {"{\"type\":"}).empty());
  EXPECT_EQ(splitter.buffered(), 8u);
  EXPECT_EQ(FeedAll(splitter, {"1}\n{"}), std::vector<std::string>{"{\"type\":1}"});
  EXPECT_EQ(splitter.buffered(), 1u);
}

TEST(WatchEventTest, ParsesTypesAndRejectsGarbage) {
  auto added = ParseWatchEvent(R"({"type":"ADDED","object":{"metadata":{"resourceVersion":"42"}}})");
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(added->type, WatchEvent::Type::kAdded);
  EXPECT_EQ(ResourceVersionOf(added->object), "42");
  EXPECT_EQ(ParseWatchEvent(R"({"type":"BOOKMARK","object":{}})")->type, WatchEvent::Type::kBookmark);
  EXPECT_FALSE(ParseWatchEvent("{not json").ok());
  EXPECT_FALSE(ParseWatchEvent(R"({"type":"SOMETHING","object":{}})").ok());
  EXPECT_FALSE(ParseWatchEvent(R"({"type":"ADDED"})").ok());
}

TEST(WatchEventTest, RecognizesGoneStatusInErrorEvents) {
  auto error = ParseWatchEvent(
      R"json({"type":"ERROR","object":{"kind":"Status","status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired","code":410}})json");
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error->type, WatchEvent::Type::kError);
  EXPECT_TRUE(IsGoneStatus(error->object));
  EXPECT_FALSE(IsGoneStatus(nlohmann::json{{"code", 500}, {"reason", "InternalError"}}));
  EXPECT_EQ(StatusMessage(error->object.dump()), "too old resource version: 1 (5)");
  EXPECT_EQ(StatusMessage("plain\ntext"), "plain text");
}

}  // namespace
}  // namespace sluice::kube
