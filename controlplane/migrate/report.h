#pragma once
// The migration report: what Sluice will do with each annotation of a set of
// Ingress manifests written for ingress-nginx (or for Sluice), before anyone
// switches. Pure: manifests in, report out; `sluice-controller --check`
// prints it. Driven by the annotation catalog the translator itself is
// checked against (controlplane/translate/annotation_catalog.h), and values
// are checked by the translator's own annotation parsers.
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controlplane/source/manifest_source.h"

namespace sluice::migrate {

struct AnnotationFinding {
  std::string annotation;
  // "supported", "different", "not-needed", "unsupported", "refused",
  // "unknown" (not an annotation Sluice or ingress-nginx has: a typo?),
  // "invalid" (known, but this value would be ignored)
  std::string status;
  std::string sluice_way;  // the Sluice annotation that does the same, if any
  std::string detail;      // the difference, the reason, the suggestion or the value's problem
};

struct IngressReport {
  std::string ns, name, origin;
  std::vector<AnnotationFinding> findings;  // sorted by annotation
};

struct Report {
  std::vector<IngressReport> ingresses;  // in manifest order
  std::vector<source::ManifestError> errors;
  std::map<std::string, int> counts;  // status -> annotations
  // Something will not behave as it did: an unsupported, refused, unknown
  // or invalid annotation, or a manifest that did not load.
  bool blocking() const;
};

Report BuildReport(const source::LoadResult& manifests);

std::string RenderText(const Report& report);
nlohmann::json RenderJson(const Report& report);

}  // namespace sluice::migrate
