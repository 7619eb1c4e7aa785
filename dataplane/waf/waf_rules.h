#pragma once
// The rules of the application firewall: Debian's OWASP Core Rule Set run by
// libmodsecurity3, set up per route from a v1::WafPolicy (paranoia level,
// anomaly thresholds, rule and tag exclusions, body limit) and the
// operator's extra rules file. Rule text never comes from a route: the
// directives a policy adds are generated here from validated numbers and
// tags.
//
// Compiling the CRS takes tens of milliseconds and megabytes, so the rules
// are compiled once per distinct configuration (the generated text is the
// key) on the thread that compiles snapshots, and shared read-only by every
// worker (ModSecurity's RulesSet is read-only once loaded; each request has
// its own Transaction).
#include <map>
#include <memory>
#include <string>

#include "base/status.h"
#include "sluice/v1/snapshot.pb.h"

namespace modsecurity {
class ModSecurity;
class RulesSet;
}  // namespace modsecurity

namespace sluice::waf {

// Where the rules come from (the proxy's flags).
struct RulesEnvironment {
  std::string crs_dir = "/usr/share/modsecurity-crs";  // its rules/*.conf are included
  std::string extra_rules_file;                        // --waf-extra-rules; empty: none
};

constexpr uint64_t kDefaultRequestBodyLimit = 128 * 1024;
uint64_t RequestBodyLimit(const v1::WafPolicy& policy);

// The ModSecurity configuration text of `policy`: engine settings, the CRS
// setup (paranoia level, thresholds), the CRS, the extra rules, then the
// exclusions. Deterministic: equal policies give equal text.
std::string RulesText(const v1::WafPolicy& policy, const RulesEnvironment& environment);

// The process's ModSecurity engine (created on first use, never freed:
// transactions of every worker point to it).
modsecurity::ModSecurity* Engine();

// A compiled configuration.
class CompiledRules {
 public:
  ~CompiledRules();
  // Null and the parser's error when `text` does not compile.
  static Result<std::shared_ptr<const CompiledRules>> Compile(const std::string& text);
  // Non-const because ModSecurity's Transaction takes a non-const pointer;
  // transactions only read it.
  modsecurity::RulesSet* rules() const { return rules_.get(); }

 private:
  std::unique_ptr<modsecurity::RulesSet> rules_;
};

// CompiledRules by configuration text. Used by one thread (the one that
// compiles snapshots); the rules it hands out are shared by any thread.
// A configuration no route uses any more is freed with its last route.
class RulesCache {
 public:
  explicit RulesCache(RulesEnvironment environment) : environment_(std::move(environment)) {}
  Result<std::shared_ptr<const CompiledRules>> Get(const v1::WafPolicy& policy);
  const RulesEnvironment& environment() const { return environment_; }
  size_t compilations() const { return compilations_; }

 private:
  RulesEnvironment environment_;
  std::map<std::string, std::weak_ptr<const CompiledRules>> by_text_;
  size_t compilations_ = 0;
};

}  // namespace sluice::waf
