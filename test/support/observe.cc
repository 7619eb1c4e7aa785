#include "test/support/observe.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "test/support/shell.h"

namespace sluice::testing {

double MetricSample(const std::string& text, const std::string& series) {
  // At the start of a line, followed by the value's separating space.
  const std::string needle = series + " ";
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    if (at == 0 || text[at - 1] == '\n') return std::strtod(text.c_str() + at + needle.size(), nullptr);
  }
  return -1;
}

bool PromtoolInstalled() { return access(kPromtool, X_OK) == 0; }

std::string PromtoolVerdict(const std::string& text, const std::string& path) {
  std::ofstream(path) << text;
  const std::string output =
      ShellOutput("timeout 30 " + std::string(kPromtool) + " check metrics < " + path + " 2>&1; echo \"exit=$?\"");
  return output.ends_with("exit=0\n") ? "" : output;
}

long RssKib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

}  // namespace sluice::testing
