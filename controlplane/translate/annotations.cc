#include "controlplane/translate/annotations.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>
#include <utility>

namespace sluice::translate {
namespace {

using nlohmann::json;

constexpr uint64_t kMaxTimeoutMs = 24ull * 60 * 60 * 1000;
constexpr uint64_t kMaxSizeBytes = 1ull << 40;  // 1 TiB

constexpr char kTimeoutSyntax[] = "expected a timeout like 60 (seconds), 60s, 500ms or 5m";
constexpr char kSizeSyntax[] = "expected a size like 8m, 512k or 1048576";

std::string_view TrimSpaces(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Splits "512k" into its number and unit. The number saturates at `cap` + 1
// so that absurdly long digit strings are "too large", not an overflow.
// (Every unit is >= 1, so cap + 1 of any unit is still out of range.)
struct NumberAndUnit {
  uint64_t number;
  std::string_view unit;
};
std::optional<NumberAndUnit> SplitNumber(std::string_view text, uint64_t cap) {
  text = TrimSpaces(text);
  size_t digits = 0;
  uint64_t number = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    number = std::min<uint64_t>(number * 10 + static_cast<uint64_t>(text[digits] - '0'), cap + 1);
    ++digits;
  }
  if (digits == 0) return std::nullopt;
  return NumberAndUnit{number, text.substr(digits)};
}

// The value for a message: quoted and escaped like JSON, cut when long.
std::string Shown(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 60) text = text.substr(0, 56) + "...\"";
  return text;
}

// ---- One annotation at a time. ----

enum class ValueKind { kTimeout, kSize, kBoolean };

class Reader {
 public:
  explicit Reader(const json* annotations) : annotations_(annotations) {}

  // The value of the first of `names` that is set and valid; every set but
  // invalid one is a problem. An empty name is skipped (no nginx equivalent).
  std::optional<uint64_t> First(ValueKind kind, std::string_view preferred, std::string_view fallback = {}) {
    std::optional<uint64_t> chosen = Read(kind, preferred);
    std::optional<uint64_t> second = fallback.empty() ? std::nullopt : Read(kind, fallback);
    return chosen ? chosen : second;
  }

  std::vector<AnnotationProblem> TakeProblems() { return std::move(problems_); }

 private:
  std::optional<uint64_t> Read(ValueKind kind, std::string_view name) {
    if (annotations_ == nullptr || !annotations_->is_object()) return std::nullopt;
    auto it = annotations_->find(name);
    if (it == annotations_->end()) return std::nullopt;
    if (!it->is_string()) {
      Problem(name, std::string(name) + ": must be a string, write the value in quotes (got " + it->type_name() +
                        " " + Shown(*it) + ")");
      return std::nullopt;
    }
    std::string text = it->get<std::string>();
    sluice::Result<uint64_t> value = Parse(kind, text);
    if (!value.ok()) {
      Problem(name, std::string(name) + " " + Shown(*it) + ": " + value.status().message());
      return std::nullopt;
    }
    return *value;
  }

  static sluice::Result<uint64_t> Parse(ValueKind kind, std::string_view text) {
    switch (kind) {
      case ValueKind::kTimeout: {
        sluice::Result<uint32_t> ms = ParseTimeoutMs(text);
        if (!ms.ok()) return ms.status();
        return uint64_t{*ms};
      }
      case ValueKind::kSize:
        return ParseSizeBytes(text);
      case ValueKind::kBoolean: {
        sluice::Result<bool> flag = ParseBoolean(text);
        if (!flag.ok()) return flag.status();
        return uint64_t{*flag ? 1u : 0u};
      }
    }
    return Status::Error("unknown value kind");
  }

  void Problem(std::string_view name, std::string message) {
    problems_.push_back(AnnotationProblem{std::string(name), std::move(message)});
  }

  const json* annotations_;
  std::vector<AnnotationProblem> problems_;
};

}  // namespace

sluice::Result<uint32_t> ParseTimeoutMs(std::string_view text) {
  std::optional<NumberAndUnit> parsed = SplitNumber(text, kMaxTimeoutMs);
  if (!parsed) return Status::Error(kTimeoutSyntax);
  uint64_t unit_ms;
  if (parsed->unit.empty() || parsed->unit == "s") {
    unit_ms = 1000;  // nginx's and ingress-nginx's unit when none is written
  } else if (parsed->unit == "ms") {
    unit_ms = 1;
  } else if (parsed->unit == "m") {
    unit_ms = 60 * 1000;
  } else {
    return Status::Error(kTimeoutSyntax);
  }
  // Compared before multiplying, so no overflow whatever the number.
  if (parsed->number < 1 || parsed->number > kMaxTimeoutMs / unit_ms) {
    return Status::Error("must be from 1ms to 24 hours (1440m)");
  }
  return static_cast<uint32_t>(parsed->number * unit_ms);
}

sluice::Result<uint64_t> ParseSizeBytes(std::string_view text) {
  std::optional<NumberAndUnit> parsed = SplitNumber(text, kMaxSizeBytes);
  if (!parsed) return Status::Error(kSizeSyntax);
  uint64_t unit_bytes;
  if (parsed->unit.empty()) {
    unit_bytes = 1;
  } else if (parsed->unit == "k" || parsed->unit == "K") {
    unit_bytes = 1ull << 10;
  } else if (parsed->unit == "m" || parsed->unit == "M") {
    unit_bytes = 1ull << 20;
  } else if (parsed->unit == "g" || parsed->unit == "G") {
    unit_bytes = 1ull << 30;
  } else {
    return Status::Error(kSizeSyntax);
  }
  // Compared before multiplying: 2^40 of a unit of 2^30 would overflow.
  if (parsed->number > kMaxSizeBytes / unit_bytes) return Status::Error("must be at most 1 TiB (1024g)");
  return parsed->number * unit_bytes;
}

sluice::Result<bool> ParseBoolean(std::string_view text) {
  text = TrimSpaces(text);
  if (text == "true") return true;
  if (text == "false") return false;
  return Status::Error("expected \"true\" or \"false\"");
}

AnnotatedPolicy RoutePolicyFromAnnotations(const nlohmann::json* annotations) {
  AnnotatedPolicy out;
  if (annotations != nullptr && !annotations->is_null() && !annotations->is_object()) {
    out.problems.push_back(AnnotationProblem{
        "", std::string("metadata.annotations must be a map of strings (got ") + annotations->type_name() + ")"});
    return out;
  }
  Reader reader(annotations);
  v1::RoutePolicy& policy = out.policy;
  // Read in a fixed order, so problems come out in a fixed order.
  if (auto ms = reader.First(ValueKind::kTimeout, "sluice.io/proxy-connect-timeout",
                             "nginx.ingress.kubernetes.io/proxy-connect-timeout")) {
    policy.set_connect_timeout_ms(static_cast<uint32_t>(*ms));
  }
  if (auto ms = reader.First(ValueKind::kTimeout, "sluice.io/proxy-read-timeout",
                             "nginx.ingress.kubernetes.io/proxy-read-timeout")) {
    // nginx's proxy_read_timeout is the longest gap between two reads from
    // the upstream, the wait for the response headers included.
    policy.set_response_timeout_ms(static_cast<uint32_t>(*ms));
    policy.set_idle_timeout_ms(static_cast<uint32_t>(*ms));
  }
  if (auto ms = reader.First(ValueKind::kTimeout, "sluice.io/proxy-response-timeout")) {
    policy.set_response_timeout_ms(static_cast<uint32_t>(*ms));
  }
  // "0" (unlimited) stays 0, the proxy's default, which is unlimited.
  if (auto bytes = reader.First(ValueKind::kSize, "sluice.io/proxy-body-size",
                                "nginx.ingress.kubernetes.io/proxy-body-size")) {
    policy.set_max_request_body_bytes(*bytes);
  }
  if (auto ms = reader.First(ValueKind::kTimeout, "sluice.io/client-body-timeout",
                             "nginx.ingress.kubernetes.io/client-body-timeout")) {
    policy.set_client_body_timeout_ms(static_cast<uint32_t>(*ms));
  }
  if (auto keep = reader.First(ValueKind::kBoolean, "sluice.io/keep-server-header")) {
    policy.set_keep_server_header(*keep != 0);
  }
  out.problems = reader.TakeProblems();
  return out;
}

}  // namespace sluice::translate
