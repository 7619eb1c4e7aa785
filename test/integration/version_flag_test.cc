// --version on both binaries: program, version and the commit of the build
// (tests build without --stamp, so they must say the commit is unknown
// rather than print Bazel's placeholder).
#include <gtest/gtest.h>

#include "test/support/process.h"
#include "test/support/shell.h"

namespace sluice {
namespace {

TEST(VersionFlagTest, BothBinariesNameTheirVersionAndCommit) {
  EXPECT_EQ(testing::ShellOutput("timeout 10 " + testing::RunfilePath("controlplane/main/sluice-controller") +
                                 " --version"),
            "sluice-controller 0.1.0 (commit unknown: unstamped build)\n");
  EXPECT_EQ(testing::ShellOutput("timeout 10 " + testing::RunfilePath("dataplane/main/sluice-proxy") + " --version"),
            "sluice-proxy 0.1.0 (commit unknown: unstamped build)\n");
}

}  // namespace
}  // namespace sluice
