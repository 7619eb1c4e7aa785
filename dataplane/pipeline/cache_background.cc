#include "dataplane/pipeline/cache_background.h"

#include <ctime>
#include <utility>

#include "dataplane/cache/directives/directives.h"
#include "dataplane/cache/purge/purge.h"
#include "dataplane/pipeline/hop_by_hop.h"
#include "dataplane/subrequest/subrequest.h"

namespace sluice::pipeline {
namespace {

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

// The client's fields that go with the background request: its end-to-end
// fields (the origin picks the same representation: Accept-Encoding,
// Accept-Language, cookies of a cache-key), but not its own conditionals,
// ranges or cache directives (this request asks about the stored response),
// nor the framing the subrequest client writes itself.
bool SentInBackground(std::string_view name) {
  if (IsHopByHopName(name)) return false;
  if (name.size() > 3 && name.substr(0, 3) == "if-") return false;
  return name != "host" && name != "content-length" && name != "expect" && name != "range" &&
         name != "cache-control" && name != "pragma" && name != "http2-settings";
}

// The fields of a background 304 that refresh the stored response: the
// validators and the freshness information (RFC 9111 §4.3.4 names the
// fields a 304 sends). The rest of a raw upstream 304 (Server, the
// backend's own fields) never passed the route's response_headers stage, so
// it does not go into a response that clients get.
bool RefreshesStored(std::string_view name) {
  return name == "date" || name == "etag" || name == "last-modified" || name == "expires" ||
         name == "cache-control" || name == "cdn-cache-control" || name == "age" || name == "cache-tag" ||
         name == "surrogate-key";
}

}  // namespace

std::shared_ptr<cache::CachedObject> RefreshedBy304(const cache::CachedObject& stored,
                                                    const http::HeaderMap& not_modified, int64_t request_time,
                                                    int64_t now, const cache::CachePolicy& policy) {
  auto updated = std::make_shared<cache::CachedObject>(stored);
  updated->headers = cache::UpdateFrom304(stored.headers, not_modified);
  updated->tags = cache::PurgeTagsOf(updated->headers);  // a new Cache-Tag / Surrogate-Key counts too
  const cache::ResponseDirectives merged = cache::ParseResponseDirectives(updated->headers, now);
  updated->freshness.lifetime = cache::FreshnessLifetime(updated->status, merged, now, policy).lifetime;
  updated->freshness.cc = merged.cc;
  updated->age = cache::AgeInputsOf(cache::ParseResponseDirectives(not_modified, now), request_time, now);
  return updated;
}

bool RevalidateInBackground(const ExchangeState& state, const std::shared_ptr<const cache::CachedObject>& stale,
                            cache::Store& store, const cache::CachePolicy& policy,
                            const BackgroundRevalidation& how) {
  if (state.subrequests == nullptr || how.cluster.empty() || stale == nullptr || stale->key.empty()) return false;
  const std::string* etag = stale->headers.Get("etag");
  const std::string* last_modified = stale->headers.Get("last-modified");
  if (etag == nullptr && last_modified == nullptr) return false;
  const int64_t now = Now();
  // Only one at a time per key: a fill in progress (another request's miss
  // or an earlier background revalidation) means someone is asking already.
  cache::Admission admission = store.Admit(stale->key, now, nullptr, cache::AdmitMode::kRevalidate);
  if (admission.kind != cache::Admission::kFill) return false;

  subrequest::Request request;
  request.cluster = how.cluster;
  request.method = "GET";
  request.path = state.request.path;
  request.authority = state.request.authority;
  for (const http::Header& field : state.request.headers.entries()) {
    if (SentInBackground(field.name)) request.headers.Add(field.name, field.value);
  }
  if (etag != nullptr) request.headers.Add("if-none-match", *etag);
  if (last_modified != nullptr) request.headers.Add("if-modified-since", *last_modified);
  request.timeout = std::chrono::milliseconds(how.timeout_ms);
  request.max_body_bytes = 0;  // a 304 has none; any other answer is not kept

  // Owned by the callback, which runs once on this worker's loop (or is
  // destroyed unrun at shutdown: the fill is then abandoned, its waiters
  // look again). The store is the process's: it outlives every worker.
  std::shared_ptr<cache::Fill> fill = std::move(admission.fill);
  state.subrequests->Detach(
      std::move(request), [&store, policy, stale, fill, request_time = now](subrequest::Response&& answer) {
        const int64_t now = Now();
        if (answer.status == 304) {
          http::HeaderMap refreshing;
          for (const http::Header& field : answer.headers.entries()) {
            if (RefreshesStored(field.name)) refreshing.Add(field.name, field.value);
          }
          store.Insert(RefreshedBy304(*stale, refreshing, request_time, now, policy));
        } else if (answer.status != 0 && answer.status < 500) {
          store.Remove(stale->key);
        }
        fill->Abandon();  // nothing stored through it: the waiters look again
      });
  return true;
}

}  // namespace sluice::pipeline
