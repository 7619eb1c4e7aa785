#pragma once
// What the balancer reads from a request: cookies (affinity, canary, hash
// keys) without copying or allocating.
#include <cstdint>
#include <optional>
#include <string_view>

#include "dataplane/http/message.h"

namespace sluice::balancer {

// The value of cookie `name` from the request's Cookie header(s) (HTTP/2 may
// split them), surrounding double quotes removed; nullopt when absent.
std::optional<std::string_view> CookieValue(const http::HeaderMap& headers, std::string_view name);

// Exactly 16 lower- or upper-case hex digits -> their value.
std::optional<uint64_t> ParseHex64(std::string_view text);

}  // namespace sluice::balancer
