#include "controlplane/source/manifest_source.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <fstream>
#include <map>
#include <sstream>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>

#include "controlplane/source/yaml_json.h"

namespace sluice::source {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Bigger than any sane manifest; protects the controller from a stray dump.
constexpr uintmax_t kMaxFileBytes = 16 << 20;

bool IsHidden(const fs::path& path) {
  std::string name = path.filename().string();
  return !name.empty() && name[0] == '.';
}

bool HasManifestExtension(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

bool IsJson(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".json";
}

// Manifest files under `dir`, sorted by path; directories when `directories`.
std::vector<fs::path> ListTree(const fs::path& dir, bool directories, std::vector<ManifestError>* errors) {
  std::vector<fs::path> found;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  if (ec) {
    if (errors) errors->push_back({dir.string(), "cannot read directory: " + ec.message()});
    return found;
  }
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::directory_entry& entry = *it;
    std::error_code type_ec;
    bool is_directory = entry.is_directory(type_ec);
    if (IsHidden(entry.path())) {
      if (is_directory) it.disable_recursion_pending();
      continue;
    }
    if (directories) {
      if (is_directory) found.push_back(entry.path());
    } else if (!is_directory && entry.is_regular_file(type_ec) && HasManifestExtension(entry.path())) {
      found.push_back(entry.path());
    }
  }
  if (ec && errors) errors->push_back({dir.string(), "cannot list directory: " + ec.message()});
  std::sort(found.begin(), found.end(),
            [](const fs::path& a, const fs::path& b) { return a.generic_string() < b.generic_string(); });
  return found;
}

std::string StringAt(const json& object, std::string_view key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string TypeName(const json& value) { return value.type_name(); }

// Checks one object and appends it, or an error saying what is missing.
void AddObject(json object, const std::string& origin, LoadResult* result) {
  if (!object.is_object()) {
    result->errors.push_back({origin, "expected a mapping (a Kubernetes object), got " + TypeName(object)});
    return;
  }
  std::vector<std::string> missing;
  if (StringAt(object, "apiVersion").empty()) missing.push_back("apiVersion");
  std::string kind = StringAt(object, "kind");
  if (kind.empty()) missing.push_back("kind");
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) {
    missing.push_back("metadata.name");
  } else {
    if (StringAt(*metadata, "name").empty()) missing.push_back("metadata.name");
    auto ns = metadata->find("namespace");
    if (ns != metadata->end() && !ns->is_string()) {
      result->errors.push_back({origin, "metadata.namespace must be a string, got " + TypeName(*ns)});
      return;
    }
  }
  if (!missing.empty()) {
    std::string message = "missing ";
    for (size_t i = 0; i < missing.size(); ++i) message += (i ? ", " : "") + missing[i];
    if (!kind.empty()) message += " (kind " + kind + ")";
    result->errors.push_back({origin, message});
    return;
  }
  result->objects.push_back({std::move(object), origin});
}

// A document may be a `kind: List` (kubectl get -o yaml) holding objects.
void AddDocument(json document, const std::string& origin_prefix, const std::string& origin_suffix,
                 LoadResult* result) {
  std::string kind = StringAt(document, "kind");
  bool is_list = kind.size() >= 4 && kind.compare(kind.size() - 4, 4, "List") == 0;
  auto items = document.is_object() ? document.find("items") : document.end();
  if (is_list && document.is_object() && items != document.end()) {
    if (!items->is_array()) {
      result->errors.push_back({origin_prefix + " (" + origin_suffix + ")", kind + ".items must be a list"});
      return;
    }
    for (size_t i = 0; i < items->size(); ++i) {
      std::string suffix = origin_suffix.empty() ? "" : origin_suffix + ", ";
      AddObject(std::move((*items)[i]), origin_prefix + " (" + suffix + "item " + std::to_string(i + 1) + ")",
                result);
    }
    return;
  }
  AddObject(std::move(document), origin_suffix.empty() ? origin_prefix : origin_prefix + " (" + origin_suffix + ")",
            result);
}

void ReportDuplicates(LoadResult* result) {
  std::map<std::tuple<std::string, std::string, std::string>, std::string> first_origin;
  for (const ManifestObject& manifest : result->objects) {
    const json& metadata = manifest.object["metadata"];
    std::string kind = StringAt(manifest.object, "kind");
    std::string ns = StringAt(metadata, "namespace");
    if (ns.empty() && kind != "IngressClass") ns = "default";
    std::string name = StringAt(metadata, "name");
    auto [it, inserted] = first_origin.emplace(std::make_tuple(kind, ns, name), manifest.origin);
    if (!inserted) {
      result->errors.push_back({manifest.origin, kind + " " + (ns.empty() ? "" : ns + "/") + name +
                                                     " is also defined in " + it->second +
                                                     "; this later definition wins"});
    }
  }
}

// Everything LoadManifests would read, as one comparable string.
std::string Digest(const LoadResult& result) {
  std::string digest;
  for (const ManifestObject& manifest : result.objects) {
    digest += manifest.origin;
    digest += '\n';
    digest += manifest.object.dump(-1, ' ', false, json::error_handler_t::replace);
    digest += '\n';
  }
  for (const ManifestError& error : result.errors) digest += error.origin + '\n' + error.message + '\n';
  return digest;
}

// Paths, sizes and modification times of the manifest files: cheap to take,
// and different whenever an editor saved, renamed or deleted one.
std::string Fingerprint(const fs::path& dir) {
  std::vector<ManifestError> errors;
  std::ostringstream out;
  for (const fs::path& file : ListTree(dir, false, &errors)) {
    std::error_code ec;
    auto mtime = fs::last_write_time(file, ec).time_since_epoch().count();
    auto size = fs::file_size(file, ec);
    out << file.generic_string() << '\0' << mtime << '\0' << size << '\n';
  }
  for (const ManifestError& error : errors) out << error.message << '\n';
  return out.str();
}

}  // namespace

LoadResult ParseManifests(std::string_view text, const std::string& file, bool is_json) {
  LoadResult result;
  if (is_json) {
    json document;
    try {
      document = json::parse(text);
    } catch (const json::exception& e) {
      result.errors.push_back({file, std::string("invalid JSON: ") + e.what()});
      return result;
    }
    AddDocument(std::move(document), file, "", &result);
    return result;
  }
  Result<std::vector<json>> documents = ParseYamlDocuments(text);
  if (!documents.ok()) {
    result.errors.push_back({file, documents.status().message()});
    return result;
  }
  for (size_t i = 0; i < documents->size(); ++i) {
    json& document = documents.value()[i];
    if (document.is_null()) continue;  // empty document: a stray "---" or only comments
    AddDocument(std::move(document), file, "document " + std::to_string(i + 1), &result);
  }
  return result;
}

LoadResult LoadManifests(const std::filesystem::path& dir) {
  LoadResult result;
  for (const fs::path& file : ListTree(dir, false, &result.errors)) {
    std::string name = file.string();
    std::error_code ec;
    uintmax_t size = fs::file_size(file, ec);
    if (ec) {
      result.errors.push_back({name, "cannot read: " + ec.message()});
      continue;
    }
    if (size > kMaxFileBytes) {
      result.errors.push_back({name, "file is larger than 16 MiB; not read"});
      continue;
    }
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) {
      result.errors.push_back({name, "cannot read file"});
      continue;
    }
    LoadResult one = ParseManifests(text.str(), name, IsJson(file));
    for (ManifestObject& object : one.objects) result.objects.push_back(std::move(object));
    for (ManifestError& error : one.errors) result.errors.push_back(std::move(error));
  }
  ReportDuplicates(&result);
  return result;
}

struct ManifestWatcher::Impl {
  static constexpr int kRescanMs = 500;
  static constexpr int kQuietMs = 100;  // writes must pause this long before we read
  static constexpr int kMaxSettleRounds = 4;

  fs::path dir;
  std::function<void(LoadResult)> on_change;
  std::thread thread;
  int inotify_fd = -1;
  int wake_fd = -1;
  std::atomic<bool> stopping{false};
  std::string last_fingerprint;
  std::string last_digest;

  // Waits up to timeout_ms; true when the inotify fd has events (drained).
  bool WaitForEvents(int timeout_ms) {
    pollfd fds[2] = {{wake_fd, POLLIN, 0}, {inotify_fd, POLLIN, 0}};
    int count = inotify_fd >= 0 ? 2 : 1;
    if (poll(fds, count, timeout_ms) <= 0) return false;
    if (count == 2 && (fds[1].revents & POLLIN)) {
      alignas(inotify_event) char buffer[16384];
      while (read(inotify_fd, buffer, sizeof(buffer)) > 0) {
      }
      return true;
    }
    return false;
  }

  // Watches the directory and every non-hidden subdirectory; adding a watch
  // twice is harmless, so this simply runs again after every change.
  void AddWatches() {
    if (inotify_fd < 0) return;
    constexpr uint32_t kMask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO |
                               IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
    inotify_add_watch(inotify_fd, dir.c_str(), kMask);
    for (const fs::path& sub : ListTree(dir, true, nullptr)) inotify_add_watch(inotify_fd, sub.c_str(), kMask);
  }

  void Run() {
    while (!stopping) {
      bool event = WaitForEvents(kRescanMs);
      if (stopping) break;
      std::string fingerprint = Fingerprint(dir);
      if (!event && fingerprint == last_fingerprint) continue;
      // Something moved: wait until the tree is quiet, so that an editor's
      // write-then-rename or a `kubectl ... > file` is read once, complete.
      for (int round = 0; round < kMaxSettleRounds && !stopping; ++round) {
        bool more = WaitForEvents(kQuietMs);
        std::string again = Fingerprint(dir);
        if (!more && again == fingerprint) break;
        fingerprint = std::move(again);
      }
      if (stopping) break;
      last_fingerprint = std::move(fingerprint);
      AddWatches();
      LoadResult result = LoadManifests(dir);
      std::string digest = Digest(result);
      if (digest == last_digest) continue;
      last_digest = std::move(digest);
      on_change(std::move(result));
    }
  }
};

ManifestWatcher::ManifestWatcher(std::filesystem::path dir, std::function<void(LoadResult)> on_change)
    : impl_(std::make_unique<Impl>()) {
  impl_->dir = std::move(dir);
  impl_->on_change = std::move(on_change);
}

ManifestWatcher::~ManifestWatcher() { Stop(); }

void ManifestWatcher::Start() {
  if (impl_->thread.joinable()) return;
  impl_->stopping = false;
  impl_->last_fingerprint = Fingerprint(impl_->dir);
  impl_->last_digest = Digest(LoadManifests(impl_->dir));
  // Without inotify (limits reached, odd file systems) the rescan still works.
  impl_->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  impl_->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  impl_->AddWatches();
  impl_->thread = std::thread([impl = impl_.get()] { impl->Run(); });
}

void ManifestWatcher::Stop() {
  if (!impl_->thread.joinable()) return;
  impl_->stopping = true;
  if (impl_->wake_fd >= 0) {
    uint64_t one = 1;
    (void)!write(impl_->wake_fd, &one, sizeof(one));
  }
  impl_->thread.join();
  for (int* fd : {&impl_->inotify_fd, &impl_->wake_fd}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

}  // namespace sluice::source
