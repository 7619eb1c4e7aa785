#include "controlplane/kube/reflector.h"

#include "controlplane/metrics/controller_metrics.h"

#include "controlplane/server/json_log.h"
#include "controlplane/store/secret_filter.h"

namespace sluice::kube {

using nlohmann::json;
using sluice::server::LogJson;

std::string ResourceKind::CollectionPath(const std::string& ns) const {
  std::string path = api_version.find('/') == std::string::npos ? "/api/" + api_version : "/apis/" + api_version;
  if (namespaced && !ns.empty()) path += "/namespaces/" + UrlEncode(ns);
  return path + "/" + plural;
}

std::vector<ResourceKind> WatchedKinds() {
  return {
      {"Ingress", "networking.k8s.io/v1", "ingresses", true, ""},
      {"IngressClass", "networking.k8s.io/v1", "ingressclasses", false, ""},
      {"Service", "v1", "services", true, ""},
      {"EndpointSlice", "discovery.k8s.io/v1", "endpointslices", true, ""},
      // TLS Secrets and CA bundles (ca.crt in a Secret of any type, e.g.
      // Opaque) are read, so the list cannot select by type; the API server
      // leaves out the two kinds that are numerous and large, service-account
      // tokens and Helm releases, and TrimSecret drops the rest (and every
      // other key) as each page or event arrives.
      {"Secret", "v1", "secrets", true, "type!=kubernetes.io/service-account-token,type!=helm.sh/release.v1",
       &store::TrimSecret},
      // Static sites (translate/static_sites.h) and header sets
      // (translate/header_annotations.h): only ConfigMaps labelled
      // sluice.io/static-site or sluice.io/headers are kept, never the
      // others (which may hold anything). A label selector cannot say "this
      // label or that one", so the list is unselected and TrimConfigMap
      // drops the rest as each page or event arrives (as for Secrets).
      {"ConfigMap", "v1", "configmaps", true, "", &store::TrimConfigMap},
      // The StaticSite custom resource the chart's CRD defines.
      {"StaticSite", "sluice.io/v1alpha1", "staticsites", true, ""},
  };
}

std::shared_ptr<Reflector> Reflector::Create(std::shared_ptr<ApiClient> client, ResourceKind kind,
                                             ReflectorOptions options, ReflectorSink sink) {
  return std::shared_ptr<Reflector>(new Reflector(std::move(client), std::move(kind), std::move(options),
                                                  std::move(sink)));
}

Reflector::Reflector(std::shared_ptr<ApiClient> client, ResourceKind kind, ReflectorOptions options,
                     ReflectorSink sink)
    : client_(std::move(client)),
      kind_(std::move(kind)),
      options_(std::move(options)),
      sink_(std::move(sink)),
      backoff_(options_.backoff) {}

void Reflector::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return;
  StartList();
}

void Reflector::Stop() {
  std::shared_ptr<StreamHandle> stream;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    state_ = "stopped";
    stream = std::move(stream_);
  }
  if (stream) stream->Cancel();
}

std::string Reflector::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

std::string Reflector::Query(bool watch) const {
  std::string query;
  auto add = [&query](const std::string& name, const std::string& value) {
    query += query.empty() ? "?" : "&";
    query += name + "=" + UrlEncode(value);
  };
  if (watch) {
    add("watch", "true");
    add("allowWatchBookmarks", "true");
    add("resourceVersion", resource_version_);
    add("timeoutSeconds",
        std::to_string(RandomSeconds(options_.watch_timeout_min, options_.watch_timeout_max).count()));
  } else {
    add("limit", std::to_string(options_.page_size));
    if (!continue_.empty()) add("continue", continue_);
  }
  if (!kind_.field_selector.empty()) add("fieldSelector", kind_.field_selector);
  if (!kind_.label_selector.empty()) add("labelSelector", kind_.label_selector);
  return query;
}

json Reflector::WithKind(json object) const {
  // List items come without kind/apiVersion; the store files objects by kind.
  if (object.is_object()) {
    object["kind"] = kind_.kind;
    object["apiVersion"] = kind_.api_version;
  }
  return object;
}

// mu_ held.
void Reflector::StartList() {
  state_ = "listing";
  items_.clear();
  continue_.clear();
  pages_ = 0;
  controlplane::ControllerMetrics::Get().List(kind_.kind, listed_once_);
  listed_once_ = true;
  LogJson("info", "list started", {{"kind", kind_.kind}, {"namespace", options_.watch_namespace}});
  FetchPage();
}

// mu_ held.
void Reflector::FetchPage() {
  ApiRequest request;
  request.path = kind_.CollectionPath(options_.watch_namespace) + Query(/*watch=*/false);
  std::weak_ptr<Reflector> weak = weak_from_this();
  client_->Send(std::move(request), [weak](ApiResponse response) {
    if (auto self = weak.lock()) self->OnPage(std::move(response));
  });
}

void Reflector::OnPage(ApiResponse response) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return;
  if (response.status == 410 && !continue_.empty()) {
    // The continue token expired between pages: only a fresh list is consistent.
    LogJson("warn", "list expired (410) -> relist",
            {{"kind", kind_.kind}, {"pages", pages_}, {"message", StatusMessage(response.body)}});
    StartList();
    return;
  }
  if (!response.ok()) {
    LogApiError("list", response);
    RetryLater(backoff_.Next(ParseRetryAfter(response.retry_after)), &Reflector::StartList);
    return;
  }
  json page = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  auto items = page.is_object() ? page.find("items") : page.end();
  if (!page.is_object() || (items != page.end() && !items->is_array() && !items->is_null())) {
    LogJson("error", "api error",
            {{"kind", kind_.kind}, {"verb", "list"}, {"code", response.status}, {"message", "unparsable list body"}});
    RetryLater(backoff_.Next(), &Reflector::StartList);
    return;
  }
  ++pages_;
  if (items != page.end() && items->is_array()) {
    for (json& item : *items) {
      json object = WithKind(std::move(item));
      if (kind_.trim != nullptr && !kind_.trim(object)) continue;
      items_.push_back(std::move(object));
    }
  }
  const json& metadata = page.contains("metadata") ? page["metadata"] : json::object();
  continue_ = metadata.is_object() && metadata.contains("continue") && metadata["continue"].is_string()
                  ? metadata["continue"].get<std::string>()
                  : "";
  if (!continue_.empty()) {
    FetchPage();
    return;
  }
  resource_version_ = ResourceVersionOf(page);
  LogJson("info", "list completed",
          {{"kind", kind_.kind}, {"count", items_.size()}, {"resourceVersion", resource_version_}, {"pages", pages_}});
  ReflectorEvent event;
  event.type = ReflectorEvent::Type::kReplace;
  event.kind = kind_.kind;
  event.objects = std::move(items_);
  items_.clear();
  sink_(std::move(event));
  backoff_.Reset();
  StartWatch();
}

// mu_ held.
void Reflector::StartWatch() {
  state_ = "watching";
  splitter_.Clear();
  watch_expired_ = false;
  watch_error_.clear();
  watch_events_ = 0;
  watch_started_ = std::chrono::steady_clock::now();
  ApiRequest request;
  request.path = kind_.CollectionPath(options_.watch_namespace) + Query(/*watch=*/true);
  LogJson("info", "watch started", {{"kind", kind_.kind}, {"resourceVersion", resource_version_}});
  std::weak_ptr<Reflector> weak = weak_from_this();
  stream_ = client_->Stream(
      std::move(request),
      [weak](std::string_view chunk) {
        auto self = weak.lock();
        if (!self) return false;
        std::lock_guard<std::mutex> lock(self->mu_);
        if (self->stopped_) return false;
        bool more = true;
        self->splitter_.Feed(chunk, [&](std::string_view line) {
          if (more) more = self->OnWatchLine(line);
        });
        return more;
      },
      [weak](ApiResponse response) {
        if (auto self = weak.lock()) self->OnWatchEnd(std::move(response));
      });
}

// mu_ held.
bool Reflector::OnWatchLine(std::string_view line) {
  Result<WatchEvent> event = ParseWatchEvent(line);
  if (!event.ok()) {
    watch_error_ = event.status().message();
    return false;
  }
  ++watch_events_;
  switch (event->type) {
    case WatchEvent::Type::kBookmark:
      if (std::string version = ResourceVersionOf(event->object); !version.empty()) resource_version_ = version;
      return true;
    case WatchEvent::Type::kError:
      if (IsGoneStatus(event->object)) {
        watch_expired_ = true;
      } else {
        watch_error_ = "ERROR event: " + StatusMessage(event->object.dump());
      }
      return false;
    case WatchEvent::Type::kAdded:
    case WatchEvent::Type::kModified:
    case WatchEvent::Type::kDeleted: {
      if (std::string version = ResourceVersionOf(event->object); !version.empty()) resource_version_ = version;
      ReflectorEvent out;
      out.type = event->type == WatchEvent::Type::kDeleted ? ReflectorEvent::Type::kDelete
                                                           : ReflectorEvent::Type::kUpsert;
      out.kind = kind_.kind;
      controlplane::ControllerMetrics::Get().WatchEvent(kind_.kind, event->type == WatchEvent::Type::kAdded ? "ADDED"
                                                                    : event->type == WatchEvent::Type::kModified
                                                                        ? "MODIFIED"
                                                                        : "DELETED");
      out.object = WithKind(std::move(event->object));
      if (kind_.trim != nullptr && !kind_.trim(out.object)) out.type = ReflectorEvent::Type::kDelete;
      sink_(std::move(out));
      return true;
    }
  }
  return true;
}

void Reflector::OnWatchEnd(ApiResponse response) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return;
  stream_.reset();
  const auto lasted = std::chrono::steady_clock::now() - watch_started_;
  if (response.status == 410 || watch_expired_) {
    LogJson("warn", "watch expired (410) -> relist",
            {{"kind", kind_.kind}, {"resourceVersion", resource_version_}});
    StartList();
    return;
  }
  if (response.status != 200) {
    LogApiError("watch", response);
    RetryLater(backoff_.Next(ParseRetryAfter(response.retry_after)), &Reflector::StartWatch);
    return;
  }
  std::string error = !watch_error_.empty() ? watch_error_ : response.error;
  LogJson(error.empty() ? "info" : "warn", "watch ended",
          {{"kind", kind_.kind},
           {"resourceVersion", resource_version_},
           {"events", watch_events_},
           {"seconds", std::chrono::duration_cast<std::chrono::seconds>(lasted).count()},
           {"error", error}});
  // A watch that ends at once with nothing to say (a server closing every
  // stream, a broken proxy) must not become a busy loop.
  if (!error.empty() || (watch_events_ == 0 && lasted < std::chrono::seconds(1))) {
    RetryLater(backoff_.Next(), &Reflector::StartWatch);
    return;
  }
  backoff_.Reset();
  StartWatch();
}

// mu_ held.
void Reflector::RetryLater(std::chrono::milliseconds delay, void (Reflector::*step)()) {
  state_ = "backoff";
  std::weak_ptr<Reflector> weak = weak_from_this();
  client_->After(delay, [weak, step] {
    auto self = weak.lock();
    if (!self) return;
    std::lock_guard<std::mutex> lock(self->mu_);
    if (self->stopped_) return;
    (self.get()->*step)();
  });
}

void Reflector::LogApiError(const char* verb, const ApiResponse& response) {
  const char* level = response.status == 401 || response.status == 403 || response.status == 0 ||
                              response.status >= 500
                          ? "error"
                          : "warn";
  std::string message = response.status == 0 ? response.error : StatusMessage(response.body);
  nlohmann::ordered_json fields = {{"kind", kind_.kind}, {"verb", verb}, {"code", response.status},
                                   {"message", message}};
  if (response.status == 401) fields["hint"] = "credentials rejected (token expired or wrong?)";
  if (response.status == 403) {
    fields["hint"] = std::string("RBAC does not allow ") + verb + " on " + kind_.plural;
  }
  if (!response.retry_after.empty()) fields["retry_after"] = response.retry_after;
  LogJson(level, "api error", fields);
}

}  // namespace sluice::kube
