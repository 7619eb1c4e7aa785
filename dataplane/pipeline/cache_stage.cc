#include "dataplane/pipeline/cache_stage.h"

#include <algorithm>
#include <ctime>
#include <string>

#include "dataplane/cache/directives/directives.h"
#include "dataplane/cache/purge/purge.h"
#include "dataplane/pipeline/body_source.h"

namespace sluice::pipeline {
namespace {

// What the lookup stage leaves for the store stage.
struct CacheData final : StageData {
  std::string primary;
  cache::RequestDirectives request;
  int64_t request_time = 0;
  bool unsafe = false;          // invalidate on a 2xx/3xx
  std::string_view fwd;         // Cache-Status fwd= for a response from the origin
  std::unique_ptr<cache::Fill> fill;
};

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

bool IsConditionalOrRange(const http::HeaderMap& headers) {
  return headers.Get("if-none-match") != nullptr || headers.Get("if-modified-since") != nullptr ||
         headers.Get("if-match") != nullptr || headers.Get("if-unmodified-since") != nullptr ||
         headers.Get("range") != nullptr;
}

// The variant key of a response varying on the marker's fields.
std::string VariantKey(std::string_view primary, const std::string& secondary) {
  std::string key(primary);
  key.push_back('\x1f');
  key.append(secondary);
  return key;
}

// Answers the request from `object`.
void ReplyFrom(ExchangeState& state, const std::shared_ptr<const cache::CachedObject>& object, int64_t age,
               std::string_view detail) {
  LocalReply& reply = state.reply;
  reply.status = object->status;
  reply.headers = object->headers;
  reply.headers.Set("age", cache::AgeValue(age));
  cache::CacheStatus status;
  status.hit = true;
  status.ttl = object->freshness.lifetime - age;
  status.detail = detail;
  reply.headers.Add("cache-status", cache::CacheStatusValue(kCacheStatusName, status));
  // The object's bytes, shared: no copy per hit; the object may be evicted
  // while they stream.
  reply.source = std::make_shared<MemoryBodySource>(object->body, 0, object->body->size());
  reply.head_only = state.request.method == "HEAD" || object->status == 204 || object->status == 304;
}

// The route's key for `url` ("scheme://authority/target", as
// InvalidationTargets gives it), with this request's headers and cookies.
std::string KeyOfUrl(const cache::KeyRecipe& recipe, std::string_view url, const http::HeaderMap& headers) {
  const size_t colon = url.find("://");
  if (colon == std::string_view::npos) return std::string(url);
  std::string_view rest = url.substr(colon + 3);
  const size_t slash = rest.find('/');
  return cache::BuildKey(recipe, url.substr(0, colon), rest.substr(0, slash),
                         slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash), headers);
}

}  // namespace

CacheStageOptions CacheStageOptions::From(const v1::CachePolicy& policy) {
  CacheStageOptions options;
  options.policy.store_set_cookie = policy.store_set_cookie();
  options.policy.default_ttl = policy.default_ttl_seconds() > 0 ? policy.default_ttl_seconds() : cache::kAbsent;
  options.key.scheme = !policy.key().omit_scheme();
  options.key.host = !policy.key().omit_host();
  options.key.query = policy.key().query() == v1::CacheKey::QUERY_SORTED    ? cache::QueryInKey::kSorted
                      : policy.key().query() == v1::CacheKey::QUERY_IGNORED ? cache::QueryInKey::kIgnored
                                                                            : cache::QueryInKey::kAsSent;
  options.key.headers.assign(policy.key().headers().begin(), policy.key().headers().end());
  options.key.cookies.assign(policy.key().cookies().begin(), policy.key().cookies().end());
  options.bypass.headers.assign(policy.bypass_headers().begin(), policy.bypass_headers().end());
  options.bypass.cookies.assign(policy.bypass_cookies().begin(), policy.bypass_cookies().end());
  if (!policy.methods().empty()) {
    options.cache_get = std::find(policy.methods().begin(), policy.methods().end(), "GET") != policy.methods().end();
    options.cache_head = std::find(policy.methods().begin(), policy.methods().end(), "HEAD") != policy.methods().end();
  }
  return options;
}

Verdict CacheLookupStage::OnRequestHead(ExchangeState& state) const {
  const http::RequestHead& request = state.request;
  const bool get = request.method == "GET";
  if (!get && request.method != "HEAD") {
    if (!cache::IsSafeMethod(request.method)) {
      auto data = std::make_unique<CacheData>();
      data->unsafe = true;
      state.set_data(kCacheData, std::move(data));
    }
    return Verdict::kContinue;
  }
  const int64_t now = Now();
  auto data = std::make_unique<CacheData>();
  if (!(get ? options_.cache_get : options_.cache_head) || ShouldBypass(options_.bypass, request.headers)) {
    // sluice.io/cache-methods / cache-bypass: to the origin, no fill.
    data->fwd = !(get ? options_.cache_get : options_.cache_head) ? "method" : "bypass";
    state.set_data(kCacheData, std::move(data));
    return Verdict::kContinue;
  }
  data->primary = cache::BuildKey(options_.key, request.scheme, request.authority, request.path, request.headers);
  data->request = cache::ParseRequestDirectives(request.headers);
  data->request_time = now;
  if (data->request.cc.no_store) {
    data->fwd = "request";
    state.set_data(kCacheData, std::move(data));
    return Verdict::kContinue;
  }
  std::shared_ptr<const cache::CachedObject> object = store_->Find(data->primary);
  data->fwd = "uri-miss";
  if (object != nullptr && object->vary_marker) {
    std::optional<std::string> secondary =
        cache::SecondaryKey(cache::VaryFields{false, false, object->vary}, request.headers);
    std::shared_ptr<const cache::CachedObject> variant =
        secondary ? store_->Find(VariantKey(data->primary, *secondary)) : nullptr;
    // A variant older than its marker was retired with a previous marker.
    object = variant != nullptr && variant->sequence > object->sequence ? variant : nullptr;
    if (object == nullptr) data->fwd = "vary-miss";
  }
  if (object != nullptr) {
    const int64_t age = cache::CurrentAge(object->age, now);
    const cache::Usability usability = cache::Evaluate(object->freshness, age, data->request);
    if (usability != cache::Usability::kRevalidate) {
      ReplyFrom(state, object, age, usability == cache::Usability::kFresh ? "" : cache::UsabilityName(usability));
      return Verdict::kReply;
    }
    data->fwd = "stale";
  }
  if (data->request.cc.only_if_cached) {
    // RFC 9111 §5.2.1.7.
    state.reply.status = 504;
    state.reply.body = "not in the cache (only-if-cached)\n";
    return Verdict::kReply;
  }
  // A HEAD, a conditional or a range request does not fill: its response
  // is not the whole object (and must not make the key hit-for-pass).
  if (get && !IsConditionalOrRange(request.headers)) {
    cache::Admission admission = store_->Admit(data->primary, now, nullptr, cache::AdmitMode::kRevalidate);
    if (admission.kind == cache::Admission::kFill) data->fill = std::move(admission.fill);
    // kWait: no waiting yet (the Wait is dropped, which cancels it): to the
    // origin like kPass and kBusy.
  }
  state.set_data(kCacheData, std::move(data));
  return Verdict::kContinue;
}

Verdict CacheStoreStage::OnResponseHead(ExchangeState& state, http::ResponseHead& head, bool local) const {
  auto* data = static_cast<CacheData*>(state.data(kCacheData));
  if (data == nullptr || local) return Verdict::kContinue;
  const int64_t now = Now();
  const http::RequestHead& request = state.request;
  if (data->unsafe) {
    // RFC 9111 §4.4.
    for (const std::string& target :
         cache::InvalidationTargets(request.method, head.status, request.scheme, request.authority, request.path, head.headers)) {
      store_->Remove(KeyOfUrl(options_.key, target, request.headers));
    }
    return Verdict::kContinue;
  }
  cache::CacheStatus status;
  status.fwd = data->fwd;
  status.fwd_status = head.status;
  if (data->fill != nullptr) {
    const cache::ResponseDirectives response = cache::ParseResponseDirectives(head.headers, now);
    const cache::VaryFields vary = cache::ParseVary(head.headers);
    const cache::StoreVerdict verdict =
        cache::MayStore(request.method, data->request, head.status, response, vary, options_.policy);
    if (verdict == cache::StoreVerdict::kStatus) {
      data->fill.reset();  // abandoned: e.g. a 206 or 304 tells nothing about the key
    } else if (verdict != cache::StoreVerdict::kStore) {
      data->fill->Uncacheable(now + options_.hit_for_pass_seconds);
      data->fill.reset();
    } else {
      cache::CachedObject object;
      object.status = head.status;
      object.headers = cache::StoredFields(head.headers);
      // The body's length is the object's: the reply adds Content-Length.
      object.headers.Remove("content-length");
      const cache::Freshness freshness = cache::FreshnessLifetime(head.status, response, now, options_.policy);
      object.age = cache::AgeInputsOf(response, data->request_time, now);
      object.freshness.lifetime = freshness.lifetime;
      object.freshness.cc = response.cc;
      object.vary = vary.names;
      object.tags = cache::PurgeTagsOf(head.headers);
      int64_t expected = -1;
      if (const std::string* length = head.headers.Get("content-length")) {
        if (std::optional<int64_t> n = cache::ParseDeltaSeconds(*length)) expected = *n;
      }
      if (state.response_head_ends_stream) expected = 0;
      if (!vary.names.empty()) {
        // Stored as a variant, behind a Vary marker at the primary key.
        std::optional<std::string> secondary = cache::SecondaryKey(vary, request.headers);
        std::shared_ptr<const cache::CachedObject> marker = store_->Find(data->primary);
        if (marker == nullptr || !marker->vary_marker || marker->vary != vary.names) {
          auto fresh_marker = std::make_shared<cache::CachedObject>();
          fresh_marker->key = data->primary;
          fresh_marker->vary_marker = true;
          fresh_marker->vary = vary.names;
          store_->Insert(std::move(fresh_marker));
        }
        data->fill.reset();  // the primary key's fill: abandoned
        cache::Admission admission =
            store_->Admit(VariantKey(data->primary, *secondary), now, nullptr, cache::AdmitMode::kRevalidate);
        if (admission.kind == cache::Admission::kFill) data->fill = std::move(admission.fill);
      }
      if (data->fill != nullptr && !data->fill->Begin(std::move(object), expected)) data->fill.reset();
      status.stored = data->fill != nullptr;
    }
  }
  if (!status.fwd.empty()) head.headers.Add("cache-status", cache::CacheStatusValue(kCacheStatusName, status));
  return Verdict::kContinue;
}

Verdict CacheStoreStage::OnResponseBody(ExchangeState& state, std::string_view& chunk) const {
  auto* data = static_cast<CacheData*>(state.data(kCacheData));
  if (data != nullptr && data->fill != nullptr && !chunk.empty() && !data->fill->Append(chunk)) data->fill.reset();
  return Verdict::kContinue;
}

Verdict CacheStoreStage::OnResponseEnd(ExchangeState& state, std::string_view& tail) const {
  auto* data = static_cast<CacheData*>(state.data(kCacheData));
  if (data != nullptr && data->fill != nullptr) {
    // A tail (a compressor's last block) went through OnResponseBody already.
    data->fill->Commit();
    data->fill.reset();
  }
  return Verdict::kContinue;
}

}  // namespace sluice::pipeline
