#include "controlplane/metrics/controller_metrics.h"

#include <gtest/gtest.h>

namespace sluice::controlplane {
namespace {

TEST(ControllerMetrics, CountsByKindAndRendersFamilies) {
  ControllerMetrics& m = ControllerMetrics::Get();
  m.ResetForTest();
  m.List("Ingress", false);
  m.List("Ingress", true);
  m.WatchEvent("Ingress", "ADDED");
  m.WatchEvent("Ingress", "ADDED");
  m.WatchEvent("Service", "DELETED");
  m.Translated("full", 0.02);
  m.Answered(true, 0.004);
  m.Answered(false, 0.5);
  m.EventWritten(true);
  std::string text = m.Text();
  EXPECT_NE(text.find("sluice_controller_watch_events_total{kind=\"Ingress\",type=\"ADDED\"} 2\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("sluice_controller_watch_events_total{kind=\"Service\",type=\"DELETED\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("sluice_controller_lists_total{kind=\"Ingress\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("sluice_controller_relists_total{kind=\"Ingress\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("sluice_controller_translate_duration_seconds_count{kind=\"full\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("sluice_controller_push_duration_seconds_count 2\n"), std::string::npos);
  EXPECT_NE(text.find("sluice_controller_push_answers_total{result=\"nack\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("sluice_controller_events_written_total{result=\"ok\"} 1\n"), std::string::npos);
}

}  // namespace
}  // namespace sluice::controlplane
