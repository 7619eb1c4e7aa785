#include "controlplane/kube/kube_source.h"

#include <optional>

#include "controlplane/server/json_log.h"

namespace sluice::kube {

using nlohmann::json;
using sluice::server::LogJson;

namespace {

std::string MetadataString(const json& object, const char* field) {
  if (!object.is_object()) return "";
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return "";
  auto value = metadata->find(field);
  return value != metadata->end() && value->is_string() ? value->get<std::string>() : "";
}

// The store's key for an object: namespaced objects without a namespace are
// filed under "default" by the store; cluster-scoped ones under "".
std::pair<std::string, std::string> KeyOf(const std::string& kind, const json& object) {
  std::string ns = MetadataString(object, "namespace");
  if (ns.empty() && kind != "IngressClass") ns = "default";
  return {ns, MetadataString(object, "name")};
}

}  // namespace

bool ReplaceKind(store::Store& store, const std::string& kind, std::vector<json> objects,
                 const std::string& origin) {
  std::set<std::pair<std::string, std::string>> listed;
  bool changed = false;
  for (json& object : objects) {
    listed.insert(KeyOf(kind, object));
    changed |= store.Upsert(std::move(object), origin);
  }
  std::vector<std::pair<std::string, std::string>> gone;
  for (const auto& [key, stored] : store.Objects(kind)) {
    if (!listed.count(key)) gone.push_back(key);
  }
  for (const auto& [ns, name] : gone) changed |= store.Remove(kind, ns, name);
  return changed;
}

KubeSource::KubeSource(std::shared_ptr<ApiClient> client, KubeSourceOptions options, StoreChanged on_change)
    : client_(std::move(client)), options_(std::move(options)), on_change_(std::move(on_change)) {
  for (const ResourceKind& kind : options_.kinds) unsynced_.insert(kind.kind);
}

KubeSource::~KubeSource() { Stop(); }

void KubeSource::Start() {
  thread_ = std::thread([this] { Run(); });
  for (const ResourceKind& kind : options_.kinds) {
    auto reflector = Reflector::Create(client_, kind, options_.reflector,
                                       [this](ReflectorEvent event) { Push(std::move(event)); });
    reflectors_.push_back(reflector);
    reflector->Start();
  }
}

void KubeSource::Stop() {
  // Reflectors first: after their Stop() nothing is pushed any more.
  for (auto& reflector : reflectors_) reflector->Stop();
  reflectors_.clear();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool KubeSource::synced() const {
  std::lock_guard<std::mutex> lock(mu_);
  return synced_;
}

std::vector<std::string> KubeSource::unsynced_kinds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {unsynced_.begin(), unsynced_.end()};
}

void KubeSource::Push(ReflectorEvent event) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(event));
  }
  cv_.notify_one();
}

bool KubeSource::Apply(ReflectorEvent& event) {
  switch (event.type) {
    case ReflectorEvent::Type::kReplace: {
      bool changed = ReplaceKind(store_, event.kind, std::move(event.objects));
      std::lock_guard<std::mutex> lock(mu_);
      if (unsynced_.erase(event.kind) && unsynced_.empty()) synced_ = true;
      return changed;
    }
    case ReflectorEvent::Type::kUpsert:
      return store_.Upsert(std::move(event.object), "api");
    case ReflectorEvent::Type::kDelete: {
      auto [ns, name] = KeyOf(event.kind, event.object);
      return store_.Remove(event.kind, ns, name);
    }
  }
  return false;
}

void KubeSource::Run() {
  bool reported_initial_sync = false;
  std::optional<std::chrono::steady_clock::time_point> last_report;
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    const auto burst_began = std::chrono::steady_clock::now();
    // Leading edge: the first event after a quiet period is reported at
    // once (one change must reach the proxies fast); events that follow a
    // report within batch_delay are gathered into one translation.
    const bool after_quiet = !last_report.has_value() || burst_began - *last_report >= options_.batch_delay;
    bool translation_changed = false;
    size_t applied = 0;
    while (true) {
      std::deque<ReflectorEvent> batch;
      batch.swap(queue_);
      lock.unlock();
      for (ReflectorEvent& event : batch) translation_changed |= Apply(event);
      applied += batch.size();
      lock.lock();
      if (stopping_) return;
      // Before the initial sync nothing is reported, so there is nothing to
      // wait for; afterwards, gather the rest of the burst.
      if (!synced_ || after_quiet) break;
      const auto deadline =
          std::min(std::chrono::steady_clock::now() + options_.batch_delay, burst_began + options_.batch_cap);
      if (!cv_.wait_until(lock, deadline, [this] { return stopping_ || !queue_.empty(); })) break;
      if (stopping_) return;
    }
    if (!synced_) continue;
    lock.unlock();
    last_report = std::chrono::steady_clock::now();
    if (!reported_initial_sync) {
      reported_initial_sync = true;
      LogJson("info", "initial sync completed", {{"objects", store_.size()}});
      on_change_(store_, true);
    } else if (applied > 0) {
      on_change_(store_, translation_changed);
    }
    lock.lock();
  }
}

}  // namespace sluice::kube
