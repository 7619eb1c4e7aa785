#include "dataplane/subrequest/worker_client.h"

#include <utility>

#include "dataplane/proxy/http1_upstream.h"
#include "dataplane/proxy/http2_upstream.h"
#include "dataplane/proxy/upstream_stream.h"

namespace sluice::subrequest {

// One subrequest: the request it sends (an ExchangeState of its own, which
// the upstream serializers read), the stream of its try and what came back.
class WorkerClient::Call final : public proxy::UpstreamEvents {
 public:
  Call(WorkerClient* client, uint64_t id, Request request, Callback done)
      : client_(client), id_(id), request_(std::move(request)), done_(std::move(done)) {}
  ~Call() override { Drop(); }

  // Picks an endpoint and starts the try (allow_pooled: a pooled connection
  // may be used). Errors end the call (Finish), never synchronously deliver.
  void Begin(bool allow_pooled) {
    proxy::WorkerContext* ctx = client_->ctx_;
    if (snapshot_ == nullptr) {
      snapshot_ = ctx->snapshot;  // held: the endpoint pointers live as long as it
      if (snapshot_ == nullptr) return Fail("no configuration");
      cluster_ = snapshot_->FindCluster(request_.cluster);
      if (cluster_ == nullptr) return Fail("no cluster " + request_.cluster);
      state_.request.method = request_.method;
      state_.request.path = request_.path;
      state_.request.target = request_.path;
      state_.request.authority = request_.authority;
      state_.request.scheme = "http";
      state_.request.headers = std::move(request_.headers);
      balancer::PickContext pick;
      pick.request = &state_.request;
      pick.now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(ctx->loop->now().time_since_epoch()).count();
      endpoint_ = ctx->balancer.Pick(*cluster_, pick).endpoint;
      if (endpoint_ == nullptr) return Fail("no endpoint in cluster " + request_.cluster);
      upstream_.state = &state_;
      if (!request_.body.empty()) {
        upstream_.framing.kind = http1::BodyFraming::kContentLength;
        upstream_.framing.length = request_.body.size();
      }
      upstream_.connect_timeout = request_.timeout;
      upstream_.response_timeout = request_.timeout;
      upstream_.idle_timeout = request_.timeout;
      upstream_.paused_grace = request_.timeout;
    }
    bool http2 = cluster_->source != nullptr && cluster_->source->protocol() != v1::Cluster::HTTP1;
    if (http2) {
      stream_.reset(new proxy::Http2Upstream(ctx, this, upstream_));
    } else {
      stream_.reset(new proxy::Http1Upstream(ctx, this, upstream_));
    }
    proxy::UpstreamStream* stream = stream_.get();
    stream->Start(*endpoint_, allow_pooled);
    if (finished_ || stream_.get() != stream) return;
    if (!request_.body.empty()) {
      stream->SendBody(request_.body);
      if (finished_ || stream_.get() != stream) return;
    }
    stream->SendEnd(nullptr);
  }

  void TimedOut() {
    timer_ = 0;
    if (finished_) return;
    response_.status = 0;
    response_.timed_out = true;
    response_.error = "subrequest timed out";
    Finish();
  }

  // Lets go of the stream (closes or resets an unfinished one) and the timer.
  void Drop() {
    if (timer_ != 0) client_->ctx_->loop->CancelTimer(timer_);
    timer_ = 0;
    if (stream_ != nullptr) {
      stream_->Cancel();
      client_->ctx_->loop->DeleteLater(std::move(stream_));
    }
  }

  // proxy::UpstreamEvents.
  void OnUpstreamHead(http::ResponseHead&& head, bool) override {
    if (finished_) return;
    response_.status = head.status;
    response_.headers = std::move(head.headers);
  }
  void OnUpstreamBody(std::string_view data) override {
    if (finished_) return;
    size_t room = request_.max_body_bytes - response_.body.size();
    if (data.size() > room) {
      response_.truncated = true;
      data = data.substr(0, room);
    }
    response_.body.append(data);
  }
  void OnUpstreamFlush() override {}
  void OnUpstreamEnd(const http::HeaderMap*) override {
    if (!finished_) Finish();
  }
  void OnUpstreamError(pipeline::ProxyError error) override {
    if (finished_) return;
    // A pooled connection the server had closed: the request never reached
    // it; once more on a fresh connection (as the exchange does).
    if (error.stale_pooled_connection && !replayed_ && response_.status == 0) {
      replayed_ = true;
      if (stream_ != nullptr) {
        stream_->Cancel();
        client_->ctx_->loop->DeleteLater(std::move(stream_));
      }
      return Begin(/*allow_pooled=*/false);
    }
    response_.status = 0;  // an incomplete response is no response
    response_.headers.clear();
    response_.body.clear();
    response_.error = error.message.empty() ? "upstream error" : error.message;
    Finish();
  }
  void OnUpstreamRequestWritable() override {}

  void Fail(std::string message) {
    response_.status = 0;
    response_.error = std::move(message);
    Finish();
  }
  void Finish() {
    finished_ = true;
    client_->Finish(*this);
  }

  WorkerClient* client_;
  uint64_t id_;
  Request request_;
  Callback done_;
  pipeline::ExchangeState state_;
  proxy::UpstreamRequest upstream_;
  std::shared_ptr<const snapshot::CompiledSnapshot> snapshot_;
  const snapshot::CompiledCluster* cluster_ = nullptr;
  const snapshot::CompiledEndpoint* endpoint_ = nullptr;
  std::unique_ptr<proxy::UpstreamStream> stream_;
  net::EventLoop::TimerId timer_ = 0;
  net::EventLoop::TimerId delivery_ = 0;
  Response response_;
  bool finished_ = false;
  bool replayed_ = false;
};

class WorkerClient::CallHandle final : public Handle {
 public:
  CallHandle(WorkerClient* client, uint64_t id) : client_(client), id_(id) {}
  ~CallHandle() override { client_->Cancel(id_); }

 private:
  WorkerClient* client_;
  uint64_t id_;
};

WorkerClient::WorkerClient(proxy::WorkerContext* ctx) : ctx_(ctx) {}

WorkerClient::~WorkerClient() {
  // Not from inside a stream's callback: the streams go now, not later
  // (the loop may outlive the pools they would release into).
  for (auto& [id, call] : calls_) {
    if (call->delivery_ != 0) ctx_->loop->CancelTimer(call->delivery_);
    if (call->stream_ != nullptr) {
      call->stream_->Cancel();
      call->stream_.reset();
    }
    call->Drop();
  }
  calls_.clear();
}

std::unique_ptr<Handle> WorkerClient::Send(Request request, Callback done) {
  uint64_t id = Start(std::move(request), std::move(done));
  return std::make_unique<CallHandle>(this, id);
}

void WorkerClient::Fire(Request request) { Start(std::move(request), nullptr); }

void WorkerClient::Detach(Request request, Callback done) { Start(std::move(request), std::move(done)); }

uint64_t WorkerClient::Start(Request request, Callback done) {
  uint64_t id = next_id_++;
  std::chrono::milliseconds timeout = request.timeout;
  auto [it, fresh] = calls_.emplace(id, std::make_unique<Call>(this, id, std::move(request), std::move(done)));
  Call& call = *it->second;
  call.timer_ = ctx_->loop->AddTimer(timeout, [this, id] {
    if (auto found = calls_.find(id); found != calls_.end()) found->second->TimedOut();
  });
  call.Begin(/*allow_pooled=*/true);
  return id;
}

void WorkerClient::Finish(Call& call) {
  call.Drop();
  // Never from inside Send() or a stream's callback: from the loop, soon.
  uint64_t id = call.id_;
  call.delivery_ = ctx_->loop->AddTimer(std::chrono::milliseconds(0), [this, id] { Deliver(id); });
}

void WorkerClient::Deliver(uint64_t id) {
  auto found = calls_.find(id);
  if (found == calls_.end()) return;
  std::unique_ptr<Call> call = std::move(found->second);
  calls_.erase(found);
  call->delivery_ = 0;
  // The callback may destroy the Handle (Cancel finds nothing: fine).
  if (call->done_) call->done_(std::move(call->response_));
}

void WorkerClient::Cancel(uint64_t id) {
  auto found = calls_.find(id);
  if (found == calls_.end()) return;
  if (found->second->delivery_ != 0) ctx_->loop->CancelTimer(found->second->delivery_);
  found->second->delivery_ = 0;
  calls_.erase(found);  // ~Call lets go of the stream and the timer
}

}  // namespace sluice::subrequest
