#pragma once
// A stage of the request pipeline: one small, immutable object per route
// (compiled with the snapshot, shared by every worker), with hooks on the
// request side (head, body chunk, end) and on the response side (head, body
// chunk, end) and one when the exchange is over. Per-request data lives in
// the ExchangeState, never in the stage. The fixed order of the stages is
// StageOrder below; README.md beside this file says what each may read and
// change.
//
// A hook returns what the exchange does next:
//   kContinue  the next stage (then the upstream, or the client)
//   kReply     answer with state.reply (a LocalReply) instead; on the
//              response side, before the head left, it replaces the response
//   kPause     wait: the stage calls state.resumer->Resume() later (a cache
//              fill, a remote rate-limit decision, a WAF that needs the body)
#include <cstdint>
#include <string_view>

#include "dataplane/http/message.h"
#include "dataplane/pipeline/exchange_state.h"

namespace sluice::pipeline {

enum class Verdict : uint8_t { kContinue, kReply, kPause };

// The order of the stages, the same for every route. Places without a
// stage yet are kept so that the features that fill them land where this
// order says. Routing comes before all of them (the route chooses the
// chain) and the upstream (cluster choice, balancer pick, retries) after
// the request-side ones; see README.md.
enum class StageOrder : uint8_t {
  kRealClient = 5,      // the client a trusted proxy names in X-Forwarded-For
  kCors = 8,            // CORS preflights answered (before auth: they carry no credentials)
  kAccessControl = 10,  // IP allow/deny (access_control); marks access_granted under satisfy: any
  kBasicAuth = 15,      // HTTP Basic authentication: 401 (basic_auth_stage)
  kExternalAuth = 16,   // auth subrequest: ext_auth, then ext_auth_verdict
  kRateLimit = 20,      // request rate limits: 429 (rate_limit_stage)
  kWafRequest = 30,     // application firewall, request phases (dataplane/waf)
  kRedirect = 35,       // permanent/temporal/www redirects, app-root (redirect_stage)
  kHttpsRedirect = 40,  // plain HTTP to a TLS-only host: 308 to https
  kBodyLimit = 50,      // request body size: 413
  kStaticContent = 60,  // answers from files (static_stage.h)
  kCacheLookup = 70,    // answers from the response cache (cache_stage.h)
  kRewrite = 78,        // rewrite-target, X-Forwarded-Prefix (rewrite_stage)
  kRequestHeaders = 80, // X-Forwarded-*, hop-by-hop, Host, set headers: what goes upstream
  kMirror = 85,         // fire-and-forget request copies to another Service (mirror_stage)
  // --- the upstream: cluster choice, balancer pick, retries ---
  kCustomErrors = 105,     // listed statuses: the default backend's page instead
  kResponseHeaders = 110,  // hop-by-hop, Server hiding, HSTS, affinity cookie, custom headers
  kWafResponse = 120,      // application firewall, response phases (dataplane/waf)
  kCompression = 130,      // gzip, brotli, zstd: a response body transform
  kCacheStore = 140,       // stores cacheable responses (cache_stage.h)
  kMetrics = 190,          // per-route and per-cluster counters (metrics_stage.h)
  kAccessLog = 200,        // one line per request, at the end
};

// Which hooks a stage implements: the chain calls only those.
enum Hook : uint32_t {
  kRequestHead = 1u << 0,
  kRequestBody = 1u << 1,
  kRequestEnd = 1u << 2,
  kResponseHead = 1u << 3,
  kResponseBody = 1u << 4,
  kResponseEnd = 1u << 5,
  kComplete = 1u << 6,
};

// Fields a stage drops from every upstream response head: an upstream
// parser may leave them out while parsing, which costs less than removing
// them afterwards (every field after a removed one moves, and Server often
// comes first). An optimization only: the stage still filters.
enum ResponseFieldHint : uint32_t {
  kDropsServerFields = 1u << 0,  // Server, X-Powered-By
  // "Connection: keep-alive" in an HTTP/1.1 response (hop-by-hop, and
  // HTTP/1.1's default anyway: nginx sends it on every response).
  kDropsKeepAliveField = 1u << 1,
};

class Stage {
 public:
  virtual ~Stage() = default;
  virtual std::string_view name() const = 0;
  virtual StageOrder order() const = 0;
  virtual uint32_t hooks() const = 0;
  // ResponseFieldHint bits.
  virtual uint32_t response_field_hints() const { return 0; }

  virtual Verdict OnRequestHead(ExchangeState& state) const { return Verdict::kContinue; }
  virtual Verdict OnRequestBody(ExchangeState& state, std::string_view chunk) const { return Verdict::kContinue; }
  // `trailers` may be changed (or cleared); null when there are none.
  virtual Verdict OnRequestEnd(ExchangeState& state, http::HeaderMap* trailers) const { return Verdict::kContinue; }
  // The response head before it goes to the client: from the upstream, or a
  // local reply's (then `local` is true; a stage must not reply again).
  virtual Verdict OnResponseHead(ExchangeState& state, http::ResponseHead& head, bool local) const {
    return Verdict::kContinue;
  }
  // A body chunk on its way to the client. A transform replaces `chunk`
  // with a view into its own per-request data (valid until its next call).
  virtual Verdict OnResponseBody(ExchangeState& state, std::string_view& chunk) const { return Verdict::kContinue; }
  // Asked once the response head went through OnResponseHead: whether this
  // response's body must pass OnResponseBody (a compressor that chose an
  // encoding, a cache fill, a firewall inspecting it). Where no stage
  // wants it, the exchange skips the body hooks, and a file body goes out
  // with sendfile(2) even on a route that compresses or caches. Asked only
  // of stages with kResponseBody; a stage's interest may end early, never
  // begin later.
  virtual bool WantsResponseBody(const ExchangeState& state) const { return true; }
  // The response is complete. A transform that holds bytes (a compressor's
  // last block) points `tail` at them (in its per-request data, valid until
  // the exchange is over): the exchange sends them before the end of the
  // response, through the body hooks of the later stages.
  virtual Verdict OnResponseEnd(ExchangeState& state, std::string_view& tail) const { return Verdict::kContinue; }
  // The exchange is over, however it ended (the access log).
  virtual void OnComplete(const ExchangeState& state) const {}
};

}  // namespace sluice::pipeline
