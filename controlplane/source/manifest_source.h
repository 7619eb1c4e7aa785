#pragma once
// Kubernetes objects read from a folder of YAML/JSON manifests instead of the
// API server: the embedded default, so the demo and local use need no cluster.
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice::source {

struct ManifestObject {
  nlohmann::json object;
  std::string origin;  // "deploy/examples/demo.yaml (document 2)"
};

struct ManifestError {
  std::string origin;   // file, and document when known
  std::string message;  // what is wrong
};

struct LoadResult {
  std::vector<ManifestObject> objects;
  std::vector<ManifestError> errors;
};

// Reads every *.yaml, *.yml and *.json file under `dir` (recursively, sorted
// by path; hidden files and directories skipped, which also makes a mounted
// ConfigMap's "..data" copies invisible; symlinked files are read, symlinked
// directories are not followed). Accepts multi-document YAML ("---"),
// `kind: List` (or any "...List" kind) with `items`, and JSON objects.
// A file that does not parse, or a document without apiVersion/kind/
// metadata.name, becomes an error; every other document still loads. The
// same (kind, namespace, name) defined twice is reported too (the later one
// wins when loaded into the store).
// Origins are the file path as found under `dir` (so relative when `dir` is)
// plus " (document N)" for YAML and " (document N, item M)" for List items.
LoadResult LoadManifests(const std::filesystem::path& dir);

// Parses one file's text; `file` is only used for origins. JSON when
// `is_json`, YAML otherwise.
LoadResult ParseManifests(std::string_view text, const std::string& file, bool is_json);

// Watches `dir` and calls on_change with a fresh LoadResult within 1 s of
// any change (create, modify, rename, delete of a manifest). Uses inotify on
// the directory tree plus a rescan of paths/mtimes/sizes every 500 ms, for
// editors that replace files and file systems without inotify. Waits for
// writes to settle (about 100 ms of quiet) before reading, so a file caught
// half-written is rare. Content identical to the last delivery (or to what
// was on disk at Start()) gives no callback.
//
// The caller loads the initial state itself (LoadManifests) before Start();
// on_change runs on the watcher's own thread, one call at a time.
class ManifestWatcher {
 public:
  ManifestWatcher(std::filesystem::path dir, std::function<void(LoadResult)> on_change);
  ~ManifestWatcher();  // stops
  ManifestWatcher(const ManifestWatcher&) = delete;
  ManifestWatcher& operator=(const ManifestWatcher&) = delete;

  void Start();
  // Joins the thread; returns promptly (it does not wait for the next tick).
  // Must not be called from inside on_change.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::source
