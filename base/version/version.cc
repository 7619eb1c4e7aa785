#include "base/version/version.h"

extern const char kSluiceBuildLabel[];  // version_linkstamp.cc

namespace sluice {

std::string BuildCommit() {
  const std::string label = kSluiceBuildLabel;
  // Unstamped builds carry Bazel's placeholder instead of a label.
  if (label == "redacted") return "";
  return label;
}

std::string VersionLine(std::string_view program, std::string_view version, std::string_view commit) {
  std::string line = std::string(program) + " " + std::string(version) + " (commit ";
  line += commit.empty() ? std::string("unknown: unstamped build") : std::string(commit);
  return line + ")";
}

}  // namespace sluice
