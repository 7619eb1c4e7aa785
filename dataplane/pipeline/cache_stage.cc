#include "dataplane/pipeline/cache_stage.h"

#include <algorithm>
#include <ctime>
#include <string>

#include "dataplane/cache/directives/directives.h"
#include "dataplane/cache/purge/purge.h"
#include "dataplane/http/conditional/conditional.h"
#include "dataplane/net/event_loop.h"
#include "dataplane/pipeline/body_source.h"
#include "dataplane/pipeline/cache_disk_lookup.h"
#include "dataplane/pipeline/fill_body_source.h"
#include "dataplane/pipeline/io_pool.h"
#include "dataplane/pipeline/local_reply.h"

namespace sluice::pipeline {
namespace {

struct CacheData;

// A miss waiting for another request's fill, as the fill's wake-up (posted
// from the filling worker's thread) and the wait timeout find it on the
// waiting exchange's own loop. Owned by the exchange's CacheData; both
// closures hold only a weak_ptr, so once the exchange is gone (the client
// went away) they do nothing.
struct WaitToken {
  const CacheStageOptions* options;
  cache::Store* store;
  ExchangeState* state;
  CacheData* data;
  net::EventLoop::TimerId timer = 0;
  bool waiting = true;  // cleared by the first of the fill's end and the timeout
};

// What the lookup stage leaves for the store stage.
struct CacheData final : StageData {
  std::string primary;
  cache::RequestDirectives request;
  int64_t request_time = 0;
  bool unsafe = false;          // invalidate on a 2xx/3xx
  std::string_view fwd;         // Cache-Status fwd= for a response from the origin
  bool collapsed = false;       // Cache-Status "collapsed": waited for another request's fill
  std::unique_ptr<cache::Fill> fill;
  // The stored response that needed validation (stale, or the request
  // said no-cache): what the request to the origin asks about, and what an
  // origin error may be answered with (stale-if-error, RFC 5861 §4).
  // client_conditional: the validators sent are the client's own (then a
  // 304 may be for the client's copy, not ours: see SelectedBy304).
  std::shared_ptr<const cache::CachedObject> stale;
  bool client_conditional = false;
  // Coalescing: the store's Wait (destroying it cancels it) and the token
  // the wake-up and the timeout reach this exchange through.
  std::unique_ptr<cache::Wait> wait;
  std::shared_ptr<WaitToken> token;
  net::EventLoop* loop = nullptr;
  // A disk lookup on the I/O pool holds this: false once the exchange is gone.
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  ~CacheData() override {
    *alive = false;
    // On the exchange's loop: no timeout fires, no store callback runs after this.
    if (token != nullptr && token->timer != 0 && loop != nullptr) loop->CancelTimer(token->timer);
    wait.reset();
  }
};

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

bool IsConditionalOrRange(const http::HeaderMap& headers) {
  return headers.Get("if-none-match") != nullptr || headers.Get("if-modified-since") != nullptr ||
         headers.Get("if-match") != nullptr || headers.Get("if-unmodified-since") != nullptr ||
         headers.Get("range") != nullptr;
}

// Conditional requests and ranges answered from a stored response.

// If-Match and If-Unmodified-Since ask about the origin's current state (a
// lost-update check): this cache does not answer them, the origin does.
bool OnlyTheOriginDecides(const http::HeaderMap& headers) {
  return headers.Get("if-match") != nullptr || headers.Get("if-unmodified-since") != nullptr;
}

bool IsClientConditional(const http::HeaderMap& headers) {
  return headers.Get("if-none-match") != nullptr || headers.Get("if-modified-since") != nullptr ||
         OnlyTheOriginDecides(headers) || headers.Get("if-range") != nullptr;
}

std::string_view StoredEtag(const cache::CachedObject& object) {
  const std::string* etag = object.headers.Get("etag");
  return etag != nullptr ? std::string_view(*etag) : std::string_view();
}

// The stored Last-Modified in seconds, -1 when none (any of the three date
// forms, as the freshness heuristic reads it).
time_t StoredLastModified(const cache::CachedObject& object) {
  const std::string* value = object.headers.Get("last-modified");
  if (value == nullptr) return -1;
  std::optional<int64_t> date = cache::ParseHttpDate(*value, static_cast<int64_t>(std::time(nullptr)));
  return date ? static_cast<time_t>(*date) : -1;
}

// `state.reply` holds the stored response (ReplyFrom): turn it into a 304
// when the client's If-None-Match / If-Modified-Since match (RFC 9110
// 13.2.2), else into a 206 or 416 for a Range on a stored 200 (If-Range
// honoured). The ranges' bytes are the object's own, shared: a
// MemoryBodySource per range, and the multipart framing around them (for
// a disk hit, `disk`: a FileBodySource per range of the entry's file).
void AnswerConditionalOrRange(ExchangeState& state, const cache::CachedObject& object, const DiskBody* disk) {
  LocalReply& reply = state.reply;
  const http::HeaderMap& request = state.request.headers;
  const std::string* range_field = request.Get("range");
  const bool if_modified_since = request.Get("if-modified-since") != nullptr;
  // A plain hit (most of them) has nothing to decide: no date parsed.
  if (range_field == nullptr && !if_modified_since && request.Get("if-none-match") == nullptr) return;
  const std::string_view etag = StoredEtag(object);
  const time_t last_modified =
      if_modified_since || request.Get("if-range") != nullptr ? StoredLastModified(object) : -1;
  if (object.status == 200 &&
      http::EvaluatePreconditions(request, etag, last_modified) == http::Precondition::kNotModified) {
    http::HeaderMap fields = http::NotModifiedFields(object.headers);
    for (const http::Header& added : reply.headers.entries()) {
      if (added.name == "age" || added.name == "cache-status") fields.Add(added.name, added.value);
    }
    reply.status = 304;
    reply.headers = std::move(fields);
    reply.source = nullptr;
    reply.head_only = true;
    return;
  }
  if (range_field == nullptr || reply.head_only || object.status != 200 ||
      !http::IfRangeAllows(request, etag, last_modified)) {
    return;
  }
  const std::shared_ptr<const std::string>& body = object.body;
  const uint64_t size = disk != nullptr ? disk->length : body->size();
  auto range_of = [&](uint64_t first, uint64_t length) -> std::unique_ptr<BodySource> {
    if (disk != nullptr) return disk->Range(first, length);
    return std::make_unique<MemoryBodySource>(body, first, length);
  };
  http::RangeRequest range = http::ParseRange(*range_field, size);
  switch (range.kind) {
    case http::RangeRequest::Kind::kNone:
      return;  // the whole response (RFC 9110 14.2: a Range may be ignored)
    case http::RangeRequest::Kind::kUnsatisfiable:
      reply.status = 416;
      reply.headers.Add("content-range", http::UnsatisfiedContentRange(size));
      reply.source = std::make_shared<MemoryBodySource>(std::string());
      return;
    case http::RangeRequest::Kind::kSatisfiable:
      break;
  }
  reply.status = 206;
  if (range.ranges.size() == 1) {
    const http::ByteRange& only = range.ranges.front();
    reply.headers.Add("content-range", http::ContentRange(only, size));
    reply.source = range_of(only.first, only.length());
    return;
  }
  const std::string* type = object.headers.Get("content-type");
  http::MultipartFraming framing =
      http::FrameByteranges(type != nullptr ? std::string_view(*type) : std::string_view(), range.ranges, size);
  reply.headers.Set("content-type", http::MultipartByterangesType());
  std::vector<std::unique_ptr<BodySource>> parts;
  for (size_t i = 0; i < range.ranges.size(); ++i) {
    parts.push_back(std::make_unique<MemoryBodySource>(std::move(framing.part_heads[i])));
    parts.push_back(range_of(range.ranges[i].first, range.ranges[i].length()));
  }
  parts.push_back(std::make_unique<MemoryBodySource>(std::move(framing.closing)));
  reply.source = std::make_shared<SequenceBodySource>(std::move(parts));
}

// Revalidation with the origin (RFC 9111 §4.3).

// The request to the origin asks about the stored response: its ETag as
// If-None-Match, its Last-Modified as If-Modified-Since (§4.3.1), unless
// the client's request is conditional itself (then its own validators go,
// untouched).
void AskTheOriginAbout(ExchangeState& state, CacheData& data) {
  data.client_conditional = IsClientConditional(state.request.headers);
  if (data.client_conditional) return;
  if (const std::string* etag = data.stale->headers.Get("etag")) {
    state.AddField("if-none-match", state.Own(*etag));
  }
  if (const std::string* last_modified = data.stale->headers.Get("last-modified")) {
    state.AddField("if-modified-since", state.Own(*last_modified));
  }
}

// §4.3.4: does the origin's 304 speak of the stored response? When we
// sent the validators (the client's request was not conditional) it
// answers them: always (a client that asked nothing conditional must
// never get the origin's 304). When they were the client's own: by its
// entity-tag (compared weakly: a compression stage before this one may
// have weakened the stored one), else its Last-Modified, else only a
// stored response without validators either. Otherwise it answers the
// client's own copy, and goes to the client as it is.
bool SelectedBy304(const CacheData& data, const http::HeaderMap& not_modified) {
  if (!data.client_conditional) return true;
  const cache::CachedObject& stored = *data.stale;
  if (const std::string* etag = not_modified.Get("etag")) {
    return !StoredEtag(stored).empty() && http::EtagListMatchesWeak(*etag, StoredEtag(stored));
  }
  if (const std::string* last_modified = not_modified.Get("last-modified")) {
    const std::string* mine = stored.headers.Get("last-modified");
    return mine != nullptr && *mine == *last_modified;
  }
  return stored.headers.Get("etag") == nullptr && stored.headers.Get("last-modified") == nullptr;
}

// Answers the request from `object`: its body in memory, or for a disk
// hit in the entry's file (`disk`), or from `streamed` when the object is
// a fill's head whose body is still arriving.
void ReplyFrom(ExchangeState& state, const std::shared_ptr<const cache::CachedObject>& object, int64_t age,
               std::string_view detail, bool collapsed = false, const DiskBody* disk = nullptr,
               std::shared_ptr<BodySource> streamed = nullptr) {
  LocalReply& reply = state.reply;
  reply.status = object->status;
  reply.headers = object->headers;
  reply.headers.Set("age", cache::AgeValue(age));
  cache::CacheStatus status;
  status.hit = true;
  status.ttl = object->freshness.lifetime - age;
  status.detail = detail;
  status.collapsed = collapsed;
  reply.headers.Add("cache-status", cache::CacheStatusValue(kCacheStatusName, status));
  reply.head_only = state.request.method == "HEAD" || object->status == 204 || object->status == 304;
  if (streamed != nullptr) {
    // Only plain GETs wait for a fill (OnRequestHead): nothing conditional
    // or ranged to answer from bytes that are not all there yet.
    reply.source = std::move(streamed);
    return;
  }
  // The object's bytes, shared: no copy per hit; the object may be evicted
  // while they stream.
  if (disk != nullptr) {
    reply.source = disk->Range(0, disk->length);
  } else {
    reply.source = std::make_shared<MemoryBodySource>(object->body, 0, object->body->size());
  }
  AnswerConditionalOrRange(state, *object, disk);
}

// A miss coalesced on a fill whose body is arriving (store.h, "Streaming
// to waiters"): answered at once with the fill's head, Age and a
// Cache-Status saying it was collapsed and streamed, and its body as it
// arrives (FillBodySource, on this exchange's loop). False when it cannot
// be: the fill failed before this request got anything (it goes to the
// origin: see WaitOver), the response is not usable for this request (its
// own max-age / min-fresh...), or there is no loop to be woken on (tests).
bool ReplyFromStream(ExchangeState& state, const CacheData& data, const std::shared_ptr<cache::FillStream>& stream,
                     int64_t now) {
  if (state.loop == nullptr || stream->head() == nullptr || stream->state() == cache::FillStream::State::kFailed) {
    return false;
  }
  const std::shared_ptr<const cache::CachedObject>& head = stream->head();
  const int64_t age = cache::CurrentAge(head->age, now);
  const cache::Usability usability = cache::Evaluate(head->freshness, age, data.request);
  if (usability == cache::Usability::kRevalidate) return false;
  ReplyFrom(state, head, age, "streamed", /*collapsed=*/true, /*disk=*/nullptr,
            std::make_shared<FillBodySource>(stream, state.loop));
  state.cache_outcome = CacheOutcome::kCoalesced;
  state.cache_waited = true;
  return true;
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

// The stored object answering `request` at `primary` (through its Vary
// marker, as OnRequestHead looks up), or null.
std::shared_ptr<const cache::CachedObject> FindFor(cache::Store& store, const std::string& primary,
                                                   const http::HeaderMap& request) {
  std::shared_ptr<const cache::CachedObject> object = store.Find(primary);
  if (object == nullptr || !object->vary_marker) return object;
  std::optional<std::string> secondary = cache::SecondaryKey(cache::VaryFields{false, false, object->vary}, request);
  std::shared_ptr<const cache::CachedObject> variant = secondary ? store.Find(VariantKey(primary, *secondary)) : nullptr;
  return variant != nullptr && variant->sequence > object->sequence ? variant : nullptr;
}

// The wait is over (the fill ended: `outcome`; or the timeout): on the
// waiting exchange's loop. A published usable object answers the request
// (Chain::RunRequestHead replies through reply_when_resumed); otherwise the
// request goes to the origin: at once for an uncacheable key (no
// serialisation behind it), and after an abandoned fill or a timeout it may
// take the key's next fill itself (never a second wait: the wait is bounded).
void WaitOver(WaitToken& token, cache::FillOutcome outcome, bool timed_out) {
  if (!token.waiting) return;  // the other of the two came first
  token.waiting = false;
  ExchangeState& state = *token.state;
  CacheData& data = *token.data;
  if (token.timer != 0 && !timed_out && state.loop != nullptr) state.loop->CancelTimer(token.timer);
  token.timer = 0;
  std::shared_ptr<cache::FillStream> stream;
  if (outcome == cache::FillOutcome::kStreaming && !timed_out && data.wait != nullptr) stream = data.wait->stream();
  data.wait.reset();  // after a timeout: cancels it
  const int64_t now = Now();
  data.collapsed = true;
  // The fill's body is arriving: streamed to this client as it comes. A
  // fill that already failed is an abandoned one (below: to the origin).
  if (stream != nullptr && ReplyFromStream(state, data, stream, now)) {
    state.reply_when_resumed = true;
    return state.resumer->Resume();  // may end the exchange: last
  }
  // Published, or abandoned after a 304 that refreshed the stored object
  // (AnswerRevalidated): whatever usable object the store now has.
  if (!timed_out && outcome != cache::FillOutcome::kUncacheable) {
    if (std::shared_ptr<const cache::CachedObject> object = FindFor(*token.store, data.primary, state.request.headers)) {
      const int64_t age = cache::CurrentAge(object->age, now);
      const cache::Usability usability = cache::Evaluate(object->freshness, age, data.request);
      if (usability != cache::Usability::kRevalidate) {
        ReplyFrom(state, object, age, usability == cache::Usability::kFresh ? "" : cache::UsabilityName(usability),
                  /*collapsed=*/true);
        state.cache_outcome = CacheOutcome::kCoalesced;
        state.reply_when_resumed = true;
        return state.resumer->Resume();  // may end the exchange: last
      }
    }
  }
  if (outcome == cache::FillOutcome::kUncacheable && !timed_out) {
    state.cache_outcome = CacheOutcome::kPass;
  } else {
    cache::Admission admission = token.store->Admit(data.primary, now, nullptr, cache::AdmitMode::kRevalidate);
    if (admission.kind == cache::Admission::kFill) data.fill = std::move(admission.fill);
    if (admission.kind == cache::Admission::kPass) state.cache_outcome = CacheOutcome::kPass;
  }
  if (timed_out) data.fwd = "miss";
  state.resumer->Resume();  // may end the exchange: last
}

// Admits the miss for a fill, or for a wait on another request's fill.
// kContinue: fill (data.fill) or go to the origin; kPause: waiting.
Verdict AdmitMiss(ExchangeState& state, CacheData& data, cache::Store& store, const CacheStageOptions& options,
                  int64_t now) {
  std::function<void(cache::FillOutcome)> on_done;
  std::shared_ptr<WaitToken> token;
  if (state.loop != nullptr && state.resumer != nullptr && options.wait_timeout_ms > 0) {
    token = std::make_shared<WaitToken>(WaitToken{&options, &store, &state, &data});
    // Called on the filling worker's thread, with the store's waiter lock
    // held: only hands the outcome to this exchange's loop.
    on_done = [loop = state.loop, weak = std::weak_ptr<WaitToken>(token)](cache::FillOutcome outcome) {
      loop->Post([weak, outcome] {
        if (std::shared_ptr<WaitToken> alive = weak.lock()) WaitOver(*alive, outcome, /*timed_out=*/false);
      });
    };
  }
  cache::Admission admission = store.Admit(data.primary, now, std::move(on_done), cache::AdmitMode::kRevalidate);
  switch (admission.kind) {
    case cache::Admission::kFill:
      data.fill = std::move(admission.fill);
      return Verdict::kContinue;
    case cache::Admission::kWait:
      if (token == nullptr) return Verdict::kContinue;  // no loop to wait on (tests): to the origin
      state.cache_waited = true;
      data.wait = std::move(admission.wait);
      data.loop = state.loop;
      token->timer = state.loop->AddTimer(std::chrono::milliseconds(options.wait_timeout_ms),
                                          [weak = std::weak_ptr<WaitToken>(token)] {
                                            if (std::shared_ptr<WaitToken> alive = weak.lock()) {
                                              alive->timer = 0;
                                              WaitOver(*alive, cache::FillOutcome::kAbandoned, /*timed_out=*/true);
                                            }
                                          });
      data.token = std::move(token);
      return Verdict::kPause;
    case cache::Admission::kStream:
      // Another request's fill is arriving: answered from it at once.
      data.collapsed = true;
      if (ReplyFromStream(state, data, admission.stream, now)) return Verdict::kReply;
      return Verdict::kContinue;  // to the origin, no fill (the key's fill goes on)
    case cache::Admission::kPass:
    case cache::Admission::kBusy:
      state.cache_outcome = CacheOutcome::kPass;
      return Verdict::kContinue;
    case cache::Admission::kHit:  // not in kRevalidate mode
      return Verdict::kContinue;
  }
  return Verdict::kContinue;
}

// RFC 5861 §4 / RFC 9111 §4.2.4: the origin failed (`fwd_status`: its
// 5xx, or the proxy's 502/504 for a connect failure or timeout) and the
// stale object may answer instead. True: state.reply is the stored object.
bool ReplyStaleOnError(ExchangeState& state, CacheData& data, int fwd_status) {
  if (data.stale == nullptr) return false;
  // Kept when it may not answer: must-revalidate still needs it (504).
  const int64_t age = cache::CurrentAge(data.stale->age, Now());
  if (!cache::MayServeStaleOnError(data.stale->freshness, age, data.request)) return false;
  std::shared_ptr<const cache::CachedObject> stale = std::move(data.stale);
  data.fill.reset();  // nothing new to store
  state.reply = LocalReply{};
  ReplyFrom(state, stale, age, "");
  // Not a plain hit: forwarded, the origin failed, answered stale.
  cache::CacheStatus status;
  status.fwd = "stale";
  status.fwd_status = fwd_status;
  status.ttl = stale->freshness.lifetime - age;
  status.detail = "stale-if-error";
  state.reply.headers.Remove("cache-status");
  state.reply.headers.Add("cache-status", cache::CacheStatusValue(kCacheStatusName, status));
  state.cache_outcome = CacheOutcome::kStale;
  return true;
}

// The lookup's answer once the stored object is known: `object` from
// memory, or from the disk tier (`disk`: its body in the entry's file), or
// null (a miss). A disk entry answers only as it is (fresh, or stale as
// the request allows): its body is not in memory, which a revalidation's
// 304 (a refreshed copy over the same bytes) and a background
// revalidation need, so otherwise it counts as a miss and the origin's
// response replaces it in both tiers.
Verdict Decide(ExchangeState& state, CacheData& data, const std::shared_ptr<const cache::CachedObject>& object,
               const DiskBody* disk, int64_t now, const CacheStageOptions& options, cache::Store& store) {
  const http::RequestHead& request = state.request;
  const bool get = request.method == "GET";
  if (object != nullptr) {
    const int64_t age = cache::CurrentAge(object->age, now);
    const cache::Usability usability = cache::Evaluate(object->freshness, age, data.request);
    if (usability != cache::Usability::kRevalidate &&
        (disk == nullptr || usability != cache::Usability::kStaleWhileRevalidate)) {
      state.cache_outcome = usability == cache::Usability::kFresh ? CacheOutcome::kHit : CacheOutcome::kStale;
      ReplyFrom(state, object, age, usability == cache::Usability::kFresh ? "" : cache::UsabilityName(usability),
                /*collapsed=*/false, disk);
      if (disk != nullptr) {
        if (cache::disk::DiskCache* tier = DiskTierOf(store)) tier->CountHit();
      } else if (usability == cache::Usability::kStaleWhileRevalidate) {
        RevalidateInBackground(state, object, store, options.policy, options.background);
      }
      return Verdict::kReply;
    }
    data.fwd = "stale";
    if (disk == nullptr) data.stale = object;
  }
  state.cache_outcome = CacheOutcome::kMiss;
  if (data.request.cc.only_if_cached) {
    // RFC 9111 §5.2.1.7.
    state.reply.status = 504;
    state.reply.body = "not in the cache (only-if-cached)\n";
    return Verdict::kReply;
  }
  if (data.stale != nullptr) AskTheOriginAbout(state, data);
  // A HEAD, a conditional or a range request does not fill: its response
  // is not the whole object (and must not make the key hit-for-pass). It
  // goes to the origin as the client sent it (a 304 there still refreshes
  // a stale stored response: AnswerRevalidated).
  Verdict verdict = Verdict::kContinue;
  if (get && !IsConditionalOrRange(request.headers)) {
    // kPause: waiting for another request's fill (coalescing).
    verdict = AdmitMiss(state, data, store, options, now);
  }
  return verdict;
}

// A memory miss the disk tier may answer: its entry is opened and its head
// read on the I/O pool (never on the loop; the exchange pauses), then
// Decide() runs on the loop with what was read. True: paused. False: no
// disk tier, no entry, or the pool's queue is full (a miss, as without one).
bool LookUpOnDisk(ExchangeState& state, CacheData& data, const cache::CachedObject* memory_marker,
                  const CacheStageOptions& options, cache::Store& store) {
  cache::disk::DiskCache* disk = DiskTierOf(store);
  if (disk == nullptr || state.io == nullptr || state.resumer == nullptr) return false;
  std::optional<cache::disk::Located> where = LocateOnDisk(*disk, data.primary, memory_marker, state.request.headers);
  if (!where) return false;
  struct Job {
    cache::disk::Located where;
    std::optional<Result<cache::disk::Loaded>> loaded;
  };
  auto job = std::make_shared<Job>();
  job->where = std::move(*where);
  ExchangeState* exchange = &state;
  CacheData* kept = &data;
  return state.io->Submit([job, disk] { job->loaded.emplace(disk->Load(job->where)); },
                          [job, alive = data.alive, exchange, kept, options = &options, store = &store] {
                            if (!*alive) return;  // the client went away meanwhile
                            std::shared_ptr<const cache::CachedObject> object;
                            DiskBody body;
                            if (job->loaded.has_value() && job->loaded->ok()) {
                              cache::disk::Loaded& loaded = job->loaded->value();
                              body.file = std::make_shared<const FileHandle>(loaded.release_fd());
                              body.offset = loaded.body_offset;
                              body.length = loaded.body_length;
                              object = std::move(loaded.object);
                            }
                            const Verdict verdict = Decide(*exchange, *kept, object, object != nullptr ? &body : nullptr,
                                                           Now(), *options, *store);
                            if (verdict == Verdict::kPause) return;  // waiting for a fill: its wake-up resumes
                            if (verdict == Verdict::kReply) exchange->reply_when_resumed = true;
                            exchange->resumer->Resume();  // may end the exchange: last
                          });
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
    state.cache_outcome = CacheOutcome::kBypass;
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
    state.cache_outcome = CacheOutcome::kBypass;
    state.set_data(kCacheData, std::move(data));
    return Verdict::kContinue;
  }
  data->primary = cache::BuildKey(options_.key, request.scheme, request.authority, request.path, request.headers);
  data->request = cache::ParseRequestDirectives(request.headers);
  data->request_time = now;
  if (data->request.cc.no_store) {
    data->fwd = "request";
    state.cache_outcome = CacheOutcome::kBypass;
    state.set_data(kCacheData, std::move(data));
    return Verdict::kContinue;
  }
  std::shared_ptr<const cache::CachedObject> object = store_->Find(data->primary);
  std::shared_ptr<const cache::CachedObject> marker;
  data->fwd = "uri-miss";
  if (object != nullptr && object->vary_marker) {
    marker = object;
    std::optional<std::string> secondary =
        cache::SecondaryKey(cache::VaryFields{false, false, object->vary}, request.headers);
    std::shared_ptr<const cache::CachedObject> variant =
        secondary ? store_->Find(VariantKey(data->primary, *secondary)) : nullptr;
    // A variant older than its marker was retired with a previous marker.
    object = variant != nullptr && variant->sequence > object->sequence ? variant : nullptr;
    if (object == nullptr) data->fwd = "vary-miss";
  }
  if (object != nullptr && OnlyTheOriginDecides(request.headers)) {
    object = nullptr;
    data->fwd = "request";
  }
  CacheData& kept = *data;
  state.set_data(kCacheData, std::move(data));
  if (object == nullptr && !OnlyTheOriginDecides(request.headers) &&
      LookUpOnDisk(state, kept, marker.get(), options_, *store_)) {
    return Verdict::kPause;  // the I/O pool opens the disk entry; Decide() runs when it is done
  }
  return Decide(state, kept, object, nullptr, now, options_, *store_);
}

namespace {

// The origin answered a revalidation with 304 (RFC 9111 §4.3.3, §4.3.4):
// when it speaks of the stored response, that response gets the 304's
// fields (except the framing ones: UpdateFrom304), a new age and a new
// freshness lifetime, is stored again over the same body bytes (no copy),
// and the client gets it (a 304 when its own conditional matches it, a
// range of it, ...) instead of the origin's 304. A stored response that is
// not the one the 304 speaks of leaves the 304 to the client (it answered
// the client's own validators).
bool AnswerRevalidated(ExchangeState& state, CacheData& data, const http::ResponseHead& head, cache::Store& store,
                       const cache::CachePolicy& policy, int64_t now) {
  if (!SelectedBy304(data, head.headers)) return false;
  std::shared_ptr<cache::CachedObject> updated = RefreshedBy304(*data.stale, head.headers, data.request_time, now, policy);
  const bool stored = store.Insert(updated);
  // A fill for the key (our own revalidation) ends here: its waiters find
  // the updated object.
  data.fill.reset();
  const int64_t age = cache::CurrentAge(updated->age, now);
  ReplyFrom(state, updated, age, "");
  cache::CacheStatus status;
  status.fwd = "stale";
  status.fwd_status = 304;
  status.ttl = updated->freshness.lifetime - age;
  status.stored = stored;
  state.reply.headers.Set("cache-status", cache::CacheStatusValue(kCacheStatusName, status));
  return true;
}

// RFC 9111 §4.2.4 / §5.2.2.2: a stale response with must-revalidate (or
// proxy-revalidate: this is a shared cache) is never served without a
// successful validation; when the origin cannot be reached the answer is a
// 504, not the proxy's usual 502/503.
void RefuseStaleWithoutValidation(ExchangeState& state, const CacheData& data, http::ResponseHead& head) {
  if (data.stale == nullptr) return;
  const cache::CacheControl& cc = data.stale->freshness.cc;
  if (!cc.must_revalidate && !cc.proxy_revalidate) return;
  if (head.status != 502 && head.status != 503) return;
  head.status = 504;
  state.reply.status = 504;
}

}  // namespace

Verdict CacheStoreStage::OnResponseHead(ExchangeState& state, http::ResponseHead& head, bool local) const {
  auto* data = static_cast<CacheData*>(state.data(kCacheData));
  if (data == nullptr) return Verdict::kContinue;
  if (local) {
    // The proxy's own 502/504 for an upstream that failed (connect failure,
    // timeout, reset), or its 503 when no endpoint is left (all ejected):
    // the stale object replaces it in place (a local reply's head hooks
    // cannot reply again; the exchange sends this head and state.reply's
    // source).
    const bool origin_failed =
        state.error.source == ErrorSource::kUpstream || state.error.code == ErrorCode::kNoEndpoint;
    if (origin_failed && cache::IsOriginErrorStatus(state.reply.status) &&
        ReplyStaleOnError(state, *data, state.reply.status)) {
      head = BuildLocalReplyHead(state.reply, ReplyShape::Of(state.request));
    } else {
      RefuseStaleWithoutValidation(state, *data, head);
    }
    return Verdict::kContinue;
  }
  const int64_t now = Now();
  if (cache::IsOriginErrorStatus(head.status) && ReplyStaleOnError(state, *data, head.status)) {
    return Verdict::kReply;  // the origin's error page is dropped
  }
  const http::RequestHead& request = state.request;
  if (data->unsafe) {
    // RFC 9111 §4.4.
    for (const std::string& target :
         cache::InvalidationTargets(request.method, head.status, request.scheme, request.authority, request.path, head.headers)) {
      store_->Remove(KeyOfUrl(options_.key, target, request.headers));
    }
    return Verdict::kContinue;
  }
  if (head.status == 304 && data->stale != nullptr &&
      AnswerRevalidated(state, *data, head, *store_, options_.policy, now)) {
    return Verdict::kReply;
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
      state.cache_outcome = CacheOutcome::kPass;
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
      if (data->fill == nullptr) state.cache_fill = CacheFill::kAbandoned;
    }
  }
  status.collapsed = data->collapsed;
  if (!status.fwd.empty()) head.headers.Add("cache-status", cache::CacheStatusValue(kCacheStatusName, status));
  return Verdict::kContinue;
}

bool CacheStoreStage::WantsResponseBody(const ExchangeState& state) const {
  auto* data = static_cast<const CacheData*>(state.data(kCacheData));
  return data != nullptr && data->fill != nullptr;  // this response is being stored
}

Verdict CacheStoreStage::OnResponseBody(ExchangeState& state, std::string_view& chunk) const {
  auto* data = static_cast<CacheData*>(state.data(kCacheData));
  if (data != nullptr && data->fill != nullptr && !chunk.empty() && !data->fill->Append(chunk)) {
    data->fill.reset();
    state.cache_fill = CacheFill::kAbandoned;
  }
  return Verdict::kContinue;
}

Verdict CacheStoreStage::OnResponseEnd(ExchangeState& state, std::string_view& tail) const {
  auto* data = static_cast<CacheData*>(state.data(kCacheData));
  if (data != nullptr && data->fill != nullptr) {
    // A tail (a compressor's last block) went through OnResponseBody already.
    // Null: truncated (shorter than its Content-Length) or no room; never stored.
    state.cache_fill = data->fill->Commit() != nullptr ? CacheFill::kStored : CacheFill::kAbandoned;
    data->fill.reset();
  }
  return Verdict::kContinue;
}

void CacheStoreStage::OnComplete(const ExchangeState& state) const {
  auto* data = static_cast<CacheData*>(state.data(kCacheData));
  if (data != nullptr && data->fill != nullptr) {
    // Cut short (client gone, upstream reset or truncated, a local reply):
    // abandoned now, so its waiters are released before the access log.
    data->fill->Abandon();
    data->fill.reset();
    if (state.cache_fill == CacheFill::kNone) state.cache_fill = CacheFill::kAbandoned;
  }
}

}  // namespace sluice::pipeline
