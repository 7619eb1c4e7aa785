#pragma once
// What the firewall reports: one JSON line per intervention on its own
// stream (--waf-audit-log PATH|stderr), and counters per route and rule for
// /metrics.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace sluice::waf {

// One write(2) per line on an O_APPEND descriptor: lines from workers never
// interleave and no lock is taken. Written only when a rule intervenes
// (attack traffic), never for clean requests.
class AuditLog {
 public:
  // "stderr", or a file path (appended, created 0640).
  static Result<std::unique_ptr<AuditLog>> Open(const std::string& destination);
  // A log into a descriptor the caller keeps open (tests: a pipe or a file).
  explicit AuditLog(int fd, bool owned = false) : fd_(fd), owned_(owned) {}
  ~AuditLog();
  void WriteLine(std::string line) const;  // `line` without its newline

 private:
  int fd_;
  bool owned_;
};

struct RuleMatch {
  uint32_t rule_id = 0;
  std::string message;
  std::string data;  // what matched, cut to kMaxMatchedData
};
constexpr size_t kMaxMatchedData = 200;

struct AuditRecord {
  std::string_view transaction_id;
  std::string_view route;   // "namespace/ingress"
  std::string_view client;  // the client address
  std::string_view method;
  std::string_view uri;     // cut to 512 bytes in the line
  std::string_view mode;    // "block" or "detect"
  std::string_view phase;   // "request" or "response"
  int status = 0;           // what the client got from the firewall: 403, 400; 0 in detect mode
  const std::vector<RuleMatch>* rules = nullptr;
};
std::string AuditLine(const AuditRecord& record);

// The counters of one route: interventions by outcome, and rule matches by
// rule ID in a fixed open-addressing table that workers fill without a lock
// (a CAS claims a slot for a rule ID the first time it matches).
class RouteCounters {
 public:
  static constexpr size_t kSlots = 256;
  void CountBlocked() { blocked_.fetch_add(1, std::memory_order_relaxed); }
  void CountDetected() { detected_.fetch_add(1, std::memory_order_relaxed); }
  void CountRule(uint32_t rule_id);
  uint64_t blocked() const { return blocked_.load(std::memory_order_relaxed); }
  uint64_t detected() const { return detected_.load(std::memory_order_relaxed); }
  // (rule ID, matches) for every rule that matched; ID 0: rules that found
  // no free slot.
  std::vector<std::pair<uint32_t, uint64_t>> RuleCounts() const;

 private:
  struct Slot {
    std::atomic<uint32_t> rule_id{0};
    std::atomic<uint64_t> matches{0};
  };
  std::atomic<uint64_t> blocked_{0}, detected_{0}, other_rules_{0};
  Slot slots_[kSlots];
};

// Counters by route, kept across snapshots (a counter must not restart
// when the configuration changes). Routes are added on the thread that
// compiles snapshots and read by /metrics; workers only touch the
// RouteCounters they were handed, so the lock is never on a request's path.
class Metrics {
 public:
  std::shared_ptr<RouteCounters> For(const std::string& route);
  // Prometheus text: sluice_waf_interventions_total{route,action},
  // sluice_waf_rule_matches_total{route,rule}.
  std::string Text() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<RouteCounters>> by_route_;
};

}  // namespace sluice::waf
