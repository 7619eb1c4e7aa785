#pragma once
// The Kubernetes API as the controller's source of objects: one reflector
// per kind feeding a queue, and one controller thread that owns the
// store::Store, applies the queue to it and tells the caller when to
// translate. Nothing is reported before every kind has completed its first
// list, so the controller never serves an empty or partial configuration.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "controlplane/kube/api_client.h"
#include "controlplane/kube/reflector.h"
#include "controlplane/store/store.h"

namespace sluice::kube {

struct KubeSourceOptions {
  ReflectorOptions reflector;
  // Coalesce bursts of events: the first event after batch_delay without
  // one is handled at once; events that follow closely are gathered until
  // the queue has been quiet for batch_delay, or batch_cap after the burst
  // began.
  std::chrono::milliseconds batch_delay{50};
  std::chrono::milliseconds batch_cap{500};
  std::vector<ResourceKind> kinds = WatchedKinds();
};

// Runs on the controller thread. `translation_inputs_changed` is false when
// only things translation ignores changed (an Ingress's status, an
// unreferenced Secret); the status writer still wants to know.
using StoreChanged = std::function<void(const store::Store& store, bool translation_inputs_changed)>;

class KubeSource {
 public:
  KubeSource(std::shared_ptr<ApiClient> client, KubeSourceOptions options, StoreChanged on_change);
  ~KubeSource();  // Stop()
  KubeSource(const KubeSource&) = delete;
  KubeSource& operator=(const KubeSource&) = delete;

  void Start();
  void Stop();

  // True once every kind completed its first list (and the first on_change
  // call has been made or is being made).
  bool synced() const;
  // Kinds still waiting for their first list, e.g. {"Secret", "Service"}.
  std::vector<std::string> unsynced_kinds() const;

 private:
  void Push(ReflectorEvent event);
  void Run();
  bool Apply(ReflectorEvent& event);  // controller thread; true when translation inputs changed

  const std::shared_ptr<ApiClient> client_;
  const KubeSourceOptions options_;
  const StoreChanged on_change_;
  std::vector<std::shared_ptr<Reflector>> reflectors_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ReflectorEvent> queue_;
  bool stopping_ = false;
  std::set<std::string> unsynced_;
  bool synced_ = false;

  store::Store store_;  // controller thread only
  std::thread thread_;
};

// A relist of one kind: upserts every listed object and removes the stored
// objects of that kind the list no longer has (deleted while we were not
// watching). Returns true when translation inputs changed.
bool ReplaceKind(store::Store& store, const std::string& kind, std::vector<nlohmann::json> objects,
                 const std::string& origin = "api");

}  // namespace sluice::kube
