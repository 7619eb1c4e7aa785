#pragma once
// A worker's cache of external auth decisions (ext_auth_stage.h): the auth
// service's status and the fields the route copies from it, under the key
// the route's auth-cache-key evaluates to, until it expires. One per worker
// (no locks), bounded: when full, expired entries go, and if that is not
// enough the whole cache is dropped (a cache miss only costs a subrequest).
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>

#include "dataplane/http/message.h"

namespace sluice::pipeline {

class AuthCache {
 public:
  using Clock = std::chrono::steady_clock;
  struct Decision {
    int status = 0;
    http::HeaderMap headers;  // the copied response fields, and WWW-Authenticate
    Clock::time_point expires{};
  };
  static constexpr size_t kMaxEntries = 10000;

  // The decision under `key`, or null (absent or expired).
  const Decision* Find(const std::string& key, Clock::time_point now) const {
    auto found = entries_.find(key);
    if (found == entries_.end() || found->second.expires <= now) return nullptr;
    return &found->second;
  }
  void Store(std::string key, Decision decision, Clock::time_point now) {
    if (entries_.size() >= kMaxEntries && entries_.find(key) == entries_.end()) {
      std::erase_if(entries_, [now](const auto& entry) { return entry.second.expires <= now; });
      if (entries_.size() >= kMaxEntries) entries_.clear();
    }
    entries_.insert_or_assign(std::move(key), std::move(decision));
  }
  size_t size() const { return entries_.size(); }

 private:
  std::unordered_map<std::string, Decision> entries_;
};

}  // namespace sluice::pipeline
