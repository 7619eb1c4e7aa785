#pragma once
// One reflector per kind, as client-go has: a paginated list, then a watch
// from the list's resourceVersion (with bookmarks), resumed from the last
// seen resourceVersion when it ends, a fresh list when the server says 410
// Gone, and backoff with jitter on errors. It runs on cpprestsdk's threads
// and hands what it learns to a sink (a queue to the controller thread).
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controlplane/kube/api_client.h"
#include "controlplane/kube/backoff.h"
#include "controlplane/kube/watch_events.h"

namespace sluice::kube {

struct ResourceKind {
  std::string kind;         // "Ingress"
  std::string api_version;  // "networking.k8s.io/v1" or "v1"
  std::string plural;       // "ingresses"
  bool namespaced = true;
  std::string field_selector;  // e.g. "type!=kubernetes.io/service-account-token"; "" = none
  // Reduces each listed or watched object, in place, to what the controller
  // reads, before anything keeps it; false: the controller reads nothing of
  // it (left out of a list; a watch ADDED/MODIFIED becomes a delete, so an
  // object that stops qualifying leaves the store). Null: keep everything.
  bool (*trim)(nlohmann::json& object) = nullptr;
  // e.g. "sluice.io/static-site=true": only these objects are listed and
  // watched (and RBAC need not grant more); "" = all.
  std::string label_selector;

  // "/apis/networking.k8s.io/v1/namespaces/NS/ingresses" ("/api/v1/..." for
  // the core group); all namespaces when `ns` is empty or the kind is
  // cluster-scoped.
  std::string CollectionPath(const std::string& ns) const;
};

// What the controller watches: Ingress, IngressClass, Service,
// EndpointSlice and Secret (trimmed to TLS certificates and CA bundles,
// store/secret_filter.h).
std::vector<ResourceKind> WatchedKinds();

struct ReflectorEvent {
  enum class Type { kReplace, kUpsert, kDelete };
  Type type = Type::kUpsert;
  std::string kind;
  nlohmann::json object;                // kUpsert, kDelete (kind and apiVersion filled in)
  std::vector<nlohmann::json> objects;  // kReplace: every object of the kind
};
using ReflectorSink = std::function<void(ReflectorEvent)>;

struct ReflectorOptions {
  std::string watch_namespace;  // "" = all namespaces
  int page_size = 500;
  std::chrono::seconds watch_timeout_min{300};
  std::chrono::seconds watch_timeout_max{600};
  BackoffOptions backoff;
};

class Reflector : public std::enable_shared_from_this<Reflector> {
 public:
  static std::shared_ptr<Reflector> Create(std::shared_ptr<ApiClient> client, ResourceKind kind,
                                           ReflectorOptions options, ReflectorSink sink);
  void Start();
  // No sink call happens after Stop() returns; an open watch is cancelled.
  void Stop();

  const ResourceKind& kind() const { return kind_; }
  // "idle", "listing", "watching", "backoff" or "stopped".
  std::string state() const;

 private:
  Reflector(std::shared_ptr<ApiClient> client, ResourceKind kind, ReflectorOptions options, ReflectorSink sink);

  std::string Query(bool watch) const;
  void StartList();
  void FetchPage();
  void OnPage(ApiResponse response);
  void StartWatch();
  bool OnWatchLine(std::string_view line);  // false: stop reading
  void OnWatchEnd(ApiResponse response);
  void RetryLater(std::chrono::milliseconds delay, void (Reflector::*step)());
  void LogApiError(const char* verb, const ApiResponse& response);
  nlohmann::json WithKind(nlohmann::json object) const;

  const std::shared_ptr<ApiClient> client_;
  const ResourceKind kind_;
  const ReflectorOptions options_;
  const ReflectorSink sink_;

  mutable std::mutex mu_;
  bool stopped_ = false;
  std::string state_ = "idle";
  Backoff backoff_;
  // The list in progress.
  std::vector<nlohmann::json> items_;
  std::string continue_;
  int pages_ = 0;
  bool listed_once_ = false;  // the next list is a relist (metrics)
  // The watch in progress.
  std::string resource_version_;
  std::shared_ptr<StreamHandle> stream_;
  LineSplitter splitter_;
  bool watch_expired_ = false;
  std::string watch_error_;
  size_t watch_events_ = 0;
  std::chrono::steady_clock::time_point watch_started_{};
};

}  // namespace sluice::kube
