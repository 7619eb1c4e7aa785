#pragma once
// The subrequest::Client of one worker (subrequest.h): subrequests through
// the worker's balancer, connection pools and upstream streams, on its
// event loop. Touched only on the worker's thread. It must outlive every
// Handle it gave out (the worker context holds it; exchanges die first).
#include <cstdint>
#include <memory>
#include <unordered_map>

#include "dataplane/proxy/worker_context.h"
#include "dataplane/subrequest/subrequest.h"

namespace sluice::subrequest {

class WorkerClient final : public Client {
 public:
  explicit WorkerClient(proxy::WorkerContext* ctx);
  ~WorkerClient() override;
  WorkerClient(const WorkerClient&) = delete;
  WorkerClient& operator=(const WorkerClient&) = delete;

  std::unique_ptr<Handle> Send(Request request, Callback done) override;
  void Fire(Request request) override;
  void Detach(Request request, Callback done) override;

  // Subrequests started and not yet delivered or cancelled (tests).
  size_t in_flight() const { return calls_.size(); }

 private:
  class Call;
  class CallHandle;
  friend class Call;
  friend class CallHandle;

  uint64_t Start(Request request, Callback done);
  // The call is over: its stream let go, its answer delivered from a timer.
  void Finish(Call& call);
  void Deliver(uint64_t id);
  void Cancel(uint64_t id);

  proxy::WorkerContext* ctx_;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Call>> calls_;
};

}  // namespace sluice::subrequest
