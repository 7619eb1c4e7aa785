#include "controlplane/migrate/report.h"

#include <algorithm>

#include "controlplane/translate/annotation_catalog.h"
#include "controlplane/translate/annotations.h"
#include "controlplane/translate/balancing_annotations.h"

namespace sluice::migrate {
namespace {

using nlohmann::json;
using translate::AnnotationProblem;

constexpr const char* kStatusOrder[] = {"supported", "different", "not-needed", "unsupported",
                                        "refused",   "unknown",   "invalid"};

bool Blocking(const std::string& status) {
  return status == "unsupported" || status == "refused" || status == "unknown" || status == "invalid";
}

bool UnderKnownPrefix(const std::string& name) {
  return name.rfind(translate::kNginxAnnotationPrefix, 0) == 0 || name.rfind(translate::kSluiceAnnotationPrefix, 0) == 0;
}

// The value problems the translator's parsers find, by annotation (the
// same functions the translator calls, so the report says what it would).
std::map<std::string, std::string> ValueProblems(const json& annotations, const std::string& ns) {
  std::vector<AnnotationProblem> all;
  auto add = [&](std::vector<AnnotationProblem> problems) {
    all.insert(all.end(), std::make_move_iterator(problems.begin()), std::make_move_iterator(problems.end()));
  };
  add(translate::RoutePolicyFromAnnotations(&annotations).problems);
  add(translate::BackendFromAnnotations(&annotations, ns).problems);
  add(translate::HealthFromAnnotations(&annotations).problems);
  add(translate::BalancingFromAnnotations(&annotations).problems);
  add(translate::CanaryFromAnnotations(&annotations).problems);
  std::map<std::string, std::string> by_name;
  for (AnnotationProblem& problem : all) by_name.emplace(problem.annotation, std::move(problem.message));
  return by_name;
}

AnnotationFinding Classify(const std::string& name, const std::map<std::string, std::string>& problems) {
  AnnotationFinding finding{name, "", "", ""};
  const translate::CatalogEntry* entry = translate::FindCatalogEntry(name);
  if (entry == nullptr) {
    finding.status = "unknown";
    std::optional<std::string_view> suggestion = translate::SuggestAnnotation(name);
    finding.detail = suggestion ? "no such annotation; did you mean " + std::string(*suggestion) + "?"
                                : "no such annotation: ignored";
    return finding;
  }
  finding.status = std::string(translate::SupportName(entry->support));
  finding.sluice_way = std::string(entry->sluice_way);
  finding.detail = std::string(entry->note);
  if (auto it = problems.find(name); it != problems.end()) {
    finding.status = "invalid";
    finding.sluice_way.clear();
    finding.detail = it->second + ": ignored";
  }
  return finding;
}

}  // namespace

bool Report::blocking() const {
  if (!errors.empty()) return true;
  for (const auto& [status, count] : counts) {
    if (count > 0 && Blocking(status)) return true;
  }
  return false;
}

Report BuildReport(const source::LoadResult& manifests) {
  Report report;
  report.errors = manifests.errors;
  for (const char* status : kStatusOrder) report.counts[status] = 0;
  for (const source::ManifestObject& object : manifests.objects) {
    if (object.object.value("kind", "") != "Ingress") continue;
    const json& metadata = object.object.at("metadata");
    IngressReport ingress{metadata.value("namespace", "default"), metadata.value("name", ""), object.origin, {}};
    auto annotations = metadata.find("annotations");
    if (annotations != metadata.end() && annotations->is_object()) {
      const std::map<std::string, std::string> problems = ValueProblems(*annotations, ingress.ns);
      for (auto it = annotations->begin(); it != annotations->end(); ++it) {
        if (!UnderKnownPrefix(it.key())) continue;  // kubectl's, other tools': not ours to judge
        ingress.findings.push_back(Classify(it.key(), problems));
        ++report.counts[ingress.findings.back().status];
      }
    }
    std::sort(ingress.findings.begin(), ingress.findings.end(),
              [](const AnnotationFinding& a, const AnnotationFinding& b) { return a.annotation < b.annotation; });
    report.ingresses.push_back(std::move(ingress));
  }
  return report;
}

std::string RenderText(const Report& report) {
  std::string out;
  for (const source::ManifestError& error : report.errors) out += "error: " + error.origin + ": " + error.message + "\n";
  for (const IngressReport& ingress : report.ingresses) {
    out += "Ingress " + ingress.ns + "/" + ingress.name + " (" + ingress.origin + ")\n";
    if (ingress.findings.empty()) out += "  no annotations\n";
    for (const AnnotationFinding& finding : ingress.findings) {
      std::string status = finding.status;
      status.resize(std::max<size_t>(status.size(), 12), ' ');
      out += "  " + status + finding.annotation;
      std::string said = finding.detail;
      if (!finding.sluice_way.empty() && finding.sluice_way != finding.annotation) {
        said = "Sluice: " + finding.sluice_way + (said.empty() ? "" : "; " + said);
      }
      if (!said.empty()) out += ": " + said;
      out += "\n";
    }
  }
  int total = 0;
  for (const auto& [status, count] : report.counts) total += count;
  out += "\n" + std::to_string(report.ingresses.size()) + " Ingresses, " + std::to_string(total) + " annotations:";
  for (const char* status : kStatusOrder) out += " " + std::to_string(report.counts.at(status)) + " " + status + ",";
  out.back() = '\n';
  if (!report.errors.empty()) out += std::to_string(report.errors.size()) + " manifest errors\n";
  out += report.blocking() ? "Not everything will behave as before: see the unsupported, refused, unknown and "
                             "invalid lines above.\n"
                           : "Everything above is supported.\n";
  return out;
}

json RenderJson(const Report& report) {
  json out = {{"ingresses", json::array()}, {"errors", json::array()}, {"summary", json::object()}};
  for (const source::ManifestError& error : report.errors) {
    out["errors"].push_back({{"origin", error.origin}, {"message", error.message}});
  }
  for (const IngressReport& ingress : report.ingresses) {
    json item = {{"namespace", ingress.ns}, {"name", ingress.name}, {"origin", ingress.origin},
                 {"annotations", json::array()}};
    for (const AnnotationFinding& finding : ingress.findings) {
      item["annotations"].push_back({{"name", finding.annotation},
                                     {"status", finding.status},
                                     {"sluice", finding.sluice_way},
                                     {"detail", finding.detail}});
    }
    out["ingresses"].push_back(std::move(item));
  }
  for (const auto& [status, count] : report.counts) out["summary"][status] = count;
  out["summary"]["ingresses"] = report.ingresses.size();
  out["summary"]["blocking"] = report.blocking();
  return out;
}

}  // namespace sluice::migrate
