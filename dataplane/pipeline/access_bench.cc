// The per-request cost of the access_control and real_client stages, no
// I/O: a route's chain runs the request head hooks for N requests, with
// lists of several sizes. Meant for callgrind (instructions do not depend
// on the machine's load; two request counts, the difference per request):
//   valgrind --tool=callgrind bazel-bin/dataplane/pipeline/access_bench LIST N
// LIST: none | small (2 CIDRs) | large (1001 CIDRs) | xff (real_client +
// small, a trusted peer with a 3-hop X-Forwarded-For; every request has
// that header, so "none" is the baseline for all).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "dataplane/pipeline/chain.h"

namespace sluice::pipeline {
namespace {

int Run(const std::string& list, int requests) {
  v1::RoutePolicy policy;
  ChainDefaults defaults;
  if (list == "small" || list == "xff") {
    policy.mutable_access_control()->add_allow("10.0.0.0/8");
    policy.mutable_access_control()->add_deny("10.66.0.0/16");
  } else if (list == "large") {
    for (int i = 0; i < 1000; ++i) {
      // Every other /16: 1000 ranges that do not merge.
      policy.mutable_access_control()->add_allow(std::to_string(11 + i / 125) + "." + std::to_string(i % 125 * 2) +
                                                 ".0.0/16");
    }
    policy.mutable_access_control()->add_allow("10.0.0.0/8");
  }
  if (list == "xff") defaults.trusted_proxies = std::make_shared<const PrefixSet>(*ParsePrefixList("192.168.0.0/16"));
  auto chain = CompileChain(policy, defaults);
  http::ClientInfo client = http::ClientInfo::At(*IpAddress::Parse(list == "xff" ? "192.168.1.1" : "10.1.2.3"));
  int allowed = 0;
  for (int i = 0; i < requests; ++i) {
    ExchangeState state;
    state.client = &client;
    state.request.method = "GET";
    state.request.authority = "shop.example";
    state.request.path = "/";
    // Every request carries it, so the baseline ("none") pays for building it too.
    state.request.headers.Add("x-forwarded-for", "203.0.113.9, 10.1.2.3, 192.168.7.7");
    size_t cursor = 0;
    allowed += chain->RunRequestHead(state, cursor) == Verdict::kContinue;
  }
  std::printf("%s: %d of %d allowed\n", list.c_str(), allowed, requests);
  return 0;
}

}  // namespace
}  // namespace sluice::pipeline

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: access_bench none|small|large|xff REQUESTS\n");
    return 2;
  }
  return sluice::pipeline::Run(argv[1], std::atoi(argv[2]));
}
