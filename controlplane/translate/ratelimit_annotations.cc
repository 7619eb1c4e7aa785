#include "controlplane/translate/ratelimit_annotations.h"

#include <arpa/inet.h>

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "controlplane/translate/annotation_lookup.h"

namespace sluice::translate {
namespace {

using json = nlohmann::json;

constexpr uint64_t kMaxCount = 1000000;

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

class RateLimitReader {
 public:
  RateLimitReader(const json* annotations, std::vector<AnnotationProblem>& problems)
      : annotations_(annotations), problems_(problems) {}

  // The trimmed string value of `name`; not a string is a problem.
  std::optional<std::string> Text(std::string_view name) {
    const json* it = LookUpAnnotation(annotations_, name);
    if (it == nullptr) return std::nullopt;
    if (!it->is_string()) {
      Problem(name, std::string(name) + ": must be a string, write the value in quotes");
      return std::nullopt;
    }
    return std::string(Trim(it->get<std::string>()));
  }
  // A whole number from `min` to 1000000, from the first of the names set validly.
  std::optional<uint64_t> Count(uint64_t min, std::string_view preferred, std::string_view fallback = {}) {
    std::optional<uint64_t> first = CountOf(min, preferred);
    std::optional<uint64_t> second = fallback.empty() ? std::nullopt : CountOf(min, fallback);
    return first ? first : second;
  }
  void Problem(std::string_view name, std::string message) {
    problems_.push_back(AnnotationProblem{std::string(name), std::move(message)});
  }

 private:
  std::optional<uint64_t> CountOf(uint64_t min, std::string_view name) {
    std::optional<std::string> text = Text(name);
    if (!text) return std::nullopt;
    uint64_t value = 0;
    bool digits = !text->empty() && text->size() <= 7;
    for (char c : *text) {
      if (c < '0' || c > '9') digits = false;
      if (digits) value = value * 10 + static_cast<uint64_t>(c - '0');
    }
    if (!digits || value < min || value > kMaxCount) {
      Problem(name, std::string(name) + " \"" + *text + "\": expected a whole number from " + std::to_string(min) +
                        " to " + std::to_string(kMaxCount));
      return std::nullopt;
    }
    return value;
  }

  const json* annotations_;
  std::vector<AnnotationProblem>& problems_;
};

bool IsAddressOrNetwork(std::string_view entry) {
  size_t slash = entry.find('/');
  std::string address(entry.substr(0, slash));
  bool v6 = address.find(':') != std::string::npos;
  unsigned char buffer[16];
  if (inet_pton(v6 ? AF_INET6 : AF_INET, address.c_str(), buffer) != 1) return false;
  if (slash == std::string_view::npos) return true;
  std::string_view bits = entry.substr(slash + 1);
  if (bits.empty() || bits.size() > 3) return false;
  int prefix = 0;
  for (char c : bits) {
    if (c < '0' || c > '9') return false;
    prefix = prefix * 10 + (c - '0');
  }
  return prefix <= (v6 ? 128 : 32);
}

}  // namespace

void ReadRateLimitAnnotations(const json* annotations, v1::RoutePolicy& policy,
                              std::vector<AnnotationProblem>& problems) {
  RateLimitReader reader(annotations, problems);
  auto rps = reader.Count(1, "sluice.io/rate-limit-rps", "nginx.ingress.kubernetes.io/limit-rps");
  auto rpm = reader.Count(1, "sluice.io/rate-limit-rpm", "nginx.ingress.kubernetes.io/limit-rpm");
  auto burst = reader.Count(0, "sluice.io/rate-limit-burst");
  auto multiplier = reader.Count(1, "nginx.ingress.kubernetes.io/limit-burst-multiplier");
  auto in_flight = reader.Count(1, "sluice.io/rate-limit-connections", "nginx.ingress.kubernetes.io/limit-connections");
  v1::RateLimitPolicy limits;
  for (auto [rate, period] : {std::pair{rps, 1u}, std::pair{rpm, 60u}}) {
    if (!rate) continue;
    auto* limit = limits.add_limits();
    limit->set_requests(static_cast<uint32_t>(*rate));
    limit->set_period_seconds(period);
    // ingress-nginx: burst = rate x limit-burst-multiplier (default 5).
    uint64_t chosen = burst ? *burst : *rate * (multiplier ? *multiplier : 5);
    limit->set_burst(static_cast<uint32_t>(std::min<uint64_t>(chosen, 0xffffffffu)));
  }
  if (std::optional<std::string> key = reader.Text("sluice.io/rate-limit-key")) {
    std::string_view text = *key;
    if (text == "client") {
      limits.set_key(v1::RateLimitPolicy::CLIENT_ADDRESS);
    } else if (text.rfind("header:", 0) == 0 && text.size() > 7) {
      limits.set_key(v1::RateLimitPolicy::HEADER);
      limits.set_key_name(std::string(Trim(text.substr(7))));
    } else if (text.rfind("cookie:", 0) == 0 && text.size() > 7) {
      limits.set_key(v1::RateLimitPolicy::COOKIE);
      limits.set_key_name(std::string(Trim(text.substr(7))));
    } else {
      reader.Problem("sluice.io/rate-limit-key",
                     "sluice.io/rate-limit-key \"" + *key + "\": expected client, header:NAME or cookie:NAME");
    }
  }
  for (std::string_view name : {"sluice.io/rate-limit-exempt", "nginx.ingress.kubernetes.io/limit-whitelist"}) {
    std::optional<std::string> list = reader.Text(name);
    if (!list) continue;
    v1::RateLimitPolicy entries;
    bool valid = true;
    std::string_view rest = *list;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view entry = Trim(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (entry.empty()) continue;
      if (!IsAddressOrNetwork(entry)) {
        reader.Problem(name, std::string(name) + " \"" + std::string(entry) +
                                 "\": expected an IPv4 or IPv6 address or CIDR like 10.0.0.0/8");
        valid = false;
        break;
      }
      entries.add_exempt(std::string(entry));
    }
    if (valid) {
      limits.mutable_exempt()->Swap(entries.mutable_exempt());
      break;  // the sluice.io/ one wins
    }
  }
  if (std::optional<std::string> scope = reader.Text("sluice.io/rate-limit-scope")) {
    if (*scope == "cluster") {
      limits.set_scope(v1::RateLimitPolicy::CLUSTER);
    } else if (*scope != "local") {
      reader.Problem("sluice.io/rate-limit-scope",
                     "sluice.io/rate-limit-scope \"" + *scope + "\": expected local or cluster");
    }
  }
  if (std::optional<std::string> fail = reader.Text("sluice.io/rate-limit-fail")) {
    if (*fail == "closed") {
      limits.set_fail_closed(true);
    } else if (*fail != "open") {
      reader.Problem("sluice.io/rate-limit-fail", "sluice.io/rate-limit-fail \"" + *fail + "\": expected open or closed");
    }
  }
  if (in_flight) limits.set_max_concurrent_requests(static_cast<uint32_t>(*in_flight));
  if (limits.limits_size() > 0 || limits.max_concurrent_requests() > 0) *policy.mutable_rate_limit() = std::move(limits);
}

}  // namespace sluice::translate
