#pragma once
// Test-only: a subrequest::Client that keeps what a stage sent and lets the
// test answer it (no sockets). Send keeps the last request and its
// callback; Detach keeps every detached request and callback in order.
#include <memory>
#include <utility>
#include <vector>

#include "dataplane/subrequest/subrequest.h"

namespace sluice::subrequest {

class ScriptedClient final : public Client {
 public:
  class Pending final : public Handle {
   public:
    explicit Pending(ScriptedClient* client) : client_(client) {}
    ~Pending() override { client_->cancelled = true; }

   private:
    ScriptedClient* client_;
  };
  std::unique_ptr<Handle> Send(Request request, Callback done) override {
    ++sent;
    last = std::move(request);
    callback = std::move(done);
    cancelled = false;
    return std::make_unique<Pending>(this);
  }
  void Fire(Request) override {}
  void Detach(Request request, Callback done) override {
    detached.push_back({std::move(request), std::move(done)});
  }

  int sent = 0;
  bool cancelled = false;
  Request last;
  Callback callback;
  std::vector<std::pair<Request, Callback>> detached;
};

}  // namespace sluice::subrequest
