#pragma once
// Test-only: what a test reads off a running process from the outside, as
// an operator would: one sample of a Prometheus text page, promtool's
// verdict on one, and the resident set from /proc.
#include <sys/types.h>

#include <string>

namespace sluice::testing {

// The value of the sample line `series` ("name" or "name{labels}") in the
// Prometheus text `text`, or -1 when there is no such line.
double MetricSample(const std::string& text, const std::string& series);

// Where Debian's prometheus package installs promtool (tests check their
// metrics pages with it where it is installed).
inline constexpr const char* kPromtool = "/usr/bin/promtool";
bool PromtoolInstalled();

// `promtool check metrics` on `text`, written to the file `path` first (kept
// for a failure's post-mortem): "" when it passes, else what promtool said.
std::string PromtoolVerdict(const std::string& text, const std::string& path);

// VmRSS of `pid` in KiB (0 when unreadable, e.g. the process is gone).
long RssKib(pid_t pid);

}  // namespace sluice::testing
