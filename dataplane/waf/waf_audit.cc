#include "dataplane/waf/waf_audit.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include "dataplane/common/log.h"

namespace sluice::waf {
namespace {

std::string Cut(std::string_view text, size_t max) {
  if (text.size() <= max) return std::string(text);
  return std::string(text.substr(0, max)) + "...";
}

std::string NowRfc3339() {
  auto now = std::chrono::system_clock::now();
  std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[80];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(millis));
  return buffer;
}

}  // namespace

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& destination) {
  if (destination == "stderr" || destination == "-") return std::make_unique<AuditLog>(STDERR_FILENO);
  int fd = open(destination.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return Status::Error("cannot open " + destination + ": " + std::strerror(errno));
  return std::make_unique<AuditLog>(fd, /*owned=*/true);
}

AuditLog::~AuditLog() {
  if (owned_) close(fd_);
}

void AuditLog::WriteLine(std::string line) const {
  line.push_back('\n');
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = write(fd_, line.data() + off, line.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a full disk must not stop the traffic
    off += static_cast<size_t>(n);
  }
}

std::string AuditLine(const AuditRecord& record) {
  std::string line = "{\"ts\":" + log::Quote(NowRfc3339()) + ",\"type\":\"waf\"";
  line += ",\"transaction_id\":" + log::Quote(record.transaction_id);
  line += ",\"route\":" + log::Quote(record.route);
  line += ",\"client\":" + log::Quote(record.client);
  line += ",\"method\":" + log::Quote(record.method);
  line += ",\"uri\":" + log::Quote(Cut(record.uri, 512));
  line += ",\"mode\":" + log::Quote(record.mode);
  line += ",\"phase\":" + log::Quote(record.phase);
  line += ",\"action\":" + log::Quote(record.status != 0 ? "blocked" : "detected");
  line += ",\"status\":" + std::to_string(record.status);
  line += ",\"rule_ids\":[";
  if (record.rules != nullptr) {
    for (size_t i = 0; i < record.rules->size(); ++i) {
      line += (i ? "," : "") + std::to_string((*record.rules)[i].rule_id);
    }
  }
  line += "],\"rules\":[";
  if (record.rules != nullptr) {
    for (size_t i = 0; i < record.rules->size(); ++i) {
      const RuleMatch& rule = (*record.rules)[i];
      line += (i ? ",{" : "{");
      line += "\"id\":" + std::to_string(rule.rule_id) + ",\"msg\":" + log::Quote(Cut(rule.message, 256)) +
              ",\"data\":" + log::Quote(Cut(rule.data, kMaxMatchedData)) + "}";
    }
  }
  line += "]}";
  return line;
}

void RouteCounters::CountRule(uint32_t rule_id) {
  if (rule_id == 0) return;
  size_t start = (rule_id * 2654435761u) % kSlots;
  for (size_t probe = 0; probe < kSlots; ++probe) {
    Slot& slot = slots_[(start + probe) % kSlots];
    uint32_t seen = slot.rule_id.load(std::memory_order_acquire);
    if (seen == 0) {
      uint32_t expected = 0;
      if (slot.rule_id.compare_exchange_strong(expected, rule_id, std::memory_order_acq_rel)) seen = rule_id;
      else seen = expected;
    }
    if (seen == rule_id) {
      slot.matches.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  other_rules_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<std::pair<uint32_t, uint64_t>> RouteCounters::RuleCounts() const {
  std::vector<std::pair<uint32_t, uint64_t>> counts;
  for (const Slot& slot : slots_) {
    uint32_t id = slot.rule_id.load(std::memory_order_acquire);
    if (id != 0) counts.emplace_back(id, slot.matches.load(std::memory_order_relaxed));
  }
  if (uint64_t other = other_rules_.load(std::memory_order_relaxed)) counts.emplace_back(0, other);
  std::sort(counts.begin(), counts.end());
  return counts;
}

std::shared_ptr<RouteCounters> Metrics::For(const std::string& route) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& counters = by_route_[route];
  if (counters == nullptr) counters = std::make_shared<RouteCounters>();
  return counters;
}

std::string Metrics::Text() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out =
      "# HELP sluice_waf_interventions_total Requests the application firewall blocked, or would have blocked "
      "(detect mode), by route.\n# TYPE sluice_waf_interventions_total counter\n";
  for (const auto& [route, counters] : by_route_) {
    out += "sluice_waf_interventions_total{route=" + log::Quote(route) + ",action=\"blocked\"} " +
           std::to_string(counters->blocked()) + "\n";
    out += "sluice_waf_interventions_total{route=" + log::Quote(route) + ",action=\"detected\"} " +
           std::to_string(counters->detected()) + "\n";
  }
  out +=
      "# HELP sluice_waf_rule_matches_total CRS (or extra) rule matches in requests the firewall intervened on, by "
      "route and rule (rule=\"other\": the table was full).\n# TYPE sluice_waf_rule_matches_total counter\n";
  for (const auto& [route, counters] : by_route_) {
    for (const auto& [rule, matches] : counters->RuleCounts()) {
      out += "sluice_waf_rule_matches_total{route=" + log::Quote(route) + ",rule=\"" +
             (rule == 0 ? std::string("other") : std::to_string(rule)) + "\"} " + std::to_string(matches) + "\n";
    }
  }
  return out;
}

}  // namespace sluice::waf
