#include "controlplane/migrate/report.h"

#include <gtest/gtest.h>

namespace sluice::migrate {
namespace {

const AnnotationFinding* Find(const Report& report, const std::string& ingress, const std::string& annotation) {
  for (const IngressReport& item : report.ingresses) {
    if (item.name != ingress) continue;
    for (const AnnotationFinding& finding : item.findings) {
      if (finding.annotation == annotation) return &finding;
    }
  }
  return nullptr;
}

std::string StatusOf(const Report& report, const std::string& ingress, const std::string& name) {
  const AnnotationFinding* finding = Find(report, ingress, "nginx.ingress.kubernetes.io/" + name);
  return finding == nullptr ? "absent" : finding->status;
}

// The folder of manifests as ingress-nginx users write them (test/migration).
TEST(MigrationReportTest, RealisticIngressNginxManifests) {
  source::LoadResult loaded = source::LoadManifests("test/migration/ingress-nginx");
  ASSERT_TRUE(loaded.errors.empty()) << loaded.errors[0].message;
  Report report = BuildReport(loaded);
  ASSERT_EQ(report.ingresses.size(), 5u);
  EXPECT_EQ(StatusOf(report, "shop", "proxy-body-size"), "supported");
  EXPECT_EQ(StatusOf(report, "shop", "configuration-snippet"), "refused");
  EXPECT_EQ(StatusOf(report, "shop-api", "proxy-buffering"), "not-needed");
  EXPECT_EQ(StatusOf(report, "shop-api", "proxy-next-upstream"), "different");
  EXPECT_EQ(StatusOf(report, "grpc", "backend-protocol"), "different");
  EXPECT_EQ(StatusOf(report, "grpc", "server-snippet"), "refused");
  EXPECT_EQ(StatusOf(report, "web-canary", "canary-weight"), "supported");
  // A typo gets the closest real name.
  const AnnotationFinding* typo = Find(report, "shop-api", "nginx.ingress.kubernetes.io/proxy-body-szie");
  ASSERT_NE(typo, nullptr);
  EXPECT_EQ(typo->status, "unknown");
  EXPECT_NE(typo->detail.find("did you mean nginx.ingress.kubernetes.io/proxy-body-size"), std::string::npos);
  // A supported annotation with a value the translator would ignore.
  const AnnotationFinding* invalid = Find(report, "admin", "nginx.ingress.kubernetes.io/proxy-connect-timeout");
  ASSERT_NE(invalid, nullptr);
  EXPECT_EQ(invalid->status, "invalid");
  EXPECT_NE(invalid->detail.find("fast"), std::string::npos) << invalid->detail;
  // Annotations of other tools are not judged.
  EXPECT_EQ(Find(report, "shop", "kubernetes.io/ingress.class"), nullptr);
  EXPECT_TRUE(report.blocking());
  EXPECT_EQ(report.counts.at("refused"), 2);
  EXPECT_EQ(report.counts.at("unknown"), 1);

  std::string text = RenderText(report);
  EXPECT_NE(text.find("Ingress shop/shop (test/migration/ingress-nginx/shop.yaml (document 1))"), std::string::npos)
      << text;
  EXPECT_NE(text.find("5 Ingresses"), std::string::npos) << text;
  nlohmann::json json = RenderJson(report);
  EXPECT_EQ(json["summary"]["ingresses"], 5);
  EXPECT_EQ(json["summary"]["blocking"], true);
  EXPECT_EQ(json["ingresses"].size(), 5u);
}

TEST(MigrationReportTest, AllSupportedIsNotBlocking) {
  source::LoadResult loaded = source::ParseManifests(R"(
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: plain
  annotations:
    nginx.ingress.kubernetes.io/proxy-body-size: 8m
    sluice.io/compression: "on"
    meta.helm.sh/release-name: web
spec:
  defaultBackend:
    service: {name: web, port: {number: 80}}
)", "inline.yaml", false);
  Report report = BuildReport(loaded);
  ASSERT_EQ(report.ingresses.size(), 1u);
  EXPECT_EQ(report.ingresses[0].findings.size(), 2u);
  EXPECT_FALSE(report.blocking()) << RenderText(report);
  EXPECT_NE(RenderText(report).find("Everything above is supported."), std::string::npos);
}

TEST(MigrationReportTest, ManifestErrorsAreReportedAndBlock) {
  source::LoadResult loaded = source::ParseManifests("kind: [unclosed", "broken.yaml", false);
  Report report = BuildReport(loaded);
  EXPECT_TRUE(report.blocking());
  EXPECT_NE(RenderText(report).find("error: broken.yaml"), std::string::npos) << RenderText(report);
}

}  // namespace
}  // namespace sluice::migrate
