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

using snapshot::CompiledCluster;
using snapshot::CompiledEndpoint;

namespace {

constexpr double kEwmaDecayNs = 10e9;          // ingress-nginx's 10 s
constexpr double kEwmaFailureFloorNs = 1e9;    // a fast failure must not look fast
constexpr double kEwmaUnmeasuredBusy = 1e18;   // no latency yet but requests pending
constexpr double kEwmaTieMargin = 0.05;        // costs within 5% count as equal
constexpr int64_t kIdleClusterStateNs = 600'000'000'000;  // dropped after 10 idle minutes
constexpr uint64_t kAffinitySeed = 0x736c756963652d61ull;
constexpr std::string_view kDefaultAffinityCookie = "sluice-affinity";

int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool Healthy(const CompiledEndpoint& endpoint, int64_t now_ns) {
  return endpoint.health == nullptr || endpoint.health->Available(now_ns);
}

// OutlierDetection's panic threshold, compiled with its default (50%, Envoy's).
uint64_t PanicThresholdPercent(const CompiledCluster& cluster) { return cluster.outlier.panic_threshold_percent; }

v1::Cluster::LoadBalancing PolicyOf(const CompiledCluster& cluster) {
  return cluster.source != nullptr ? cluster.source->load_balancing() : v1::Cluster::ROUND_ROBIN;
}

const v1::SessionAffinity* AffinityOf(const CompiledCluster& cluster) {
  return cluster.source != nullptr && cluster.source->affinity().enabled() ? &cluster.source->affinity() : nullptr;
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
std::optional<std::string_view> HashKeyOf(const CompiledCluster& cluster, const PickContext& context) {
  v1::HashKey::Source source = cluster.source != nullptr ? cluster.source->hash_key().source() : v1::HashKey::NONE;
  const http::RequestHead* request = context.request;
  switch (source) {
    case v1::HashKey::CLIENT_IP:
      return context.client_ip;
    case v1::HashKey::HEADER:
      if (request == nullptr) return std::nullopt;
      if (const std::string* value = request->headers.Get(cluster.source->hash_key().name())) {
        return std::string_view(*value);
      }
      return std::nullopt;
    case v1::HashKey::COOKIE:
      if (request == nullptr) return std::nullopt;
      return CookieValue(request->headers, cluster.source->hash_key().name());
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

std::string SetCookie(const v1::SessionAffinity& affinity, std::string_view name, std::string_view value) {
  std::string out;
  out.reserve(name.size() + value.size() + 64);
  out.append(name).append("=").append(value);
  out.append("; Path=").append(affinity.path().empty() ? std::string_view("/") : std::string_view(affinity.path()));
  if (affinity.max_age_seconds() != 0) out.append("; Max-Age=").append(std::to_string(affinity.max_age_seconds()));
  if (!affinity.same_site().empty()) out.append("; SameSite=").append(affinity.same_site());
  if (affinity.secure()) out.append("; Secure");
  out.append("; HttpOnly");
  return out;
}

}  // namespace

struct Balancer::EndpointStats {
  int64_t in_flight = 0;
  double ewma_ns = 0;      // peak-EWMA latency
  int64_t ewma_at_ns = 0;  // when ewma_ns was last updated
};

struct Balancer::ClusterState {
  bool built = false;
  uint64_t version = 0;            // CompiledCluster::endpoints_version this was built for
  std::vector<std::string> keys;   // endpoint keys, by index
  std::vector<EndpointStats> stats;
  std::vector<int64_t> current;    // smooth round robin
  std::unique_ptr<HashRing> ring;  // built on first use
  std::unique_ptr<MaglevTable> maglev;
  std::unordered_map<uint64_t, uint32_t> affinity;  // cookie hash -> index
  std::vector<std::string> affinity_values;          // cookie value, by index
  std::vector<uint8_t> eligible;                     // per-pick scratch (Eligibility)
  int64_t last_used_ns = 0;

  void Rebuild(const CompiledCluster& cluster) {
    // In-flight counts and latencies follow their endpoint across changes.
    std::unordered_map<std::string, EndpointStats> old;
    for (size_t i = 0; i < keys.size(); ++i) old.emplace(std::move(keys[i]), stats[i]);
    size_t n = cluster.endpoints.size();
    keys.clear();
    stats.assign(n, EndpointStats{});
    current.assign(n, 0);
    for (size_t i = 0; i < n; ++i) {
      keys.push_back(cluster.endpoints[i].key);
      if (auto it = old.find(keys[i]); it != old.end()) stats[i] = it->second;
    }
    ring.reset();
    maglev.reset();
    affinity.clear();
    affinity_values.clear();
    if (AffinityOf(cluster) != nullptr) {
      for (size_t i = 0; i < n; ++i) {
        affinity_values.push_back(AffinityCookieValue(cluster.name, keys[i]));
        affinity.emplace(*ParseHex64(affinity_values.back()), static_cast<uint32_t>(i));
      }
    }
    version = cluster.endpoints_version;
    built = true;
  }

  std::vector<HashTarget> Targets(const CompiledCluster& cluster) const {
    std::vector<HashTarget> targets;
    for (const CompiledEndpoint& e : cluster.endpoints) targets.push_back({e.key, e.weight});
    return targets;
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

Balancer::ClusterState& Balancer::Sync(const CompiledCluster& cluster, int64_t now_ns) {
  auto it = clusters_.find(cluster.name);
  if (it == clusters_.end()) it = clusters_.emplace(cluster.name, std::make_unique<ClusterState>()).first;
  ClusterState& state = *it->second;
  state.last_used_ns = now_ns;
  if (!state.built || state.version != cluster.endpoints_version || state.keys.size() != cluster.endpoints.size()) {
    state.Rebuild(cluster);
    // Configuration changed: a good moment to forget clusters long gone.
    std::erase_if(clusters_, [&](const auto& entry) {
      return entry.second.get() != &state && now_ns - entry.second->last_used_ns > kIdleClusterStateNs &&
             entry.second->InFlightTotal() == 0;
    });
  }
  return state;
}

Balancer::EndpointStats* Balancer::StatsOf(const CompiledCluster& cluster, const CompiledEndpoint& endpoint) const {
  auto it = clusters_.find(cluster.name);
  if (it == clusters_.end()) return nullptr;
  ClusterState& state = *it->second;
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

  const v1::SessionAffinity* affinity = AffinityOf(cluster);
  std::string_view cookie_name;
  if (affinity != nullptr) {
    cookie_name = affinity->cookie_name().empty() ? kDefaultAffinityCookie : std::string_view(affinity->cookie_name());
    if (context.request != nullptr) {
      std::optional<std::string_view> value = CookieValue(context.request->headers, cookie_name);
      std::optional<uint64_t> pinned = value ? ParseHex64(*value) : std::nullopt;
      if (pinned) {
        auto it = state.affinity.find(*pinned);
        if (it != state.affinity.end() && eligible(it->second)) return PickResult{&endpoints[it->second], {}};
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
  switch (PolicyOf(cluster)) {
    case v1::Cluster::RANDOM:
      chosen = weighted_random(kNoEndpoint);
      break;
    case v1::Cluster::LEAST_REQUEST: {
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
    case v1::Cluster::EWMA: {
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
    case v1::Cluster::RING_HASH:
    case v1::Cluster::MAGLEV: {
      std::optional<std::string_view> key = HashKeyOf(cluster, context);
      if (!key) {
        chosen = weighted_random(kNoEndpoint);
        break;
      }
      uint64_t hash = Hash64(*key);
      if (PolicyOf(cluster) == v1::Cluster::RING_HASH) {
        if (state.ring == nullptr) state.ring = std::make_unique<HashRing>(state.Targets(cluster));
        chosen = state.ring->Find(hash, eligible);
      } else {
        if (state.maglev == nullptr) state.maglev = std::make_unique<MaglevTable>(state.Targets(cluster));
        chosen = state.maglev->Find(hash, eligible);
      }
      break;
    }
    case v1::Cluster::ROUND_ROBIN:
    default:
      chosen = SmoothWeightedPick(std::span<int64_t>(state.current), weight_of, eligible);
      break;
  }
  if (chosen == kNoEndpoint) return {};
  PickResult result{&endpoints[chosen], {}};
  if (affinity != nullptr) {
    result.set_cookie = SetCookie(*affinity, cookie_name, state.affinity_values[chosen]);
  }
  return result;
}

void Balancer::OnRequestStart(const CompiledCluster& cluster, const CompiledEndpoint& endpoint) {
  auto it = clusters_.find(cluster.name);
  if (it == clusters_.end() || it->second->version != cluster.endpoints_version) Sync(cluster, SteadyNowNs());
  if (EndpointStats* stats = StatsOf(cluster, endpoint)) ++stats->in_flight;
}

void Balancer::OnRequestEnd(const CompiledCluster& cluster, const CompiledEndpoint& endpoint,
                            std::chrono::nanoseconds latency, bool success, int64_t now_ns) {
  EndpointStats* stats = StatsOf(cluster, endpoint);
  if (stats == nullptr) return;
  if (stats->in_flight > 0) --stats->in_flight;
  if (PolicyOf(cluster) != v1::Cluster::EWMA) return;
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

std::string AffinityCookieValue(std::string_view cluster_name, std::string_view endpoint_key) {
  std::string joined;
  joined.reserve(cluster_name.size() + 1 + endpoint_key.size());
  joined.append(cluster_name).append("\n").append(endpoint_key);
  uint64_t hash = Hash64(joined, kAffinitySeed);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, hash >>= 4) out[static_cast<size_t>(i)] = kHex[hash & 15];
  return out;
}

}  // namespace sluice::balancer
