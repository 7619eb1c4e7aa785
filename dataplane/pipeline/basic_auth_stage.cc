#include "dataplane/pipeline/basic_auth_stage.h"

#include <algorithm>

#include "dataplane/auth/basic_credentials.h"
#include "dataplane/auth/password_hash.h"

namespace sluice::pipeline {

std::unique_ptr<BasicAuthStage> BasicAuthStage::FromPolicy(const v1::BasicAuthPolicy& policy) {
  auto stage = std::make_unique<BasicAuthStage>();
  stage->challenge_ = auth::BasicChallenge(policy.realm());
  stage->deny_all_ = policy.deny_all();
  for (const v1::BasicAuthPolicy::User& user : policy.users()) {
    // A kind the proxy does not accept (a controller of another version)
    // stays in the list and matches no password.
    stage->users_.push_back(User{user.name(), user.hash(), htpasswd::ClassifyHash(user.hash())});
  }
  std::stable_sort(stage->users_.begin(), stage->users_.end(),
                   [](const User& a, const User& b) { return a.name < b.name; });
  return stage;
}

const BasicAuthStage::User* BasicAuthStage::Find(std::string_view name) const {
  auto it = std::lower_bound(users_.begin(), users_.end(), name,
                             [](const User& user, std::string_view key) { return user.name < key; });
  return it != users_.end() && it->name == name ? &*it : nullptr;
}

Verdict BasicAuthStage::Unauthorized(ExchangeState& state, const char* why) const {
  state.reply.status = 401;
  state.reply.body = "unauthorized\n";
  state.reply.headers.Add("www-authenticate", challenge_);
  state.error = ProxyError::Proxy(ErrorCode::kRefused, why);
  return Verdict::kReply;
}

Verdict BasicAuthStage::OnRequestHead(ExchangeState& state) const {
  if (state.access_granted) return Verdict::kContinue;  // satisfy: any, and the address is allowed
  if (deny_all_) {
    state.reply.status = 503;
    state.reply.body = "authentication is not configured correctly\n";
    state.error = ProxyError::Proxy(ErrorCode::kRefused, "basic authentication unusable (see the Ingress's events)");
    return Verdict::kReply;
  }
  const http::HeaderMap& fields = state.request.headers;
  const std::string* value = fields.Get("authorization");
  if (value == nullptr) return Unauthorized(state, "no credentials");
  if (fields.Count("authorization") != 1) return Unauthorized(state, "more than one Authorization field");
  std::optional<auth::BasicCredentials> credentials = auth::ParseBasicAuthorization(*value);
  if (!credentials) return Unauthorized(state, "malformed Basic credentials");
  // Unknown users are refused without hashing (nginx does the same): the
  // time tells whether a user exists, not anything about its password.
  const User* user = Find(credentials->user);
  if (user == nullptr) return Unauthorized(state, "unknown user");
  uint64_t fingerprint = auth::VerifiedCache::Fingerprint(user->name, credentials->password, user->hash);
  auto now = std::chrono::steady_clock::now();
  if (cache_.Contains(fingerprint, now)) return Verdict::kContinue;
  verifications_.fetch_add(1, std::memory_order_relaxed);
  if (!auth::VerifyPassword(user->kind, user->hash, credentials->password)) {
    return Unauthorized(state, "wrong password");
  }
  cache_.Insert(fingerprint, now);
  return Verdict::kContinue;
}

}  // namespace sluice::pipeline
