#pragma once
// The version line both binaries print for --version and log on start.
#include <string>
#include <string_view>

namespace sluice {

// What `bazel build --stamp --embed_label=COMMIT` embedded, or "" when the
// build was not stamped.
std::string BuildCommit();

// "sluice-proxy 0.1.0 (commit 1a2b3c...)", or "... (commit unknown:
// unstamped build)" when `commit` is empty.
std::string VersionLine(std::string_view program, std::string_view version, std::string_view commit = BuildCommit());

}  // namespace sluice
