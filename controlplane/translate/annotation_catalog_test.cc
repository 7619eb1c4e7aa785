#include "controlplane/translate/annotation_catalog.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "controlplane/store/store.h"
#include "controlplane/translate/annotation_lookup.h"
#include "controlplane/translate/test_manifests.h"
#include "controlplane/translate/translate.h"

namespace sluice::translate {
namespace {

using nlohmann::json;

bool ReadByTranslator(const CatalogEntry& entry) {
  return entry.support == Support::kSupported || entry.support == Support::kDifferent;
}

TEST(AnnotationCatalogTest, SortedUniqueAndUnderAKnownPrefix) {
  std::string_view previous;
  for (const CatalogEntry& entry : AnnotationCatalog()) {
    EXPECT_LT(previous, entry.name) << "the catalog must stay sorted (FindCatalogEntry searches it)";
    previous = entry.name;
    const bool nginx = entry.name.substr(0, kNginxAnnotationPrefix.size()) == kNginxAnnotationPrefix;
    const bool ours = entry.name.substr(0, kSluiceAnnotationPrefix.size()) == kSluiceAnnotationPrefix;
    EXPECT_TRUE(nginx || ours) << entry.name;
    EXPECT_EQ(FindCatalogEntry(entry.name), &entry);
    if (ours) EXPECT_EQ(entry.support, Support::kSupported) << entry.name;
    if (!entry.sluice_way.empty() && entry.sluice_way.substr(0, kSluiceAnnotationPrefix.size()) == kSluiceAnnotationPrefix) {
      EXPECT_NE(FindCatalogEntry(entry.sluice_way), nullptr) << entry.name << " names an unknown " << entry.sluice_way;
    }
    if (entry.support != Support::kSupported) EXPECT_FALSE(entry.note.empty()) << entry.name << " must say why";
  }
  EXPECT_EQ(FindCatalogEntry("nginx.ingress.kubernetes.io/no-such-thing"), nullptr);
}

// An Ingress carrying every catalog annotation (values the translator
// accepts where it matters for which branches run: cookie affinity and a
// canary read their dependent annotations only when on).
// With `only_nginx`, Sluice's own are left out: where both are set, some
// readers stop at the sluice.io/ one.
json EveryAnnotation(bool only_nginx = false) {
  json annotations = json::object();
  for (const CatalogEntry& entry : AnnotationCatalog()) {
    if (only_nginx && entry.name.substr(0, kSluiceAnnotationPrefix.size()) == kSluiceAnnotationPrefix) continue;
    annotations[std::string(entry.name)] = "x";
  }
  // CORS reads its other annotations only when on.
  annotations["nginx.ingress.kubernetes.io/enable-cors"] = "true";
  if (only_nginx) {
    annotations["nginx.ingress.kubernetes.io/affinity"] = "cookie";
    annotations["nginx.ingress.kubernetes.io/canary"] = "true";
    return annotations;
  }
  for (const char* name : {"sluice.io/affinity", "nginx.ingress.kubernetes.io/affinity"}) annotations[name] = "cookie";
  for (const char* name : {"sluice.io/canary", "nginx.ingress.kubernetes.io/canary"}) annotations[name] = "true";
  annotations["sluice.io/enable-cors"] = "true";
  return annotations;
}

Result TranslateWith(const json& annotations, bool canary) {
  store::Store store;
  store.Upsert(SluiceIngressClass(), "test");
  store.Upsert({{"apiVersion", "v1"},
                {"kind", "Service"},
                {"metadata", {{"name", "app"}, {"namespace", "default"}}},
                {"spec", {{"ports", {{{"name", "http"}, {"port", 80}}}}}}},
               "test");
  auto ingress = [&](const std::string& name, const json& object_annotations) {
    json object = json::parse(R"({
      "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
      "metadata": {"namespace": "default"},
      "spec": {"ingressClassName": "sluice", "rules": [{"host": "a.example", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "app", "port": {"number": 80}}}}]}}]}})");
    object["metadata"]["name"] = name;
    object["metadata"]["annotations"] = object_annotations;
    return object;
  };
  json main_annotations = annotations;
  if (canary) {
    main_annotations.erase("sluice.io/canary");
    main_annotations.erase("nginx.ingress.kubernetes.io/canary");
    store.Upsert(ingress("main", main_annotations), "test");
    store.Upsert(ingress("canary", annotations), "test");
  } else {
    store.Upsert(ingress("main", annotations), "test");
  }
  return Translate(store, Options{});
}

// The catalog and the translator cannot drift: every name the translator
// reads is in the catalog as supported (or supported with a difference), and
// every such catalog entry is read.
TEST(AnnotationCatalogTest, SupportedEntriesAreExactlyWhatTheTranslatorReads) {
  AnnotationLookupRecorder recorder;
  TranslateWith(EveryAnnotation(), /*canary=*/true);
  TranslateWith(EveryAnnotation(), /*canary=*/false);
  TranslateWith(EveryAnnotation(/*only_nginx=*/true), /*canary=*/true);
  TranslateWith(EveryAnnotation(/*only_nginx=*/true), /*canary=*/false);
  std::set<std::string, std::less<>> expected;
  for (const CatalogEntry& entry : AnnotationCatalog()) {
    if (ReadByTranslator(entry)) expected.emplace(entry.name);
  }
  for (const std::string& name : recorder.names()) {
    const CatalogEntry* entry = FindCatalogEntry(name);
    ASSERT_NE(entry, nullptr) << "the translator reads " << name << ", which the catalog does not list";
    EXPECT_TRUE(ReadByTranslator(*entry)) << "the translator reads " << name << ", listed as "
                                          << SupportName(entry->support);
  }
  for (const std::string& name : expected) {
    EXPECT_TRUE(recorder.names().count(name)) << "the catalog says " << name << " is supported; the translator never reads it";
  }
}

TEST(AnnotationCatalogTest, SnippetsAreRefusedWithAReason) {
  json annotations = {{"nginx.ingress.kubernetes.io/configuration-snippet", "more_set_headers \"X: y\";"},
                      {"nginx.ingress.kubernetes.io/server-snippet", "location /x { return 200; }"},
                      {"nginx.ingress.kubernetes.io/proxy-body-size", "8m"}};
  std::vector<AnnotationProblem> problems = RefusedAnnotationProblems(&annotations);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0].annotation, "nginx.ingress.kubernetes.io/configuration-snippet");
  EXPECT_NE(problems[0].message.find("never"), std::string::npos) << problems[0].message;
  EXPECT_NE(problems[0].message.find("the rest of the Ingress applies"), std::string::npos);
  for (const char* name : {"auth-snippet", "modsecurity-snippet", "stream-snippet"}) {
    const CatalogEntry* entry = FindCatalogEntry(std::string(kNginxAnnotationPrefix) + name);
    ASSERT_NE(entry, nullptr) << name;
    EXPECT_EQ(entry->support, Support::kRefused) << name;
  }
}

// The translator says so (an Event's reason and message) and applies the
// rest: the route exists, with the valid annotation's policy.
TEST(AnnotationCatalogTest, TranslatorRefusesSnippetsLoudlyAndAppliesTheRest) {
  json annotations = {{"nginx.ingress.kubernetes.io/configuration-snippet", "return 200;"},
                      {"nginx.ingress.kubernetes.io/proxy-body-size", "8m"}};
  Result result = TranslateWith(annotations, /*canary=*/false);
  int refused = 0;
  for (const Diagnostic& diagnostic : result.diagnostics) {
    if (diagnostic.reason != "RefusedAnnotation") continue;
    ++refused;
    EXPECT_EQ(diagnostic.name, "main");
    EXPECT_NE(diagnostic.message.find("configuration-snippet: refused, never applied"), std::string::npos) << diagnostic.message;
  }
  EXPECT_EQ(refused, 1);
  bool routed = false;
  for (const auto& host : result.snapshot.virtual_hosts()) {
    for (const auto& route : host.routes()) {
      routed = true;
      EXPECT_EQ(route.policy().max_request_body_bytes(), 8u << 20);
    }
  }
  EXPECT_TRUE(routed);
}

TEST(AnnotationCatalogTest, TyposGetTheClosestName) {
  EXPECT_EQ(SuggestAnnotation("nginx.ingress.kubernetes.io/proxy-body-szie"),
            std::optional<std::string_view>("nginx.ingress.kubernetes.io/proxy-body-size"));
  EXPECT_EQ(SuggestAnnotation("nginx.ingress.kubernetes.io/rewrite-targt"),
            std::optional<std::string_view>("nginx.ingress.kubernetes.io/rewrite-target"));
  EXPECT_EQ(SuggestAnnotation("sluice.io/compresion"), std::optional<std::string_view>("sluice.io/compression"));
  EXPECT_EQ(SuggestAnnotation("nginx.ingress.kubernetes.io/completely-different"), std::nullopt);
  EXPECT_EQ(SuggestAnnotation("example.com/proxy-body-size"), std::nullopt);
}

// README.md's table of ingress-nginx annotations is the catalog's, byte for
// byte, between its markers (regenerate: sluice-controller --annotation-table).
TEST(AnnotationCatalogTest, ReadmeTableMatchesTheCatalog) {
  std::ifstream file("README.md");
  ASSERT_TRUE(file) << "README.md is a data dependency of this test";
  std::stringstream text;
  text << file.rdbuf();
  const std::string readme = text.str();
  const std::string begin = "<!-- annotation-table:begin (generated: sluice-controller --annotation-table) -->\n";
  const std::string end = "<!-- annotation-table:end -->";
  size_t from = readme.find(begin);
  size_t to = readme.find(end);
  ASSERT_NE(from, std::string::npos) << "README.md lacks the marker " << begin;
  ASSERT_NE(to, std::string::npos);
  EXPECT_EQ(readme.substr(from + begin.size(), to - from - begin.size()), MarkdownAnnotationTable())
      << "README.md's annotation table is out of date: regenerate it with sluice-controller --annotation-table";
}

}  // namespace
}  // namespace sluice::translate
