#include "dataplane/waf/waf_rules.h"

#include <modsecurity/modsecurity.h>
#include <modsecurity/rules_set.h>

#include <algorithm>
#include <exception>
#include <set>

#include "base/waf_rule_tag.h"

namespace sluice::waf {

uint64_t RequestBodyLimit(const v1::WafPolicy& policy) {
  return policy.request_body_limit() != 0 ? policy.request_body_limit() : kDefaultRequestBodyLimit;
}

std::string RulesText(const v1::WafPolicy& policy, const RulesEnvironment& environment) {
  uint32_t paranoia = std::clamp<uint32_t>(policy.paranoia_level() == 0 ? 1 : policy.paranoia_level(), 1, 4);
  uint32_t inbound = policy.inbound_anomaly_threshold() == 0 ? 5 : policy.inbound_anomaly_threshold();
  uint32_t outbound = policy.outbound_anomaly_threshold() == 0 ? 4 : policy.outbound_anomaly_threshold();
  uint64_t body_limit = RequestBodyLimit(policy);
  std::string text;
  // The engine (ModSecurity's recommended settings, as modsecurity.conf-
  // recommended, minus its own audit log: the proxy writes one line per
  // intervention itself).
  text += policy.mode() == v1::WafPolicy::BLOCK ? "SecRuleEngine On\n" : "SecRuleEngine DetectionOnly\n";
  text += "SecRequestBodyAccess On\n";
  // The stage feeds at most the limit; ProcessPartial keeps ModSecurity from
  // refusing on its own (the stage decides: 413, or pass the rest).
  text += "SecRequestBodyLimit " + std::to_string(body_limit) + "\n";
  text += "SecRequestBodyLimitAction ProcessPartial\n";
  text += std::string("SecResponseBodyAccess ") + (policy.inspect_response_body() ? "On" : "Off") + "\n";
  text += "SecResponseBodyMimeType text/plain text/html text/xml application/json\n";
  text += "SecResponseBodyLimit 524288\nSecResponseBodyLimitAction ProcessPartial\n";
  text += "SecAuditEngine Off\nSecDebugLogLevel 0\nSecArgumentSeparator &\nSecCookieFormat 0\n";
  text += "SecPcreMatchLimit 100000\nSecPcreMatchLimitRecursion 100000\n";
  // Body processors by Content-Type (modsecurity.conf-recommended 200000,
  // 200001): ModSecurity picks URLENCODED and MULTIPART itself, XML and
  // JSON only when told.
  text +=
      "SecRule REQUEST_HEADERS:Content-Type \"^(?:application(?:/soap\\+|/)|text/)xml\" "
      "\"id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML\"\n";
  text +=
      "SecRule REQUEST_HEADERS:Content-Type \"^application/(?:[a-z0-9.+-]+\\+)?json\" "
      "\"id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON\"\n";
  // A body the processor cannot parse is not inspected: refuse it (200002),
  // as ModSecurity recommends, else a malformed body is a bypass.
  text +=
      "SecRule REQBODY_ERROR \"!@eq 0\" "
      "\"id:200002,phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body.',"
      "logdata:'%{reqbody_error_msg}',severity:2\"\n";
  text +=
      "SecRule MULTIPART_STRICT_ERROR \"!@eq 0\" "
      "\"id:200003,phase:2,t:none,log,deny,status:400,msg:'Multipart request body failed strict validation'\"\n";
  // The CRS setup (crs-setup.conf's required parts), from the policy's numbers.
  text += "SecDefaultAction \"phase:1,log,auditlog,pass\"\n";
  text += "SecDefaultAction \"phase:2,log,auditlog,pass\"\n";
  text += "SecAction \"id:900000,phase:1,nolog,pass,t:none,setvar:tx.paranoia_level=" + std::to_string(paranoia) +
          "\"\n";
  text += "SecAction \"id:900110,phase:1,nolog,pass,t:none,setvar:tx.inbound_anomaly_score_threshold=" +
          std::to_string(inbound) + ",setvar:tx.outbound_anomaly_score_threshold=" + std::to_string(outbound) +
          "\"\n";
  // An API gateway's traffic: the CRS's default allows only GET HEAD POST
  // OPTIONS, which makes every REST PUT, PATCH and DELETE an anomaly.
  text += "SecAction \"id:900200,phase:1,nolog,pass,t:none,setvar:'tx.allowed_methods=GET HEAD POST OPTIONS PUT "
          "PATCH DELETE'\"\n";
  text += "SecAction \"id:900990,phase:1,nolog,pass,t:none,setvar:tx.crs_setup_version=334\"\n";
  text += "Include " + environment.crs_dir + "/rules/*.conf\n";
  if (!environment.extra_rules_file.empty()) text += "Include " + environment.extra_rules_file + "\n";
  // Exclusions last: SecRuleRemove* acts on rules already defined.
  std::set<uint32_t> ids(policy.exclude_rule_ids().begin(), policy.exclude_rule_ids().end());
  for (uint32_t id : ids) text += "SecRuleRemoveById " + std::to_string(id) + "\n";
  std::set<std::string> tags;
  for (const std::string& tag : policy.exclude_tags()) {
    if (IsValidWafRuleTag(tag)) tags.insert(tag);  // the translator checked them too
  }
  for (const std::string& tag : tags) text += "SecRuleRemoveByTag \"" + tag + "\"\n";
  return text;
}

modsecurity::ModSecurity* Engine() {
  static modsecurity::ModSecurity* engine = [] {
    auto* created = new modsecurity::ModSecurity();
    created->setConnectorInformation("sluice");
    // The stages read the rule messages from the transaction and write
    // their own audit line; without a callback ModSecurity prints every
    // match on stdout, and with the text property it formats each one.
    created->setServerLogCb([](void*, const void*) {}, modsecurity::RuleMessageLogProperty);
    return created;
  }();
  return engine;
}

CompiledRules::~CompiledRules() = default;

Result<std::shared_ptr<const CompiledRules>> CompiledRules::Compile(const std::string& text) {
  Engine();
  auto compiled = std::shared_ptr<CompiledRules>(new CompiledRules());
  try {
    compiled->rules_ = std::make_unique<modsecurity::RulesSet>();
    if (compiled->rules_->load(text.c_str()) < 0) {
      std::string error = compiled->rules_->getParserError();
      while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
      return Status::Error("ModSecurity rules do not compile: " + error);
    }
  } catch (const std::exception& e) {  // libmodsecurity is C++: nothing crosses into the proxy
    return Status::Error(std::string("ModSecurity rules do not compile: ") + e.what());
  }
  return std::shared_ptr<const CompiledRules>(std::move(compiled));
}

Result<std::shared_ptr<const CompiledRules>> RulesCache::Get(const v1::WafPolicy& policy) {
  std::string text = RulesText(policy, environment_);
  if (auto found = by_text_.find(text); found != by_text_.end()) {
    if (auto rules = found->second.lock()) return rules;
  }
  std::erase_if(by_text_, [](const auto& entry) { return entry.second.expired(); });
  auto compiled = CompiledRules::Compile(text);
  ++compilations_;
  if (!compiled.ok()) return compiled.status();
  by_text_[std::move(text)] = *compiled;
  return compiled;
}

}  // namespace sluice::waf
