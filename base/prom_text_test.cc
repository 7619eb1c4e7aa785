#include "base/prom_text.h"

#include <gtest/gtest.h>

namespace sluice::prom {
namespace {

TEST(PromText, HistogramIsCumulativeWithCountAndSum) {
  Histogram h({0.1, 1});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(0.5);
  h.Observe(3);
  std::string out;
  h.Append(out, "x_seconds", "X.");
  EXPECT_NE(out.find("# TYPE x_seconds histogram\n"), std::string::npos);
  EXPECT_NE(out.find("x_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{le=\"1\"} 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{le=\"+Inf\"} 4\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_count 4\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_sum 4.05\n"), std::string::npos) << out;
  EXPECT_EQ(h.count(), 4u);
}

TEST(PromText, LabelledSamplesAndEscaping) {
  std::string out;
  Sample(out, "a_total", "k=\"" + Escape("x\"y\\z\n") + "\"", 12345678901234);
  EXPECT_EQ(out, "a_total{k=\"x\\\"y\\\\z\\n\"} 12345678901234\n");
}

}  // namespace
}  // namespace sluice::prom
