#include "base/version/version.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

TEST(VersionTest, NamesTheCommitOrSaysTheBuildWasNotStamped) {
  EXPECT_EQ(VersionLine("sluice-proxy", "0.1.0", "375c27c429e3d26ab1ca0d1b669eed3d31244453"),
            "sluice-proxy 0.1.0 (commit 375c27c429e3d26ab1ca0d1b669eed3d31244453)");
  EXPECT_EQ(VersionLine("sluice-controller", "0.1.0", ""),
            "sluice-controller 0.1.0 (commit unknown: unstamped build)");
}

TEST(VersionTest, TestBuildsAreNotStamped) {
  // Tests are built without --stamp (so that they stay cacheable): Bazel's
  // placeholder must not pass for a commit.
  EXPECT_EQ(BuildCommit(), "");
}

}  // namespace
}  // namespace sluice
