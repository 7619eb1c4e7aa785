#pragma once
// Every annotation the translator reads is looked up here. In production this
// is json::find; a test (or `sluice-controller --check`) can install an
// AnnotationLookupRecorder to learn which names the translator consults, and
// so check the annotation catalog (annotation_catalog.h) against the code
// that really reads them: the catalog cannot claim support the translator
// does not have, and the translator cannot read a name the catalog lacks.
#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace sluice::translate {

// The annotation `name` of `annotations` (an Ingress's metadata.annotations
// object), or nullptr when it is not set. Recorded when a recorder is active
// on this thread, set or not.
const nlohmann::json* LookUpAnnotation(const nlohmann::json* annotations, std::string_view name);

// Collects the names looked up on this thread while it lives. Not nestable.
class AnnotationLookupRecorder {
 public:
  AnnotationLookupRecorder();
  ~AnnotationLookupRecorder();
  AnnotationLookupRecorder(const AnnotationLookupRecorder&) = delete;
  AnnotationLookupRecorder& operator=(const AnnotationLookupRecorder&) = delete;

  const std::set<std::string, std::less<>>& names() const { return names_; }

 private:
  friend const nlohmann::json* LookUpAnnotation(const nlohmann::json*, std::string_view);
  std::set<std::string, std::less<>> names_;
};

}  // namespace sluice::translate
