#pragma once
// A worker's sender of mirrored requests (pipeline::MirrorSink, fed by the
// mirror stage): each copy is gathered while its request comes in, then sent
// as one HTTP/1.1 request (proxy::Http1Upstream, pooled connections) to an
// endpoint of the mirror cluster picked by the worker's balancer, and its
// response is read and discarded (a sink that ignores every event), so a
// copy costs the main request nothing but the copy itself.
//
// Bounded, per worker, so that a slow or stalled mirror never slows the
// main path: at most `max_in_flight` copies (gathering or sent, until their
// response ends, fails or times out) and at most `max_body_bytes` of copied
// body held by all of them. A copy over either cap is dropped and counted
// (WorkerStats::mirror_dropped). A copy whose cluster has no endpoint, or
// whose try fails, is counted as failed; nothing is retried.
//
// Small on purpose, directly on proxy::UpstreamStream: Begin/Body/End and
// the caps are its whole interface (pipeline/mirror_sink.h), so that a
// general subrequest package can take it over later.
#include <cstdint>
#include <memory>

#include "dataplane/pipeline/mirror_sink.h"
#include "dataplane/proxy/worker_context.h"

namespace sluice::mirror {

struct MirrorLimits {
  uint32_t max_in_flight = 64;             // copies per worker
  uint64_t max_body_bytes = 8 << 20;       // copied body bytes held per worker
};

class MirrorSender final : public pipeline::MirrorSink {
 public:
  MirrorSender(proxy::WorkerContext* ctx, MirrorLimits limits = MirrorLimits());
  // Cancels what is still in flight (the worker is stopping).
  ~MirrorSender() override;
  MirrorSender(const MirrorSender&) = delete;
  MirrorSender& operator=(const MirrorSender&) = delete;

  std::unique_ptr<pipeline::MirrorCopy> Begin(const pipeline::MirrorTarget& target,
                                               const pipeline::ExchangeState& state) override;

  uint32_t in_flight() const { return in_flight_; }
  uint64_t body_bytes() const { return body_bytes_; }
  proxy::WorkerContext* ctx() const { return ctx_; }

  class Request;  // one copy, gathering then sent (mirror_sender.cc)
  // For Request and its handle: a copy is sent (the sender owns it now), or
  // is over (sent and answered/failed, or abandoned while gathering).
  void Adopt(Request* request);
  void Finished(Request* request);

 private:
  friend class Request;

  proxy::WorkerContext* ctx_;
  MirrorLimits limits_;
  uint32_t in_flight_ = 0;
  uint64_t body_bytes_ = 0;
  Request* requests_ = nullptr;  // intrusive list of sent copies (for the destructor)
};

}  // namespace sluice::mirror
