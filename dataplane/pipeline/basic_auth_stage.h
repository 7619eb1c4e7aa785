#pragma once
// HTTP Basic authentication of a route (RoutePolicy.basic_auth; ingress-
// nginx's auth-type: basic with auth-secret): at order 15, after access
// control. A request without valid credentials for one of the route's
// users gets 401 with `WWW-Authenticate: Basic realm="..."`; a route whose
// configuration the controller could not use (basic_auth.deny_all: no
// Secret, a bad auth-type) gets 503 for every request, as ingress-nginx
// denies such a location. The Authorization field is forwarded upstream,
// as ingress-nginx does (applications behind it may read the user).
//
// With `satisfy: any` the access_control stage sets
// ExchangeState::access_granted for a client its allow list admits; this
// stage then lets the request pass without credentials.
//
// Cost: a cached check is one SHA-256 and an atomic load; an uncached one
// is the hash's own cost, on the event loop (bcrypt: ~1 ms at cost 5, ~60
// ms at cost 10; see dataplane/auth/password_hash_bench). Successes are
// cached per route for a minute (auth::VerifiedCache); failures are not,
// so a client guessing passwords pays, and makes the worker pay, the full
// cost each time: put a rate limit on such routes.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "base/htpasswd.h"
#include "dataplane/auth/verified_cache.h"
#include "dataplane/pipeline/stage.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::pipeline {

class BasicAuthStage final : public Stage {
 public:
  static std::unique_ptr<BasicAuthStage> FromPolicy(const v1::BasicAuthPolicy& policy);

  std::string_view name() const override { return "basic_auth"; }
  StageOrder order() const override { return StageOrder::kBasicAuth; }
  uint32_t hooks() const override { return kRequestHead; }
  Verdict OnRequestHead(ExchangeState& state) const override;

  // Uncached checks done so far (tests: the cache works).
  uint64_t verifications() const { return verifications_.load(std::memory_order_relaxed); }

 private:
  struct User {
    std::string name;
    std::string hash;
    htpasswd::HashKind kind;
  };
  const User* Find(std::string_view name) const;
  Verdict Unauthorized(ExchangeState& state, const char* why) const;

  std::vector<User> users_;  // sorted by name
  std::string challenge_;    // Basic realm="..."
  bool deny_all_ = false;
  mutable auth::VerifiedCache cache_;
  mutable std::atomic<uint64_t> verifications_{0};
};

}  // namespace sluice::pipeline
