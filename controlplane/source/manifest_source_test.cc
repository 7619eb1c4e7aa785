#include "controlplane/source/manifest_source.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <optional>

namespace sluice::source {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "sluice-manifests-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  void Write(const std::string& relative, const std::string& text) const {
    fs::create_directories((path_ / relative).parent_path());
    std::ofstream(path_ / relative) << text;
  }

 private:
  fs::path path_;
};

constexpr const char* kTwoServices = R"(# two documents
apiVersion: v1
kind: Service
metadata:
  name: app
  namespace: demo
spec:
  ports:
  - name: http
    port: 80
    targetPort: "8080"
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: demo}
spec: {ports: [{port: 80}]}
)";

TEST(LoadManifestsTest, ReadsMultiDocumentYamlWithOrigins) {
  TempDir dir;
  dir.Write("services.yaml", kTwoServices);
  LoadResult result = LoadManifests(dir.path());
  ASSERT_TRUE(result.errors.empty()) << result.errors[0].message;
  ASSERT_EQ(result.objects.size(), 2u);
  EXPECT_EQ(result.objects[0].object["metadata"]["name"], "app");
  EXPECT_EQ(result.objects[0].origin, (dir.path() / "services.yaml").string() + " (document 1)");
  EXPECT_EQ(result.objects[1].origin, (dir.path() / "services.yaml").string() + " (document 2)");
  // Plain 80 is a number, quoted "8080" a string: Kubernetes tells them apart.
  const json& port = result.objects[0].object["spec"]["ports"][0];
  EXPECT_TRUE(port["port"].is_number_integer());
  EXPECT_EQ(port["port"], json(80));
  EXPECT_EQ(port["targetPort"], json("8080"));
}

TEST(LoadManifestsTest, BrokenFileIsReportedByNameWhileOthersLoad) {
  TempDir dir;
  dir.Write("a-good.yaml", kTwoServices);
  dir.Write("b-broken.yaml", "apiVersion: v1\nkind: Service\nmetadata: [unclosed\n");
  dir.Write("c-noname.yaml", "apiVersion: v1\nkind: Service\nmetadata: {namespace: demo}\n");
  dir.Write("d.json", R"({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "j"}})");
  dir.Write("e-broken.json", R"({"apiVersion": )");
  LoadResult result = LoadManifests(dir.path());
  ASSERT_EQ(result.objects.size(), 3u);
  EXPECT_EQ(result.objects[2].object["metadata"]["name"], "j");
  EXPECT_EQ(result.objects[2].origin, (dir.path() / "d.json").string());
  ASSERT_EQ(result.errors.size(), 3u);
  EXPECT_EQ(result.errors[0].origin, (dir.path() / "b-broken.yaml").string());
  EXPECT_NE(result.errors[0].message.find("line"), std::string::npos) << result.errors[0].message;
  EXPECT_EQ(result.errors[1].origin, (dir.path() / "c-noname.yaml").string() + " (document 1)");
  EXPECT_EQ(result.errors[1].message, "missing metadata.name (kind Service)");
  EXPECT_EQ(result.errors[2].origin, (dir.path() / "e-broken.json").string());
}

TEST(LoadManifestsTest, RecursiveSortedSkipsHiddenAndOtherExtensions) {
  TempDir dir;
  auto service = [](const std::string& name) {
    return "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\n";
  };
  dir.Write("z.yml", service("z"));
  dir.Write("sub/a.yaml", service("sub-a"));
  dir.Write("a.yaml", service("a"));
  dir.Write(".hidden.yaml", service("hidden"));
  dir.Write("..2024_01_01/x.yaml", service("configmap-copy"));
  dir.Write("notes.txt", service("txt"));
  LoadResult result = LoadManifests(dir.path());
  std::vector<std::string> names;
  for (const ManifestObject& object : result.objects) names.push_back(object.object["metadata"]["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "sub-a", "z"}));
  EXPECT_TRUE(result.errors.empty());
}

TEST(LoadManifestsTest, ListItemsHaveTheirOwnOrigins) {
  LoadResult result = ParseManifests(R"(
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: a}
- kind: Service
  metadata: {name: b}
- apiVersion: v1
  kind: Service
  metadata: {name: a, namespace: default}
)",
                                     "list.yaml", false);
  ASSERT_EQ(result.objects.size(), 2u);
  EXPECT_EQ(result.objects[1].origin, "list.yaml (document 1, item 3)");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].origin, "list.yaml (document 1, item 2)");
  EXPECT_EQ(result.errors[0].message, "missing apiVersion (kind Service)");
}

TEST(LoadManifestsTest, SameObjectInTwoFilesIsReported) {
  TempDir dir;
  dir.Write("a.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: app}\n");
  dir.Write("b.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: app, namespace: default}\n");
  LoadResult result = LoadManifests(dir.path());
  EXPECT_EQ(result.objects.size(), 2u);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].origin, (dir.path() / "b.yaml").string() + " (document 1)");
  EXPECT_EQ(result.errors[0].message, "Service default/app is also defined in " + (dir.path() / "a.yaml").string() +
                                          " (document 1); this later definition wins");
}

TEST(LoadManifestsTest, MissingDirectoryIsAnError) {
  LoadResult result = LoadManifests("/nonexistent/sluice/manifests");
  EXPECT_TRUE(result.objects.empty());
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].origin, "/nonexistent/sluice/manifests");
}

// Collects callbacks; waits a bounded time for the next one.
class Recorder {
 public:
  void Record(LoadResult result) {
    std::lock_guard<std::mutex> lock(mu_);
    results_.push_back(std::move(result));
    cv_.notify_all();
  }
  // The names of the objects in callback number `n` (0-based), if it came
  // within `timeout`.
  std::optional<std::vector<std::string>> Wait(size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return results_.size() > n; })) return std::nullopt;
    std::vector<std::string> names;
    for (const ManifestObject& object : results_[n].objects) names.push_back(object.object["metadata"]["name"]);
    return names;
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return results_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<LoadResult> results_;
};

TEST(ManifestWatcherTest, NoticesCreateModifyDeleteWithinOneSecond) {
  TempDir dir;
  auto service = [](const std::string& name) {
    return "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\n";
  };
  dir.Write("a.yaml", service("a"));
  Recorder recorder;
  ManifestWatcher watcher(dir.path(), [&](LoadResult result) { recorder.Record(std::move(result)); });
  watcher.Start();
  // The 1 s budget plus scheduling slack on a loaded 2-core machine.
  const auto kBudget = std::chrono::milliseconds(1500);

  dir.Write("sub/b.yaml", service("b"));  // create, in a new subdirectory
  EXPECT_EQ(recorder.Wait(0, kBudget), (std::vector<std::string>{"a", "b"}));

  dir.Write("a.yaml", service("a2"));  // modify
  EXPECT_EQ(recorder.Wait(1, kBudget), (std::vector<std::string>{"a2", "b"}));

  dir.Write("sub/c.yaml", service("c"));  // create inside the new subdirectory
  EXPECT_EQ(recorder.Wait(2, kBudget), (std::vector<std::string>{"a2", "b", "c"}));

  // An editor's save: write a temporary file, rename it over the original.
  dir.Write("tmp.swp", service("a3"));
  fs::rename(dir.path() / "tmp.swp", dir.path() / "a.yaml");
  EXPECT_EQ(recorder.Wait(3, kBudget), (std::vector<std::string>{"a3", "b", "c"}));

  fs::remove(dir.path() / "sub" / "b.yaml");  // delete
  EXPECT_EQ(recorder.Wait(4, kBudget), (std::vector<std::string>{"a3", "c"}));

  // Same content again: no callback.
  dir.Write("a.yaml", service("a3"));
  EXPECT_EQ(recorder.Wait(5, std::chrono::milliseconds(1200)), std::nullopt);

  auto before_stop = std::chrono::steady_clock::now();
  watcher.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before_stop, std::chrono::milliseconds(500));
  dir.Write("late.yaml", service("late"));
  usleep(700 * 1000);
  EXPECT_EQ(recorder.count(), 5u);
}

}  // namespace
}  // namespace sluice::source
