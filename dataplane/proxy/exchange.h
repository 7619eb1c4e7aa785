#pragma once
// One proxied request: the coordinator that walks it through the route's
// stage chain (dataplane/pipeline/README.md), the upstream tries and the
// response, and nothing else. Every behaviour lives in a stage, in an
// upstream stream (http1_upstream.h, http2_upstream.h) or in a body source:
//
//   route match -> request stages (head, body, end) -> cluster choice and
//   balancer pick -> a try (retries, stale-connection replay) -> response
//   stages (head, body, end) -> the client -> OnComplete (access log)
//
// A local reply (404, 413, 502, a stage's answer) takes the same response
// path as an upstream's, from a body source.
//
// The Exchange never deletes itself: the downstream codec owns it and frees
// it with EventLoop::DeleteLater after OnExchangeDone(), so no callback runs
// on a freed object. Upstream streams it is done with go the same way.
#include <array>
#include <chrono>
#include <span>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/http/message.h"
#include "dataplane/http1/parser.h"
#include "dataplane/net/event_loop.h"
#include "dataplane/pipeline/chain.h"
#include "dataplane/pipeline/exchange_state.h"
#include "dataplane/proxy/downstream.h"
#include "dataplane/proxy/upstream_stream.h"
#include "dataplane/proxy/worker_context.h"
#include "dataplane/websocket/frames.h"

namespace sluice::proxy {

class Exchange final : public net::IoHandler, private UpstreamEvents, private pipeline::Resumer {
 public:
  // `request_framing` describes the request body the codec will deliver.
  Exchange(WorkerContext* ctx, DownstreamStream* downstream, http::RequestHead&& head,
           http1::BodyFraming request_framing);
  ~Exchange() override;
  // From a per-worker free list (spare_blocks.h): one Exchange per request.
  static void* operator new(size_t size);
  static void operator delete(void* block, size_t size) noexcept;

  // Routes and starts the request stages; may answer at once (404, 503,
  // 413, a redirect) and call OnExchangeDone() before returning.
  void Start();
  // The client asked to switch protocols (Connection: upgrade + Upgrade):
  // forward the request's Upgrade and, on 101, tunnel bytes both ways.
  void RequestUpgrade(std::string upgrade) { upgrade_ = std::move(upgrade); }
  void OnRequestBody(std::string_view data);
  // `trailers`: the request's trailer fields, if any. They go to HTTP/2
  // upstreams as a trailing HEADERS frame and to HTTP/1.1 upstreams in the
  // last chunk when the body is chunked; a Content-Length body has no place
  // for them (RFC 9112 7.1.2), so there they are dropped.
  void OnRequestEnd(const http::HeaderMap* trailers = nullptr);
  // Too much request body buffered towards the upstream: the codec stops
  // reading the client until DownstreamStream::ResumeRequestBody().
  bool RequestBodyFull() const;
  void OnDownstreamWritable();
  // The client went away: drop the upstream, say nothing more.
  void OnDownstreamClosed();
  // The codec answered this request itself (bad body, timeout): what the
  // access log should say.
  void NoteRefused(int status, const char* reason);
  // Tunnel mode (after 101): client bytes, and the client's end of stream.
  void OnTunnelData(std::string_view data);
  void OnTunnelClientEof();
  // The proxy is going away (the drain deadline): a WebSocket tunnel gets a
  // Close frame 1001 each way, where its stream is between frames (RFC
  // 6455 §7.4.1), and passes nothing more. Other tunnels: nothing (they
  // end with the connection).
  void SayGoingAway();
  // The route's client body timeout (idle time between body reads).
  std::chrono::milliseconds ClientBodyTimeout() const;
  bool done() const { return phase_ == Phase::kDone; }
  // True once a response head was sent downstream.
  bool response_started() const { return response_started_; }

  void OnIoEvents(uint32_t) override {}

 private:
  enum class Phase : uint8_t {
    kRequest,   // request head stages (possibly paused)
    kUpstream,  // a try is under way, no response head sent
    kResponse,  // a response head went to the client; its body follows
    kTunnel,    // after 101: raw bytes both ways
    kDone,
  };
  // Where a stage paused the chain (Resume goes on from there).
  enum class Paused : uint8_t { kNone, kRequestHead, kRequestEnd, kResponseHead };

  // Request side.
  void RunRequestHead();
  void RunRequestEnd();
  // Cluster choice, pick and the first try, once the request stages let
  // the request go.
  void StartUpstream();
  void KeepForReplay(std::string_view bytes);

  // Upstream: cluster choice and pick, tries, retries.
  bool ChooseEndpoint();
  // What the balancer picks with: the route's policy, the request's fields
  // (the same for every try), the endpoints tried so far.
  balancer::PickContext PickContextAt(net::Clock::time_point now) const;
  void StartTry(bool allow_pooled);
  bool Retry(v1::RetryPolicy::Condition condition, const pipeline::ProxyError& cause);
  bool RetrySafe(v1::RetryPolicy::Condition condition) const;
  void ReportOutcome(bool success);  // outlier detection, once per try
  void BeginBalancerTry();
  void EndBalancerTry(bool success);
  // The stream is done with: no more events; freed after this batch.
  void RetireUpstream();
  std::chrono::milliseconds PolicyTimeout(uint32_t route_ms, std::chrono::milliseconds fallback) const;

  // UpstreamEvents.
  void OnUpstreamHead(http::ResponseHead&& head, bool end_stream) override;
  void OnUpstreamBody(std::string_view data) override;
  void OnUpstreamFlush() override;
  void OnUpstreamEnd(const http::HeaderMap* trailers) override;
  void OnUpstreamError(pipeline::ProxyError error) override;
  void OnUpstreamRequestWritable() override;
  // pipeline::Resumer: a paused stage is done waiting.
  void Resume() override;

  // Response side.
  void RunResponseHead();
  void SendResponseBody(std::string_view data);
  void EndResponse(const http::HeaderMap* trailers);
  // Answers with state_.reply (its status, text or body source).
  void Reply();
  void PumpBodySource();
  // Whether the response body goes through the body stages: asked of them
  // once, when the first bytes go out (the head stages have run).
  bool BodyPassesStages();
  void Abort();
  void Finish();
  // Once, however the exchange ends: the log fields, then OnComplete stages.
  void Complete();

  WorkerContext* ctx_;
  DownstreamStream* downstream_;
  pipeline::ExchangeState state_;  // the request lives here for the whole exchange
  http1::BodyFraming request_framing_;
  std::shared_ptr<const snapshot::CompiledSnapshot> snapshot_;  // kept to the end
  const snapshot::CompiledRoute* route_ = nullptr;
  const pipeline::Chain* chain_ = nullptr;
  Phase phase_ = Phase::kRequest;
  Paused paused_ = Paused::kNone;
  size_t cursor_ = 0;  // of the hook being run, for a paused chain
  std::string upgrade_;  // the request's Upgrade value, when it asked for one

  // Request body and its end, as the client sends them.
  bool request_body_started_ = false;
  bool request_end_received_ = false;
  bool request_end_done_ = false;  // request end stages ran: the end goes to every try
  // A stage asked for request buffering (ExchangeState::buffer_request_body):
  // the head hooks are done and the upstream waits for the end hooks.
  bool buffering_request_ = false;
  http::HeaderMap request_trailers_;
  // The body so far, kept for a retry while small, and held whole while no
  // try is under way yet (request stages paused).
  std::string replay_body_;
  bool body_replayable_ = true;

  // Tries.
  const snapshot::CompiledCluster* cluster_ = nullptr;
  const snapshot::CompiledEndpoint* endpoint_ = nullptr;
  std::unique_ptr<UpstreamStream> upstream_;
  UpstreamRequest upstream_request_;
  // One entry per endpoint tried, in order: inline for the usual few tries
  // (a vector was a malloc and a free per request).
  class TriedEndpoints {
   public:
    void Add(const snapshot::CompiledEndpoint* endpoint) {
      if (size_ < kInline) {
        inline_[size_++] = endpoint;
        return;
      }
      if (overflow_.empty()) overflow_.assign(inline_.begin(), inline_.end());
      overflow_.push_back(endpoint);
      ++size_;
    }
    std::span<const snapshot::CompiledEndpoint* const> all() const {
      if (size_ <= kInline) return {inline_.data(), size_};
      return overflow_;
    }
    const snapshot::CompiledEndpoint* back() const { return all().back(); }
    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }

   private:
    static constexpr size_t kInline = 4;
    std::array<const snapshot::CompiledEndpoint*, kInline> inline_{};
    std::vector<const snapshot::CompiledEndpoint*> overflow_;
    size_t size_ = 0;
  };
  TriedEndpoints tried_;
  int retries_ = 0;
  bool outcome_reported_ = false;  // for the current try
  net::Clock::time_point upstream_start_{};
  // Balancer accounting (in-flight, latency): one OnRequestStart/End pair
  // per try, opened in StartTry, closed when the try fails or the exchange ends.
  const snapshot::CompiledCluster* balancer_try_cluster_ = nullptr;  // null: no try open
  const snapshot::CompiledEndpoint* balancer_try_endpoint_ = nullptr;
  net::Clock::time_point balancer_try_head_at_{};
  bool balancer_try_success_ = true;

  // Response.
  http::ResponseHead response_head_;  // while the response head stages run (or wait)
  bool response_started_ = false;
  bool response_paused_ = false;  // the client's buffer is full: the upstream waits
  std::string tunnel_protocol_;   // a 101's Upgrade value
  // A WebSocket tunnel's frame boundaries each way, for SayGoingAway.
  bool websocket_tunnel_ = false;
  bool going_away_sent_ = false;
  websocket::FrameBoundary to_client_frames_, to_upstream_frames_;
  // Upstream events that came while the response head stages waited.
  std::string held_body_;
  bool held_end_ = false;
  http::HeaderMap held_trailers_;
  std::shared_ptr<pipeline::BodySource> body_source_;  // a local reply's body (shared with the LocalReply)
  bool body_source_waiting_ = false;  // it had nothing now: its SetReady callback pumps again
  int8_t body_passes_stages_ = -1;    // BodyPassesStages: -1 not asked yet
  bool completed_ = false;
};

}  // namespace sluice::proxy
