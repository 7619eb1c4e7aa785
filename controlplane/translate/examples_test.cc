// The demo's manifests (deploy/examples) are the first thing users see: they
// must load without errors, translate without diagnostics, and route as their
// comments say.
#include <gtest/gtest.h>

#include "controlplane/source/manifest_source.h"
#include "controlplane/store/store.h"
#include "controlplane/translate/route_match.h"
#include "controlplane/translate/translate.h"

namespace sluice::translate {
namespace {

std::string Route(const v1::Snapshot& snapshot, const std::string& host, const std::string& path) {
  const v1::Route* route = MatchRoute(snapshot, host, path);
  return route == nullptr ? "" : route->cluster();
}

TEST(ExamplesTest, DemoManifestsTranslateCleanlyAndRouteAsDocumented) {
  source::LoadResult loaded = source::LoadManifests("deploy/examples");
  for (const source::ManifestError& error : loaded.errors) ADD_FAILURE() << error.origin << ": " << error.message;
  ASSERT_EQ(loaded.objects.size(), 8u);
  EXPECT_EQ(loaded.objects[0].origin, "deploy/examples/demo.yaml (document 1)");

  store::Store store;
  std::vector<store::StoredObject> objects;
  for (source::ManifestObject& object : loaded.objects) {
    objects.push_back({std::move(object.object), std::move(object.origin)});
  }
  store.ReplaceAll(std::move(objects));
  EXPECT_EQ(store.size(), 7u);  // everything but the Namespace

  Result result = Translate(store, {});
  for (const Diagnostic& d : result.diagnostics) ADD_FAILURE() << d.origin << ": " << d.message;
  const v1::Snapshot& snapshot = result.snapshot;
  EXPECT_EQ(Route(snapshot, "demo.local", "/"), "demo/app:http");
  EXPECT_EQ(Route(snapshot, "demo.local", "/app/x"), "demo/app:http");
  EXPECT_EQ(Route(snapshot, "demo.local", "/application"), "");
  EXPECT_EQ(Route(snapshot, "demo.local", "/api"), "demo/api:80");
  EXPECT_EQ(Route(snapshot, "demo.local", "/other"), "");
  EXPECT_EQ(Route(snapshot, "a.demo.local", "/anything"), "demo/api:80");
  EXPECT_EQ(Route(snapshot, "a.b.demo.local", "/"), "");

  ASSERT_EQ(snapshot.clusters_size(), 2);
  EXPECT_EQ(snapshot.clusters(0).name(), "demo/api:80");
  ASSERT_EQ(snapshot.clusters(0).endpoints_size(), 1);
  EXPECT_EQ(snapshot.clusters(0).endpoints(0).address(), "127.0.0.1");
  EXPECT_EQ(snapshot.clusters(0).endpoints(0).port(), 9002u);
  EXPECT_EQ(snapshot.clusters(1).name(), "demo/app:http");
  ASSERT_EQ(snapshot.clusters(1).endpoints_size(), 1);
  EXPECT_EQ(snapshot.clusters(1).endpoints(0).port(), 9001u);
}

}  // namespace
}  // namespace sluice::translate
