#include "dataplane/balancer/balancer.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <vector>

#include "dataplane/balancer/consistent_hash.h"
#include "dataplane/balancer/request_keys.h"
#include "dataplane/balancer/round_robin.h"

namespace sluice::balancer {

using snapshot::CompiledBalancing;
using snapshot::CompiledCluster;
using snapshot::CompiledEndpoint;
using Algorithm = v1::LoadBalancingPolicy;

namespace {

constexpr double kEwmaDecayNs = 10e9;          // ingress-nginx's 10 s
constexpr double kEwmaFailureFloorNs = 1e9;    // a fast failure must not look fast
constexpr double kEwmaUnmeasuredBusy = 1e18;   // no latency yet but requests pending
constexpr double kEwmaTieMargin = 0.05;        // costs within 5% count as equal
constexpr int64_t kIdleClusterStateNs = 600'000'000'000;  // dropped after 10 idle minutes

// No route, or a cluster the route does not name: round robin, no affinity.
const CompiledBalancing kDefaultBalancing{};

int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool Healthy(const CompiledEndpoint& endpoint, int64_t now_ns) {
  return endpoint.health == nullptr || endpoint.health->Available(now_ns);
}

// OutlierDetection's panic threshold, compiled with its default (50%, Envoy's).
uint64_t PanicThresholdPercent(const CompiledCluster& cluster) { return cluster.outlier.panic_threshold_percent; }

const CompiledBalancing& BalancingOf(const CompiledCluster& cluster, const PickContext& context) {
  if (context.route != nullptr) {
    if (const CompiledBalancing* balancing = context.route->BalancingFor(&cluster)) return *balancing;
  }
  return kDefaultBalancing;
}

// Which endpoints a pick may choose, computed once per pick into the
// cluster state's reused scratch bytes (no allocation once warm): available
// ones (all of them in panic), minus those already tried while any other
// remains. The policies then read one byte per endpoint.
class Eligibility {
 public:
  Eligibility(const CompiledCluster& cluster, const PickContext& context, std::vector<uint8_t>& scratch)
      : bits_(scratch) {
    const std::vector<CompiledEndpoint>& endpoints = cluster.endpoints;
    size_t n = endpoints.size();
    bits_.resize(n);
    uint64_t available = 0;
    for (size_t i = 0; i < n; ++i) {
      bits_[i] = Healthy(endpoints[i], context.now_ns) ? 1 : 0;
      available += bits_[i];
    }
    if (available * 100 < n * PanicThresholdPercent(cluster)) std::fill(bits_.begin(), bits_.end(), 1);
    if (context.tried.empty()) return;
    auto tried = [&](size_t i) {
      for (const CompiledEndpoint* t : context.tried) {
        if (t == &endpoints[i] || (t != nullptr && t->key == endpoints[i].key)) return true;
      }
      return false;
    };
    bool other_remains = false;
    for (size_t i = 0; i < n && !other_remains; ++i) other_remains = bits_[i] && !tried(i);
    if (!other_remains) return;
    for (size_t i = 0; i < n; ++i) {
      if (bits_[i] && tried(i)) bits_[i] = 0;
    }
  }
  bool operator()(size_t i) const { return bits_[i] != 0; }

 private:
  std::vector<uint8_t>& bits_;
};

// The request's hash key, or nothing (then the pick is random).
std::optional<std::string_view> HashKeyOf(const CompiledBalancing& balancing, const PickContext& context) {
  const http::RequestHead* request = context.request;
  switch (balancing.hash_source) {
    case v1::HashKey::CLIENT_IP:
      return context.client_ip;
    case v1::HashKey::HEADER:
      if (request == nullptr) return std::nullopt;
      if (const std::string* value = request->headers.Get(balancing.hash_name)) {
        return std::string_view(*value);
      }
      return std::nullopt;
    case v1::HashKey::COOKIE:
      if (request == nullptr) return std::nullopt;
      return CookieValue(request->headers, balancing.hash_name);
    case v1::HashKey::PATH:
      if (request == nullptr) return std::nullopt;
      return http::PathWithoutQuery(request->path);
    case v1::HashKey::URI:
      if (request == nullptr) return std::nullopt;
      return std::string_view(request->path);
    default:
      return std::nullopt;
  }
}

}  // namespace

struct Balancer::EndpointStats {
  int64_t in_flight = 0;
  double ewma_ns = 0;      // peak-EWMA latency
  int64_t ewma_at_ns = 0;  // when ewma_ns was last updated
};

// Pick state of one policy on one cluster, in this worker.
struct Balancer::PolicyState {
  uint64_t policy_id = 0;
  std::vector<int64_t> current;  // smooth round robin
};

struct Balancer::ClusterState {
  bool built = false;
  uint64_t version = 0;            // CompiledCluster::endpoints_version this was built for
  std::vector<std::string> keys;   // endpoint keys, by index
  std::vector<EndpointStats> stats;  // shared by every policy picking here
  // One per policy picking from this cluster (usually one or two): found by
  // a short scan, created on the policy's first pick in this worker.
  std::vector<PolicyState> policies;
  bool track_latency = false;      // an EWMA policy picks here: keep latency averages
  std::vector<uint8_t> eligible;   // per-pick scratch (Eligibility)
  int64_t last_used_ns = 0;

  PolicyState& Policy(uint64_t policy_id) {
    for (PolicyState& p : policies) {
      if (p.policy_id == policy_id) return p;
    }
    PolicyState& added = policies.emplace_back();
    added.policy_id = policy_id;
    added.current.assign(keys.size(), 0);
    return added;
  }

  void Rebuild(const CompiledCluster& cluster) {
    // In-flight counts and latencies follow their endpoint across changes.
    std::unordered_map<std::string, EndpointStats> old;
    for (size_t i = 0; i < keys.size(); ++i) old.emplace(std::move(keys[i]), stats[i]);
    size_t n = cluster.endpoints.size();
    keys.clear();
    stats.assign(n, EndpointStats{});
    for (size_t i = 0; i < n; ++i) {
      keys.push_back(cluster.endpoints[i].key);
      if (auto it = old.find(keys[i]); it != old.end()) stats[i] = it->second;
    }
    for (PolicyState& p : policies) p.current.assign(n, 0);
    version = cluster.endpoints_version;
    built = true;
  }

  int64_t InFlightTotal() const {
    int64_t total = 0;
    for (const EndpointStats& s : stats) total += s.in_flight;
    return total;
  }
};

uint64_t Balancer::DefaultSeed() { return std::random_device{}() ^ static_cast<uint64_t>(SteadyNowNs()); }

Balancer::Balancer(uint64_t seed) : random_(seed) {}
Balancer::~Balancer() = default;

Balancer::ClusterState* Balancer::FindState(const std::string& name) const {
  if (last_state_ != nullptr && *last_name_ == name) return last_state_;
  auto it = clusters_.find(name);
  if (it == clusters_.end()) return nullptr;
  last_name_ = &it->first;
  last_state_ = it->second.get();
  return last_state_;
}

Balancer::ClusterState& Balancer::Sync(const CompiledCluster& cluster, int64_t now_ns) {
  ClusterState* found = FindState(cluster.name);
  if (found == nullptr) {
    auto it = clusters_.emplace(cluster.name, std::make_unique<ClusterState>()).first;
    found = it->second.get();
  }
  ClusterState& state = *found;
  state.last_used_ns = now_ns;
  if (!state.built || state.version != cluster.endpoints_version || state.keys.size() != cluster.endpoints.size()) {
    state.Rebuild(cluster);
    // Configuration changed: a good moment to forget clusters long gone.
    std::erase_if(clusters_, [&](const auto& entry) {
      return entry.second.get() != &state && now_ns - entry.second->last_used_ns > kIdleClusterStateNs &&
             entry.second->InFlightTotal() == 0;
    });
    last_name_ = nullptr;
    last_state_ = nullptr;
  }
  return state;
}

Balancer::EndpointStats* Balancer::StatsOf(const CompiledCluster& cluster, const CompiledEndpoint& endpoint,
                                           ClusterState** state_out) const {
  ClusterState* found = FindState(cluster.name);
  if (found == nullptr) return nullptr;
  ClusterState& state = *found;
  if (state_out != nullptr) *state_out = &state;
  if (state.version == cluster.endpoints_version && !cluster.endpoints.empty()) {
    size_t index = static_cast<size_t>(&endpoint - cluster.endpoints.data());
    if (index < state.stats.size() && index < cluster.endpoints.size()) return &state.stats[index];
  }
  // The request started on another version of the cluster (rare): by key.
  for (size_t i = 0; i < state.keys.size(); ++i) {
    if (state.keys[i] == endpoint.key) return &state.stats[i];
  }
  return nullptr;
}

const CompiledCluster* Balancer::ChooseCluster(const snapshot::CompiledRoute& route, const http::RequestHead& request) {
  const snapshot::CompiledCanary& canary = route.canary;
  if (canary.cluster != nullptr) {
    // ingress-nginx's precedence: header, then cookie, then weight.
    if (!canary.header.empty()) {
      if (const std::string* value = request.headers.Get(canary.header)) {
        if (!canary.header_value.empty()) {
          if (*value == canary.header_value) return canary.cluster;
        } else if (*value == "always") {
          return canary.cluster;
        } else if (*value == "never") {
          return route.cluster;
        }
      }
    }
    if (!canary.cookie.empty()) {
      if (std::optional<std::string_view> value = CookieValue(request.headers, canary.cookie)) {
        if (*value == "always") return canary.cluster;
        if (*value == "never") return route.cluster;
      }
    }
  }
  if (route.total_weight > 0) {
    uint64_t slot = random_.Below(route.total_weight);
    for (const snapshot::CompiledWeightedCluster& weighted : route.weighted_clusters) {
      if (slot < weighted.weight) return weighted.cluster;
      slot -= weighted.weight;
    }
  }
  return route.cluster;
}

PickResult Balancer::Pick(const CompiledCluster& cluster, const PickContext& context) {
  const std::vector<CompiledEndpoint>& endpoints = cluster.endpoints;
  if (endpoints.empty()) return {};
  ClusterState& state = Sync(cluster, context.now_ns);
  Eligibility eligible(cluster, context, state.eligible);
  auto weight_of = [&](size_t i) -> uint64_t { return endpoints[i].weight == 0 ? 1 : endpoints[i].weight; };
  const CompiledBalancing& balancing = BalancingOf(cluster, context);

  // Tables compiled for other endpoints than these (a hand-built route in a
  // test) are not used.
  bool affinity = balancing.affinity != nullptr && balancing.set_cookies != nullptr &&
                  balancing.set_cookies->size() == endpoints.size();
  if (affinity && context.request != nullptr) {
    std::optional<std::string_view> value = CookieValue(context.request->headers, balancing.cookie_name);
    std::optional<uint64_t> pinned = value ? ParseHex64(*value) : std::nullopt;
    if (pinned) {
      auto it = balancing.affinity->by_hash.find(*pinned);
      if (it != balancing.affinity->by_hash.end() && it->second < endpoints.size() && eligible(it->second)) {
        return PickResult{&endpoints[it->second], {}};
      }
    }
  }

  // Weighted random among the eligible, `except` left out; kNoEndpoint if none.
  auto weighted_random = [&](size_t except) -> size_t {
    uint64_t total = 0;
    for (size_t i = 0; i < endpoints.size(); ++i) total += (i != except && eligible(i)) ? weight_of(i) : 0;
    if (total == 0) return kNoEndpoint;
    uint64_t slot = random_.Below(total);
    for (size_t i = 0; i < endpoints.size(); ++i) {
      if (i == except || !eligible(i)) continue;
      if (slot < weight_of(i)) return i;
      slot -= weight_of(i);
    }
    return kNoEndpoint;
  };

  size_t chosen = kNoEndpoint;
  switch (balancing.algorithm) {
    case Algorithm::RANDOM:
      chosen = weighted_random(kNoEndpoint);
      break;
    case Algorithm::LEAST_REQUEST: {
      size_t a = weighted_random(kNoEndpoint);
      size_t b = a == kNoEndpoint ? kNoEndpoint : weighted_random(a);
      chosen = a;
      // in_flight(b)/weight(b) < in_flight(a)/weight(a), without division.
      if (b != kNoEndpoint && state.stats[b].in_flight * static_cast<int64_t>(weight_of(a)) <
                                  state.stats[a].in_flight * static_cast<int64_t>(weight_of(b))) {
        chosen = b;
      }
      break;
    }
    case Algorithm::EWMA: {
      state.track_latency = true;
      int64_t now_ns = context.now_ns != 0 ? context.now_ns : SteadyNowNs();
      auto score = [&](size_t i) {
        const EndpointStats& s = state.stats[i];
        double decay = std::exp(-static_cast<double>(std::max<int64_t>(0, now_ns - s.ewma_at_ns)) / kEwmaDecayNs);
        double cost = s.ewma_ns * decay;
        double load = (cost == 0 && s.in_flight > 0) ? kEwmaUnmeasuredBusy + static_cast<double>(s.in_flight)
                                                     : cost * static_cast<double>(s.in_flight + 1);
        return load;
      };
      // Weights steer the draw; the second drawn wins only when clearly
      // cheaper, so equally fast endpoints share by weight instead of by
      // measurement noise.
      size_t a = weighted_random(kNoEndpoint);
      size_t b = a == kNoEndpoint ? kNoEndpoint : weighted_random(a);
      chosen = (b != kNoEndpoint && score(b) < score(a) * (1 - kEwmaTieMargin)) ? b : a;
      break;
    }
    case Algorithm::RING_HASH:
    case Algorithm::MAGLEV: {
      // The tables were built with the snapshot, for this cluster object.
      std::optional<std::string_view> key = HashKeyOf(balancing, context);
      bool ring = balancing.algorithm == Algorithm::RING_HASH && balancing.ring != nullptr;
      bool maglev = balancing.algorithm == Algorithm::MAGLEV && balancing.maglev != nullptr;
      if (!key || !(ring || maglev) || balancing.cluster != &cluster) {
        chosen = weighted_random(kNoEndpoint);
        break;
      }
      uint64_t hash = Hash64(*key);
      chosen = ring ? balancing.ring->Find(hash, eligible) : balancing.maglev->Find(hash, eligible);
      break;
    }
    case Algorithm::ROUND_ROBIN:
    default: {
      PolicyState& policy = state.Policy(balancing.policy_id);
      chosen = SmoothWeightedPick(std::span<int64_t>(policy.current), weight_of, eligible);
      break;
    }
  }
  if (chosen == kNoEndpoint || chosen >= endpoints.size()) return {};
  PickResult result{&endpoints[chosen], {}};
  if (affinity) result.set_cookie = (*balancing.set_cookies)[chosen];
  return result;
}

void Balancer::OnRequestStart(const CompiledCluster& cluster, const CompiledEndpoint& endpoint) {
  const ClusterState* state = FindState(cluster.name);
  if (state == nullptr || state->version != cluster.endpoints_version) Sync(cluster, SteadyNowNs());
  if (EndpointStats* stats = StatsOf(cluster, endpoint)) ++stats->in_flight;
}

void Balancer::OnRequestEnd(const CompiledCluster& cluster, const CompiledEndpoint& endpoint,
                            std::chrono::nanoseconds latency, bool success, int64_t now_ns) {
  ClusterState* state = nullptr;
  EndpointStats* stats = StatsOf(cluster, endpoint, &state);
  if (stats == nullptr) return;
  if (stats->in_flight > 0) --stats->in_flight;
  if (!state->track_latency) return;  // no EWMA policy picks from this cluster
  if (now_ns == 0) now_ns = SteadyNowNs();
  double rtt = static_cast<double>(latency.count());
  if (!success) rtt = std::max(rtt, kEwmaFailureFloorNs);
  // Peak-sensitive: a slower sample takes over at once, faster ones blend in.
  if (rtt > stats->ewma_ns) {
    stats->ewma_ns = rtt;
  } else {
    double w = std::exp(-static_cast<double>(std::max<int64_t>(0, now_ns - stats->ewma_at_ns)) / kEwmaDecayNs);
    stats->ewma_ns = stats->ewma_ns * w + rtt * (1 - w);
  }
  stats->ewma_at_ns = now_ns;
}

int64_t Balancer::InFlight(const CompiledCluster& cluster, const CompiledEndpoint& endpoint) const {
  const EndpointStats* stats = StatsOf(cluster, endpoint);
  return stats == nullptr ? 0 : stats->in_flight;
}

}  // namespace sluice::balancer
