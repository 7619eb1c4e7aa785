#include "dataplane/snapshot/persistent_map.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <random>
#include <set>
#include <tuple>

namespace sluice::snapshot {
namespace {

// Every key in one bucket: exercises the collision nodes below 64 bits.
struct CollidingHash {
  uint64_t operator()(std::string_view) const { return 42; }
};
// Few distinct hashes: keys share long hash prefixes, deep nodes and collisions mix.
struct CoarseHash {
  uint64_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key) % 7; }
};

template <typename Map>
std::map<std::string, int> Contents(const Map& map) {
  std::map<std::string, int> out;
  map.ForEach([&out](const std::string& key, const int& value) { EXPECT_TRUE(out.emplace(key, value).second) << key; });
  return out;
}

template <typename Map>
using Change = std::tuple<std::string, std::optional<int>, std::optional<int>>;

template <typename Map>
std::set<Change<Map>> DiffOf(const Map& before, const Map& after) {
  std::set<Change<Map>> changes;
  Map::Diff(before, after, [&changes](const std::string& key, const int* a, const int* b) {
    changes.emplace(key, a ? std::optional<int>(*a) : std::nullopt, b ? std::optional<int>(*b) : std::nullopt);
  });
  return changes;
}

// Random edits on a chain of versions, each checked against std::map: every
// older version keeps its contents, and Diff between neighbours reports
// exactly the edits.
template <typename Map>
void CheckAgainstStdMap(int key_space, int steps) {
  std::mt19937 random(7);
  std::vector<Map> versions(1);
  std::vector<std::map<std::string, int>> expected(1);
  for (int step = 0; step < steps; ++step) {
    Map next = versions.back();
    std::map<std::string, int> model = expected.back();
    const int edits = 1 + static_cast<int>(random() % 5);
    for (int e = 0; e < edits; ++e) {
      std::string key = "host-" + std::to_string(random() % key_space) + ".example";
      if (random() % 3 == 0) {
        EXPECT_EQ(next.Erase(key), model.erase(key) == 1) << key;
      } else {
        int value = static_cast<int>(random() % 1000);
        next.Set(key, value);
        model[key] = value;
      }
    }
    ASSERT_EQ(next.size(), model.size());
    ASSERT_EQ(Contents(next), model);
    std::set<Change<Map>> want;
    for (const auto& [key, value] : expected.back()) {
      auto it = model.find(key);
      if (it == model.end()) want.emplace(key, value, std::nullopt);
      else if (it->second != value) want.emplace(key, value, it->second);
    }
    for (const auto& [key, value] : model) {
      if (!expected.back().contains(key)) want.emplace(key, std::nullopt, value);
    }
    ASSERT_EQ(DiffOf(versions.back(), next), want) << "step " << step;
    versions.push_back(std::move(next));
    expected.push_back(std::move(model));
  }
  for (size_t i = 0; i < versions.size(); i += 17) {
    EXPECT_EQ(Contents(versions[i]), expected[i]) << "version " << i;
    for (const auto& [key, value] : expected[i]) {
      const int* found = versions[i].Find(key);
      ASSERT_NE(found, nullptr) << key;
      EXPECT_EQ(*found, value);
    }
    EXPECT_EQ(versions[i].Find("absent"), nullptr);
  }
  // Unrelated maps (no shared nodes) are compared entry by entry.
  Map rebuilt;
  for (const auto& [key, value] : expected.back()) rebuilt.Set(key, value);
  EXPECT_TRUE(DiffOf(versions.back(), rebuilt).empty());
  EXPECT_EQ(DiffOf(Map(), rebuilt).size(), expected.back().size());
}

TEST(PersistentMapTest, OlderVersionsKeepTheirContentsAndDiffFindsExactlyTheEdits) {
  CheckAgainstStdMap<PersistentMap<int>>(3000, 400);
}

TEST(PersistentMapTest, HashCollisionsAreKeptApart) {
  CheckAgainstStdMap<PersistentMap<int, CollidingHash>>(40, 150);
  CheckAgainstStdMap<PersistentMap<int, CoarseHash>>(200, 200);
}

TEST(PersistentMapTest, MutableChangesOnlyThisCopy) {
  PersistentMap<PersistentMap<int>> outer;
  outer.Mutable("cluster-a").Set("host-1", 1);
  PersistentMap<PersistentMap<int>> copy = outer;
  outer.Mutable("cluster-a").Set("host-2", 2);
  outer.Mutable("cluster-b").Set("host-3", 3);
  EXPECT_EQ(copy.size(), 1u);
  EXPECT_EQ(copy.Find("cluster-a")->size(), 1u);
  EXPECT_EQ(outer.Find("cluster-a")->size(), 2u);
  EXPECT_EQ(*outer.Find("cluster-b")->Find("host-3"), 3);
  EXPECT_FALSE(copy.Erase("cluster-b"));
  EXPECT_TRUE(outer.Erase("cluster-b"));
  EXPECT_EQ(outer.Find("cluster-b"), nullptr);
}

TEST(PersistentMapTest, SortedKeys) {
  PersistentMap<int> map;
  for (std::string key : {"b", "c", "a"}) map.Set(key, 0);
  EXPECT_EQ(map.SortedKeys(), (std::vector<std::string>{"a", "b", "c"}));
}

}  // namespace
}  // namespace sluice::snapshot
