#pragma once
// Test-only: run a shell command line and collect what it prints.
#include <string>

namespace sluice::testing {

// Runs `command` with /bin/sh and returns its standard output. Nothing bounds
// it here: callers that may hang write the bound into the command line
// (e.g. "timeout 10 openssl ..."), and add "2>&1" when they want stderr too.
std::string ShellOutput(const std::string& command);

}  // namespace sluice::testing
