#include "controlplane/translate/annotation_lookup.h"

namespace sluice::translate {
namespace {
thread_local AnnotationLookupRecorder* active_recorder = nullptr;
}  // namespace

AnnotationLookupRecorder::AnnotationLookupRecorder() { active_recorder = this; }
AnnotationLookupRecorder::~AnnotationLookupRecorder() { active_recorder = nullptr; }

const nlohmann::json* LookUpAnnotation(const nlohmann::json* annotations, std::string_view name) {
  if (active_recorder != nullptr && active_recorder->names_.find(name) == active_recorder->names_.end()) {
    active_recorder->names_.emplace(name);
  }
  if (annotations == nullptr || !annotations->is_object()) return nullptr;
  auto it = annotations->find(name);
  return it == annotations->end() ? nullptr : &*it;
}

}  // namespace sluice::translate
