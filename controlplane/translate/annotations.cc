#include "controlplane/translate/annotations.h"
#include "controlplane/translate/ratelimit_annotations.h"

#include "controlplane/translate/annotation_lookup.h"

#include <nlohmann/json.hpp>

#include "base/ip_prefix.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "base/waf_rule_tag.h"

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

enum class ValueKind { kTimeout, kSize, kBoolean, kSeconds, kOnOff, kCount, kPercent };

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

  // A string-valued annotation, trimmed; not a string is a problem.
  std::optional<std::string> Text(std::string_view name) {
    const json* it = LookUpAnnotation(annotations_, name);
    if (it == nullptr) return std::nullopt;
    if (!it->is_string()) {
      Problem(name, std::string(name) + ": must be a string, write the value in quotes (got " + it->type_name() +
                        " " + Shown(*it) + ")");
      return std::nullopt;
    }
    return std::string(TrimSpaces(it->get<std::string>()));
  }
  void Invalid(std::string_view name, const std::string& value, std::string_view expected) {
    Problem(name, std::string(name) + " " + Shown(json(value)) + ": " + std::string(expected));
  }

 private:
  std::optional<uint64_t> Read(ValueKind kind, std::string_view name) {
    const json* it = LookUpAnnotation(annotations_, name);
    if (it == nullptr) return std::nullopt;
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
      case ValueKind::kSeconds: {  // a plain count, as HSTS max-age
        std::optional<NumberAndUnit> parsed = SplitNumber(text, 0xffffffffull);
        if (!parsed || !parsed->unit.empty()) return Status::Error("expected a whole number of seconds like 31536000");
        if (parsed->number > 0xffffffffull) return Status::Error("must be at most 4294967295");
        return parsed->number;
      }
      case ValueKind::kCount: {  // thresholds, retries: a plain whole number
        std::optional<NumberAndUnit> parsed = SplitNumber(text, 1000000);
        if (!parsed || !parsed->unit.empty()) return Status::Error("expected a whole number like 3");
        if (parsed->number > 1000000) return Status::Error("must be at most 1000000");
        return parsed->number;
      }
      case ValueKind::kPercent: {
        std::optional<NumberAndUnit> parsed = SplitNumber(text, 100);
        if (!parsed || !(parsed->unit.empty() || parsed->unit == "%")) return Status::Error("expected a percentage like 50");
        if (parsed->number > 100) return Status::Error("must be from 0 to 100");
        return parsed->number;
      }
      case ValueKind::kOnOff: {  // ingress-nginx's proxy-ssl-verify
        std::string_view trimmed = TrimSpaces(text);
        if (trimmed == "on" || trimmed == "true") return uint64_t{1};
        if (trimmed == "off" || trimmed == "false") return uint64_t{0};
        return Status::Error("expected \"on\" or \"off\"");
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

// ---- Retries, health checks, outlier detection. ----

std::vector<std::string_view> SplitList(std::string_view text, std::string_view separators) {
  std::vector<std::string_view> items;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find_first_of(separators, start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = TrimSpaces(text.substr(start, end - start));
    if (!item.empty()) items.push_back(item);
    start = end + 1;
  }
  return items;
}

constexpr char kRetryOnSyntax[] =
    "expected a comma-separated list of connect-failure, reset, timeout, 502, 503, 504, or \"off\"";
constexpr char kNextUpstreamSyntax[] =
    "expected space-separated error, timeout, invalid_header, http_502, http_503, http_504, non_idempotent, or off";

// One word of a retry-condition list and what it turns on. A word with no
// conditions and no `disables` is accepted and ignored.
struct RetryWord {
  std::string_view word;
  std::vector<v1::RetryPolicy::Condition> conditions;
  bool disables = false;
};

const std::vector<RetryWord>& SluiceRetryWords() {
  static const std::vector<RetryWord> words = {
      {"off", {}, true},
      {"none", {}, true},
      {"connect-failure", {v1::RetryPolicy::CONNECT_FAILURE}},
      {"reset", {v1::RetryPolicy::RESET}},
      {"timeout", {v1::RetryPolicy::TIMEOUT}},
      {"502", {v1::RetryPolicy::STATUS_502}},
      {"503", {v1::RetryPolicy::STATUS_503}},
      {"504", {v1::RetryPolicy::STATUS_504}},
  };
  return words;
}

const std::vector<RetryWord>& NginxNextUpstreamWords() {
  static const std::vector<RetryWord> words = {
      {"off", {}, true},
      // nginx: connecting, sending or reading the header failed.
      {"error", {v1::RetryPolicy::CONNECT_FAILURE, v1::RetryPolicy::RESET}},
      {"timeout", {v1::RetryPolicy::TIMEOUT}},
      {"invalid_header", {v1::RetryPolicy::RESET}},
      {"http_502", {v1::RetryPolicy::STATUS_502}},
      {"http_503", {v1::RetryPolicy::STATUS_503}},
      {"http_504", {v1::RetryPolicy::STATUS_504}},
      // Valid for nginx, not done by sluice (never retries a non-idempotent
      // request the upstream may have acted on); the rest applies.
      {"non_idempotent", {}},
      {"http_500", {}},
      {"http_403", {}},
      {"http_404", {}},
      {"http_429", {}},
  };
  return words;
}

// Parses a list of retry words; nullopt when the list is empty or has an
// unknown word. Repeated conditions ("error invalid_header") count once.
std::optional<v1::RetryPolicy> ParseRetryWords(std::string_view text, std::string_view separators,
                                               const std::vector<RetryWord>& words) {
  if (text.empty()) return std::nullopt;
  v1::RetryPolicy parsed;
  for (std::string_view item : SplitList(text, separators)) {
    auto word = std::find_if(words.begin(), words.end(), [&](const RetryWord& w) { return w.word == item; });
    if (word == words.end()) return std::nullopt;
    if (word->disables) parsed.set_disabled(true);
    for (v1::RetryPolicy::Condition condition : word->conditions) {
      if (std::find(parsed.retry_on().begin(), parsed.retry_on().end(), condition) == parsed.retry_on().end()) {
        parsed.add_retry_on(condition);
      }
    }
  }
  return parsed;
}

// RoutePolicy.retry. sluice.io/retry-on wins over proxy-next-upstream.
void ReadRetryAnnotations(Reader& reader, v1::RoutePolicy& policy) {
  v1::RetryPolicy retry;
  bool conditions_set = false;
  if (std::optional<std::string> text = reader.Text("sluice.io/retry-on")) {
    if (std::optional<v1::RetryPolicy> parsed = ParseRetryWords(*text, ",", SluiceRetryWords())) {
      retry = *parsed;
      conditions_set = true;
    } else {
      reader.Invalid("sluice.io/retry-on", *text, kRetryOnSyntax);
    }
  }
  if (std::optional<std::string> text = reader.Text("nginx.ingress.kubernetes.io/proxy-next-upstream");
      text && !conditions_set) {
    if (std::optional<v1::RetryPolicy> parsed = ParseRetryWords(*text, " \t", NginxNextUpstreamWords())) {
      // Only non-sluice words: nothing to retry on.
      if (!parsed->disabled() && parsed->retry_on_size() == 0) parsed->set_disabled(true);
      retry = *parsed;
    } else {
      reader.Invalid("nginx.ingress.kubernetes.io/proxy-next-upstream", *text, kNextUpstreamSyntax);
    }
  }
  if (auto retries = reader.First(ValueKind::kCount, "sluice.io/retries")) {
    retry.set_retries(static_cast<uint32_t>(std::min<uint64_t>(*retries, 10)));
  } else if (auto tries = reader.First(ValueKind::kCount, "nginx.ingress.kubernetes.io/proxy-next-upstream-tries")) {
    // nginx counts the first try too, and 0 means no limit (sluice caps at 10).
    retry.set_retries(*tries == 0 ? 10 : static_cast<uint32_t>(std::min<uint64_t>(*tries - 1, 10)));
  }
  if (auto ms = reader.First(ValueKind::kTimeout, "sluice.io/per-try-timeout")) {
    retry.set_per_try_timeout_ms(static_cast<uint32_t>(*ms));
  }
  if (auto ms = reader.First(ValueKind::kTimeout, "sluice.io/retry-timeout",
                             "nginx.ingress.kubernetes.io/proxy-next-upstream-timeout")) {
    retry.set_total_timeout_ms(static_cast<uint32_t>(*ms));
  }
  if (auto percent = reader.First(ValueKind::kPercent, "sluice.io/retry-budget-percent")) {
    retry.set_budget_percent(static_cast<uint32_t>(*percent));
  }
  if (auto floor = reader.First(ValueKind::kCount, "sluice.io/retry-budget-min-per-second")) {
    retry.set_budget_min_per_second(static_cast<uint32_t>(*floor));
  }
  if (retry.ByteSizeLong() != 0) *policy.mutable_retry() = retry;
}

// ---- Response cache (RoutePolicy.cache). ----

bool IsToken(std::string_view text);

std::string AsciiCase(std::string_view text, bool upper) {
  std::string out(text);
  for (char& c : out) {
    if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
    if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return out;
}
std::string ToLower(std::string_view text) { return AsciiCase(text, false); }
std::string ToUpper(std::string_view text) { return AsciiCase(text, true); }

// "header:NAME" (name lower-cased) or "cookie:NAME" -> the list it goes
// to; false when `part` is neither.
bool AddHeaderOrCookie(std::string_view part, google::protobuf::RepeatedPtrField<std::string>* headers,
                       google::protobuf::RepeatedPtrField<std::string>* cookies) {
  if (part.size() <= 7 || !IsToken(part.substr(7))) return false;
  if (part.starts_with("header:")) {
    headers->Add(ToLower(part.substr(7)));
  } else if (part.starts_with("cookie:")) {
    cookies->Add(std::string(part.substr(7)));
  } else {
    return false;
  }
  return true;
}

void ReadCacheAnnotations(Reader& reader, v1::RoutePolicy& policy) {
  // Off unless the Ingress turns it on: caching changes what clients see.
  if (auto on = reader.First(ValueKind::kOnOff, "sluice.io/cache"); on && *on != 0) {
    policy.mutable_cache()->set_enabled(true);
  }
  v1::CachePolicy options;
  if (auto ms = reader.First(ValueKind::kTimeout, "sluice.io/cache-default-ttl")) {
    options.set_default_ttl_seconds(static_cast<uint32_t>(std::max<uint64_t>(*ms / 1000, 1)));
  }
  if (auto on = reader.First(ValueKind::kOnOff, "sluice.io/cache-store-set-cookie"); on && *on != 0) {
    options.set_store_set_cookie(true);
  }
  if (std::optional<std::string> text = reader.Text("sluice.io/cache-key")) {
    v1::CacheKey key;
    key.set_omit_scheme(true);
    key.set_omit_host(true);
    key.set_query(v1::CacheKey::QUERY_IGNORED);
    std::string bad;
    for (std::string_view part : SplitList(*text, ", \t")) {
      if (part == "scheme") {
        key.set_omit_scheme(false);
      } else if (part == "host") {
        key.set_omit_host(false);
      } else if (part == "path") {
        // always part of the key
      } else if (part == "query") {
        key.set_query(v1::CacheKey::QUERY_AS_SENT);
      } else if (part == "query-sorted") {
        key.set_query(v1::CacheKey::QUERY_SORTED);
      } else if (!AddHeaderOrCookie(part, key.mutable_headers(), key.mutable_cookies()) && bad.empty()) {
        bad = std::string(part);
      }
    }
    if (!bad.empty()) {
      reader.Invalid("sluice.io/cache-key", *text,
                     "unknown part \"" + bad +
                         "\"; expected scheme, host, path, query or query-sorted, header:NAME and cookie:NAME, "
                         "separated by spaces or commas");
    } else {
      *options.mutable_key() = key;
    }
  }
  if (std::optional<std::string> text = reader.Text("sluice.io/cache-bypass")) {
    v1::CachePolicy bypass;
    std::string bad;
    for (std::string_view part : SplitList(*text, ", \t")) {
      if (!AddHeaderOrCookie(part, bypass.mutable_bypass_headers(), bypass.mutable_bypass_cookies()) && bad.empty()) {
        bad = std::string(part);
      }
    }
    if (!bad.empty()) {
      reader.Invalid("sluice.io/cache-bypass", *text,
                     "unknown condition \"" + bad + "\"; expected header:NAME and cookie:NAME, separated by spaces or commas");
    } else {
      options.MergeFrom(bypass);
    }
  }
  if (std::optional<std::string> text = reader.Text("sluice.io/cache-methods")) {
    v1::CachePolicy methods;
    bool ok = true;
    for (std::string_view part : SplitList(*text, ", \t")) {
      std::string method = ToUpper(part);
      ok = ok && (method == "GET" || method == "HEAD");
      if (ok) methods.add_methods(method);
    }
    if (!ok || methods.methods().empty()) {
      reader.Invalid("sluice.io/cache-methods", *text, "expected GET, HEAD or both (only they are cached)");
    } else {
      options.MergeFrom(methods);
    }
  }
  if (policy.has_cache()) policy.mutable_cache()->MergeFrom(options);
}

// ---- Compression (RoutePolicy.compression). ----

constexpr char kTypesSyntax[] =
    "expected media types separated by commas or spaces, like text/html, application/json, text/* or +json";

bool IsToken(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// "type/subtype", "type/*" or a structured syntax suffix "+json".
bool IsMediaTypeEntry(std::string_view entry) {
  if (entry.size() > 1 && entry.front() == '+') return IsToken(entry.substr(1));
  size_t slash = entry.find('/');
  if (slash == std::string_view::npos) return false;
  std::string_view type = entry.substr(0, slash), subtype = entry.substr(slash + 1);
  return IsToken(type) && type != "*" && IsToken(subtype) && subtype.find('/') == std::string_view::npos;
}

void ReadCompressionAnnotations(Reader& reader, v1::RoutePolicy& policy) {
  v1::CompressionPolicy compression;
  // Off unless the Ingress turns it on (README: why).
  if (auto on = reader.First(ValueKind::kOnOff, "sluice.io/compression")) compression.set_enabled(*on != 0);
  if (std::optional<std::string> text = reader.Text("sluice.io/compression-types")) {
    std::vector<std::string_view> items = SplitList(*text, ", \t");
    bool valid = !items.empty();
    for (std::string_view item : items) valid = valid && IsMediaTypeEntry(item);
    if (valid) {
      for (std::string_view item : items) {
        std::string lower(item);
        for (char& c : lower) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
        compression.add_types(lower);
      }
    } else {
      reader.Invalid("sluice.io/compression-types", *text, kTypesSyntax);
    }
  }
  if (std::optional<std::string> text = reader.Text("sluice.io/compression-codings")) {
    std::vector<std::string_view> items = SplitList(*text, ", \t");
    std::vector<std::string> codings;
    bool valid = !items.empty();
    for (std::string_view item : items) {
      std::string lower(item);
      for (char& c : lower) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
      if ((lower != "zstd" && lower != "br" && lower != "gzip") ||
          std::find(codings.begin(), codings.end(), lower) != codings.end()) {
        valid = false;
        break;
      }
      codings.push_back(lower);
    }
    if (valid) {
      for (const std::string& coding : codings) compression.add_codings(coding);
    } else {
      reader.Invalid("sluice.io/compression-codings", *text,
                     "expected zstd, br and gzip (each at most once) in the order preferred, like \"br, gzip\"");
    }
  }
  if (auto bytes = reader.First(ValueKind::kSize, "sluice.io/compression-min-length")) {
    if (*bytes > 0xffffffffull) {
      reader.Invalid("sluice.io/compression-min-length", std::to_string(*bytes), "must be at most 4g");
    } else {
      // 0 in the policy is the default (1 KiB); "0" here means any length.
      compression.set_min_length(*bytes == 0 ? 1 : static_cast<uint32_t>(*bytes));
    }
  }
  struct Level {
    const char* name;
    uint64_t low, high;
    void (v1::CompressionPolicy::*set)(uint32_t);
  };
  const Level levels[] = {
      {"sluice.io/compression-level-gzip", 1, 9, &v1::CompressionPolicy::set_gzip_level},
      {"sluice.io/compression-level-brotli", 1, 11, &v1::CompressionPolicy::set_brotli_level},
      {"sluice.io/compression-level-zstd", 1, 19, &v1::CompressionPolicy::set_zstd_level},
  };
  for (const Level& level : levels) {
    if (auto n = reader.First(ValueKind::kCount, level.name)) {
      if (*n < level.low || *n > level.high) {
        reader.Invalid(level.name, std::to_string(*n),
                       "must be from " + std::to_string(level.low) + " to " + std::to_string(level.high));
      } else {
        (compression.*level.set)(static_cast<uint32_t>(*n));
      }
    }
  }
  if (compression.ByteSizeLong() != 0) *policy.mutable_compression() = compression;
}

// ---- Access control: source address allow/deny lists. ----

// The sluice.io/ name wins over the ingress-nginx one when both are set.
// Unlike other annotations, an invalid list is not "as if unset": that
// would open an allow-listed Ingress to everyone, so it refuses every
// client instead (deny_all), and the problem says so.
void ReadAccessControlAnnotations(Reader& reader, v1::RoutePolicy& policy) {
  v1::AccessControlPolicy access;
  struct List {
    std::string_view preferred, nginx;
    void (v1::AccessControlPolicy::*add)(const std::string&);
  };
  const List lists[] = {
      {"sluice.io/allow-source-range", "nginx.ingress.kubernetes.io/whitelist-source-range",
       &v1::AccessControlPolicy::add_allow},
      {"sluice.io/deny-source-range", "nginx.ingress.kubernetes.io/denylist-source-range",
       &v1::AccessControlPolicy::add_deny},
  };
  for (const List& list : lists) {
    std::optional<std::string> preferred = reader.Text(list.preferred);
    std::optional<std::string> nginx = reader.Text(list.nginx);
    std::string_view name = preferred ? list.preferred : list.nginx;
    const std::optional<std::string>& text = preferred ? preferred : nginx;
    if (!text) continue;
    std::string bad;
    std::optional<std::vector<IpPrefix>> prefixes = ParsePrefixList(*text, &bad);
    if (!prefixes) {
      reader.Invalid(name, *text,
                     "\"" + bad + "\" is not a CIDR like 10.0.0.0/8 or 2001:db8::/32; every client is refused "
                     "until it is fixed");
      access.set_deny_all(true);
      continue;
    }
    for (const IpPrefix& prefix : *prefixes) (access.*list.add)(prefix.ToString());
  }
  if (access.ByteSizeLong() != 0) *policy.mutable_access_control() = access;
}

// ---- Application firewall (RoutePolicy.waf). ----

constexpr char kNginxModSecurity[] = "nginx.ingress.kubernetes.io/enable-modsecurity";
constexpr char kNginxCoreRules[] = "nginx.ingress.kubernetes.io/enable-owasp-core-rules";
constexpr char kNginxTransactionId[] = "nginx.ingress.kubernetes.io/modsecurity-transaction-id";
constexpr uint64_t kMaxWafBodyLimit = 64ull << 20;  // held in memory per request: keep it bounded

// An HTTP field name (RFC 9110 token), lower-cased.
std::optional<std::string> FieldName(std::string_view text) {
  if (!IsToken(text) || text.size() > 64) return std::nullopt;
  std::string lower(text);
  for (char& c : lower) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  return lower;
}

void ReadWafAnnotations(Reader& reader, const json* annotations, v1::RoutePolicy& policy) {
  v1::WafPolicy waf;
  bool mode_set = false;
  if (std::optional<std::string> text = reader.Text("sluice.io/waf")) {
    if (*text == "off") {
      waf.set_mode(v1::WafPolicy::OFF);
      mode_set = true;
    } else if (*text == "detect") {
      waf.set_mode(v1::WafPolicy::DETECT);
      mode_set = true;
    } else if (*text == "block") {
      waf.set_mode(v1::WafPolicy::BLOCK);
      mode_set = true;
    } else {
      reader.Invalid("sluice.io/waf", *text, "expected off, detect or block");
    }
  }
  // ingress-nginx: enable-modsecurity alone runs its recommended
  // configuration, SecRuleEngine DetectionOnly: detect here too (blocking
  // there needed a snippet, refused below: sluice.io/waf: block instead).
  if (auto on = reader.First(ValueKind::kBoolean, kNginxModSecurity); on && !mode_set) {
    waf.set_mode(*on != 0 ? v1::WafPolicy::DETECT : v1::WafPolicy::OFF);
  }
  // The CRS is what the firewall runs: "true" is what sluice does anyway.
  if (auto crs = reader.First(ValueKind::kBoolean, kNginxCoreRules); crs && *crs == 0 && waf.mode() != v1::WafPolicy::OFF) {
    reader.Invalid(kNginxCoreRules, "false",
                   "sluice's firewall always runs the OWASP Core Rule Set; turn it off with sluice.io/waf: off");
  }
  // Never rule text from an Ingress: a namespace user's snippet is the
  // injection class behind ingress-nginx's worst CVEs.
  // modsecurity-snippet is refused with the other snippets (annotation_catalog:
  // RefusedAnnotationProblems, reported by the translator): nothing of it is read.
  if (auto n = reader.First(ValueKind::kCount, "sluice.io/waf-paranoia")) {
    if (*n < 1 || *n > 4) {
      reader.Invalid("sluice.io/waf-paranoia", std::to_string(*n), "must be from 1 to 4");
    } else {
      waf.set_paranoia_level(static_cast<uint32_t>(*n));
    }
  }
  const std::pair<const char*, void (v1::WafPolicy::*)(uint32_t)> thresholds[] = {
      {"sluice.io/waf-inbound-anomaly-threshold", &v1::WafPolicy::set_inbound_anomaly_threshold},
      {"sluice.io/waf-outbound-anomaly-threshold", &v1::WafPolicy::set_outbound_anomaly_threshold},
  };
  for (const auto& [name, set] : thresholds) {
    if (auto n = reader.First(ValueKind::kCount, name)) {
      if (*n < 1 || *n > 10000) {
        reader.Invalid(name, std::to_string(*n), "must be from 1 to 10000");
      } else {
        (waf.*set)(static_cast<uint32_t>(*n));
      }
    }
  }
  if (std::optional<std::string> text = reader.Text("sluice.io/waf-exclude-rules")) {
    v1::WafPolicy exclusions;
    std::vector<std::string_view> items = SplitList(*text, ", \t");
    bool valid = !items.empty();
    for (std::string_view item : items) {
      std::optional<NumberAndUnit> id = SplitNumber(item, 99999999);
      if (id && id->unit.empty() && id->number >= 1 && id->number <= 99999999) {
        exclusions.add_exclude_rule_ids(static_cast<uint32_t>(id->number));
      } else if (IsValidWafRuleTag(item)) {
        exclusions.add_exclude_tags(std::string(item));
      } else {
        valid = false;
        break;
      }
    }
    if (valid) {
      waf.mutable_exclude_rule_ids()->MergeFrom(exclusions.exclude_rule_ids());
      waf.mutable_exclude_tags()->MergeFrom(exclusions.exclude_tags());
    } else {
      reader.Invalid("sluice.io/waf-exclude-rules", *text,
                     "expected rule IDs and tags separated by commas or spaces, like \"942100, 941160, "
                     "attack-sqli\" (tags: letters, digits, _ . / -)");
    }
  }
  if (auto bytes = reader.First(ValueKind::kSize, "sluice.io/waf-body-limit")) {
    if (*bytes == 0 || *bytes > kMaxWafBodyLimit) {
      reader.Invalid("sluice.io/waf-body-limit", std::to_string(*bytes), "must be from 1 to 64m");
    } else {
      waf.set_request_body_limit(*bytes);
    }
  }
  if (std::optional<std::string> text = reader.Text("sluice.io/waf-body-over-limit")) {
    if (*text == "reject" || *text == "pass") {
      waf.set_pass_over_body_limit(*text == "pass");
    } else {
      reader.Invalid("sluice.io/waf-body-over-limit", *text, "expected reject (413, the default) or pass");
    }
  }
  if (auto on = reader.First(ValueKind::kBoolean, "sluice.io/waf-response-body")) waf.set_inspect_response_body(*on != 0);
  // ingress-nginx's value is an nginx variable: $request_id (a unique ID per
  // request, what sluice generates anyway) or $http_NAME (a request header).
  const char* id_name = "sluice.io/waf-transaction-id-header";
  std::optional<std::string> id_text = reader.Text(id_name);
  if (!id_text) {
    id_name = kNginxTransactionId;
    id_text = reader.Text(id_name);
    if (id_text && *id_text == "$request_id") id_text = std::nullopt;
    else if (id_text && id_text->starts_with("$http_")) {
      std::string header = id_text->substr(6);
      std::replace(header.begin(), header.end(), '_', '-');
      *id_text = header;
    } else if (id_text) {
      reader.Invalid(id_name, *id_text, "accepted: $request_id (a generated ID) or $http_NAME (a request header)");
      id_text = std::nullopt;
    }
  }
  if (id_text) {
    if (std::optional<std::string> field = FieldName(*id_text)) {
      waf.set_transaction_id_header(*field);
    } else {
      reader.Invalid(id_name, *id_text, "expected a request header name like X-Request-ID");
    }
  }
  if (waf.mode() != v1::WafPolicy::OFF) *policy.mutable_waf() = waf;
}

constexpr char kStatusRangesSyntax[] = "expected statuses or ranges like 200-399 or 200,204";

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
  if (auto redirect = reader.First(ValueKind::kBoolean, "sluice.io/ssl-redirect",
                                   "nginx.ingress.kubernetes.io/ssl-redirect")) {
    out.ssl_redirect = *redirect != 0;
  }
  if (auto passthrough = reader.First(ValueKind::kBoolean, "sluice.io/ssl-passthrough",
                                      "nginx.ingress.kubernetes.io/ssl-passthrough")) {
    out.ssl_passthrough = *passthrough != 0;
  }
  if (auto max_age = reader.First(ValueKind::kSeconds, "sluice.io/hsts-max-age")) {
    policy.mutable_hsts()->set_max_age_seconds(static_cast<uint32_t>(*max_age));
  }
  if (auto sub = reader.First(ValueKind::kBoolean, "sluice.io/hsts-include-subdomains")) {
    policy.mutable_hsts()->set_include_subdomains(*sub != 0);
  }
  if (auto preload = reader.First(ValueKind::kBoolean, "sluice.io/hsts-preload")) {
    policy.mutable_hsts()->set_preload(*preload != 0);
  }
  if (policy.has_hsts() && policy.hsts().ByteSizeLong() == 0) policy.clear_hsts();
  ReadRetryAnnotations(reader, policy);
  ReadCompressionAnnotations(reader, policy);
  ReadCacheAnnotations(reader, policy);
  ReadAccessControlAnnotations(reader, policy);
  ReadWafAnnotations(reader, annotations, policy);
  out.problems = reader.TakeProblems();
  ReadRateLimitAnnotations(annotations, policy, out.problems);
  return out;
}

AnnotatedBackend BackendFromAnnotations(const nlohmann::json* annotations, const std::string& ingress_namespace) {
  AnnotatedBackend out;
  if (annotations == nullptr || !annotations->is_object()) return out;
  auto text = [&](std::string_view preferred, std::string_view fallback, std::string* value) -> std::string_view {
    for (std::string_view name : {preferred, fallback}) {
      if (name.empty()) continue;
      const json* it = LookUpAnnotation(annotations, name);
      if (it == nullptr) continue;
      if (!it->is_string()) {
        out.problems.push_back({std::string(name), std::string(name) + ": must be a string, write the value in quotes (got " +
                                                       it->type_name() + " " + Shown(*it) + ")"});
        continue;
      }
      *value = std::string(TrimSpaces(it->get<std::string>()));
      return name;
    }
    return {};
  };
  std::string protocol;
  if (std::string_view name = text("sluice.io/backend-protocol", "nginx.ingress.kubernetes.io/backend-protocol", &protocol);
      !name.empty()) {
    std::string lower = protocol;
    for (char& c : lower) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    if (lower == "http") {
    } else if (lower == "https") {
      out.tls = true;
    } else if (lower == "h2c" || lower == "grpc") {
      out.protocol = v1::Cluster::H2C;
    } else if (lower == "h2" || lower == "grpcs") {
      out.protocol = v1::Cluster::H2;
      out.tls = true;
    } else {
      out.problems.push_back({std::string(name), std::string(name) + " " + Shown(protocol) +
                                                     ": expected http, https, h2c, h2, grpc or grpcs"});
    }
  }
  std::string secret;
  if (std::string_view name = text("sluice.io/backend-tls-ca-secret", "nginx.ingress.kubernetes.io/proxy-ssl-secret", &secret);
      !name.empty() && !secret.empty()) {
    size_t slash = secret.find('/');
    if (slash == std::string::npos) {
      out.ca_secret_namespace = ingress_namespace;
      out.ca_secret_name = secret;
    } else if (slash == 0 || slash + 1 == secret.size() || secret.find('/', slash + 1) != std::string::npos) {
      out.problems.push_back({std::string(name), std::string(name) + " " + Shown(secret) +
                                                     ": expected a Secret name or namespace/name"});
    } else {
      out.ca_secret_namespace = secret.substr(0, slash);
      out.ca_secret_name = secret.substr(slash + 1);
    }
  }
  out.verify = !out.ca_secret_name.empty();
  Reader reader(annotations);
  if (auto verify = reader.First(ValueKind::kBoolean, "sluice.io/backend-tls-verify")) {
    out.verify = *verify != 0;
  } else if (auto nginx_verify = reader.First(ValueKind::kOnOff, "nginx.ingress.kubernetes.io/proxy-ssl-verify")) {
    out.verify = *nginx_verify != 0;
  }
  for (AnnotationProblem& problem : reader.TakeProblems()) out.problems.push_back(std::move(problem));
  text("sluice.io/backend-tls-server-name", "nginx.ingress.kubernetes.io/proxy-ssl-name", &out.server_name);
  return out;
}

AnnotatedHealth HealthFromAnnotations(const nlohmann::json* annotations) {
  AnnotatedHealth out;
  if (annotations == nullptr || !annotations->is_object()) return out;
  Reader reader(annotations);
  v1::HealthCheck& check = out.health_check;
  if (std::optional<std::string> path = reader.Text("sluice.io/health-check-path")) {
    if (!path->empty() && path->front() == '/' && path->find_first_of(" \t\r\n") == std::string::npos) {
      check.set_path(*path);
    } else {
      reader.Invalid("sluice.io/health-check-path", *path, "expected a path starting with /");
    }
  }
  if (auto ms = reader.First(ValueKind::kTimeout, "sluice.io/health-check-interval")) {
    check.set_interval_ms(static_cast<uint32_t>(*ms));
  }
  if (auto ms = reader.First(ValueKind::kTimeout, "sluice.io/health-check-timeout")) {
    check.set_timeout_ms(static_cast<uint32_t>(*ms));
  }
  if (auto n = reader.First(ValueKind::kCount, "sluice.io/health-check-healthy-threshold")) {
    check.set_healthy_threshold(static_cast<uint32_t>(std::clamp<uint64_t>(*n, 1, 100)));
  }
  if (auto n = reader.First(ValueKind::kCount, "sluice.io/health-check-unhealthy-threshold")) {
    check.set_unhealthy_threshold(static_cast<uint32_t>(std::clamp<uint64_t>(*n, 1, 100)));
  }
  if (std::optional<std::string> text = reader.Text("sluice.io/health-check-expected-status")) {
    v1::HealthCheck ranges;
    bool valid = !text->empty();
    for (std::string_view item : SplitList(*text, ",")) {
      size_t dash = item.find('-');
      std::string_view low = TrimSpaces(item.substr(0, dash));
      std::string_view high = dash == std::string_view::npos ? low : TrimSpaces(item.substr(dash + 1));
      auto a = SplitNumber(low, 999), b = SplitNumber(high, 999);
      if (!a || !b || !a->unit.empty() || !b->unit.empty() || a->number < 100 || b->number > 599 ||
          a->number > b->number) {
        valid = false;
        break;
      }
      v1::StatusRange* range = ranges.add_expected_statuses();
      range->set_start(static_cast<uint32_t>(a->number));
      range->set_end(static_cast<uint32_t>(b->number));
    }
    if (valid) {
      *check.mutable_expected_statuses() = ranges.expected_statuses();
    } else {
      reader.Invalid("sluice.io/health-check-expected-status", *text, kStatusRangesSyntax);
    }
  }
  if (std::optional<std::string> host = reader.Text("sluice.io/health-check-host")) check.set_host(*host);
  // Settings without a path check nothing: keep them out of the snapshot.
  if (check.path().empty()) check.Clear();

  v1::OutlierDetection& outlier = out.outlier_detection;
  if (auto on = reader.First(ValueKind::kBoolean, "sluice.io/outlier-detection")) outlier.set_disabled(*on == 0);
  if (auto n = reader.First(ValueKind::kCount, "sluice.io/outlier-consecutive-failures")) {
    outlier.set_consecutive_failures(static_cast<uint32_t>(std::max<uint64_t>(*n, 1)));
  }
  if (auto ms = reader.First(ValueKind::kTimeout, "sluice.io/outlier-base-ejection-time")) {
    outlier.set_base_ejection_time_ms(static_cast<uint32_t>(*ms));
  }
  if (auto ms = reader.First(ValueKind::kTimeout, "sluice.io/outlier-max-ejection-time")) {
    outlier.set_max_ejection_time_ms(static_cast<uint32_t>(*ms));
  }
  if (auto percent = reader.First(ValueKind::kPercent, "sluice.io/outlier-max-ejection-percent")) {
    outlier.set_max_ejection_percent(static_cast<uint32_t>(*percent));
  }
  if (auto percent = reader.First(ValueKind::kPercent, "sluice.io/panic-threshold-percent")) {
    outlier.set_panic_threshold_percent(static_cast<uint32_t>(*percent));
  }
  out.set = check.ByteSizeLong() != 0 || outlier.ByteSizeLong() != 0;
  out.problems = reader.TakeProblems();
  return out;
}

}  // namespace sluice::translate
