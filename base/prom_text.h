#pragma once
// Prometheus text exposition (format 0.0.4) helpers for control paths (the
// controller, the proxy's snapshot apply): a histogram with a mutex and
// fixed buckets, and writers for counters and gauges. Not for the
// per-request path: the proxy's per-request counters are worker-owned
// (dataplane/metrics).
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::prom {

// Escapes a label value (backslash, double quote, newline).
inline std::string Escape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// Whole numbers (counts) in full, others with 9 significant digits.
inline std::string Number(double value) {
  char buffer[40];
  if (value == static_cast<double>(static_cast<int64_t>(value)) && value > -1e15 && value < 1e15) {
    std::snprintf(buffer, sizeof buffer, "%lld", static_cast<long long>(value));
  } else {
    std::snprintf(buffer, sizeof buffer, "%.9g", value);
  }
  return buffer;
}

inline void Header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

// One sample line: name{labels} value (labels: `a="x",b="y"` or empty).
inline void Sample(std::string& out, std::string_view name, std::string_view labels, double value) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  out += Number(value);
  out += '\n';
}

inline void Single(std::string& out, std::string_view name, std::string_view type, std::string_view help,
                   double value) {
  Header(out, name, type, help);
  Sample(out, name, "", value);
}

// Seconds buckets for control-path durations: 1 ms .. 60 s.
inline const std::vector<double>& ControlBuckets() {
  static const std::vector<double> buckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                              0.5,   1,      2.5,   5,    10,    30,    60};
  return buckets;
}

// A histogram of durations observed a few times a second at most.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds = ControlBuckets())
      : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

  void Observe(double value) {
    std::lock_guard<std::mutex> lock(mu_);
    size_t i = 0;
    while (i < bounds_.size() && value > bounds_[i]) ++i;
    ++counts_[i];
    sum_ += value;
  }
  uint64_t count() const {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t total = 0;
    for (uint64_t c : counts_) total += c;
    return total;
  }
  // The whole family (HELP, TYPE, buckets, _sum, _count).
  void Append(std::string& out, const std::string& name, std::string_view help) const {
    Header(out, name, "histogram", help);
    AppendSamples(out, name, "");
  }
  // Only the samples, with `labels` (for a family of several histograms).
  void AppendSamples(std::string& out, const std::string& name, const std::string& labels) const {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string prefix = labels.empty() ? "" : labels + ",";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds_.size(); ++i) {
      cumulative += counts_[i];
      Sample(out, name + "_bucket", prefix + "le=\"" + Number(bounds_[i]) + "\"", static_cast<double>(cumulative));
    }
    cumulative += counts_.back();
    Sample(out, name + "_bucket", prefix + "le=\"+Inf\"", static_cast<double>(cumulative));
    Sample(out, name + "_sum", labels, sum_);
    Sample(out, name + "_count", labels, static_cast<double>(cumulative));
  }

 private:
  const std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
};

}  // namespace sluice::prom
