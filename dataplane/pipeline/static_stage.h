#pragma once
// Static content (StageOrder::kStaticContent), in the chain of routes whose
// policy names a site (RoutePolicy.static_site: an Ingress backend.resource
// to a StaticSite or a labelled ConfigMap). It answers every request of its
// route itself (nothing goes upstream): GET and HEAD (others 405 with
// Allow), the file's media type (mime_types.h), a strong ETag and (for
// files on disk) Last-Modified, the conditional fields (If-Match,
// If-None-Match, If-Modified-Since -> 304/412; If-Range), Range (one range:
// 206 with Content-Range; several: 206 multipart/byteranges; none
// satisfiable: 416 with "Content-Range: bytes */N"), the index file for
// directories ("/dir" is redirected to "/dir/"; never a listing), an SPA
// fallback file instead of 404, Cache-Control (hashed asset names get the
// immutable one), precompressed ".zst"/".br"/".gz" siblings for clients
// that accept them (negotiated as the compression stage does, with Vary),
// and dotfiles hidden (404) unless the site shows them.
//
// Paths are normalised (static_path.h: 400 for anything that could climb
// out) and opened beneath the site's root (static_site.h: openat2
// RESOLVE_BENEATH). The reply is a local reply streaming from a
// BodySource (FileBodySource or MemoryBodySource), so later stages skip
// it as they skip every local reply (compression never recompresses it).
#include <memory>
#include <string>
#include <vector>

#include "dataplane/pipeline/stage.h"
#include "dataplane/pipeline/static_path.h"
#include "dataplane/pipeline/static_site.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::pipeline {

class StaticStage final : public Stage {
 public:
  struct Options {
    std::string index_file = "index.html";
    std::string spa_fallback;  // relative; empty: none
    std::string cache_control;
    std::string immutable_cache_control = "public, max-age=31536000, immutable";
    bool hashed_assets = false;
    bool precompressed = false;
    bool show_dotfiles = false;
    std::string strip_prefix;  // "/docs"; empty or "/": none
    static Options From(const v1::StaticSitePolicy& policy);
  };
  StaticStage(std::shared_ptr<const StaticFiles> files, Options options);
  // The site a policy names: its directory (opened now, once) or its files.
  static std::unique_ptr<StaticStage> FromPolicy(const v1::StaticSitePolicy& policy);
  // The stages of a policy, in order: for a directory site StaticOpenStage
  // (below) then this one; for a ConfigMap site this one only.
  static void AddStages(const v1::StaticSitePolicy& policy, std::vector<std::unique_ptr<const Stage>>& stages);

  std::string_view name() const override { return "static"; }
  StageOrder order() const override { return StageOrder::kStaticContent; }
  uint32_t hooks() const override { return kRequestHead | kComplete; }
  Verdict OnRequestHead(ExchangeState& state) const override;
  // The route's static counters (state.route_series): the response's kind
  // and the bytes sent.
  void OnComplete(const ExchangeState& state) const override;

 private:
  friend class StaticOpenStage;
  // The paths Answer may open for this request (the file, the directory's
  // index, the SPA fallback, their precompressed siblings) that `cache`
  // does not hold fresh for `site`; none when the path is refused, or when
  // the file itself is fresh and regular and no sibling is wanted (Answer
  // opens nothing else then: the common request costs one lookup here).
  // `*ready`: that last case (the request can be answered now; `*normalized`
  // holds its path).
  std::vector<std::string> Candidates(const ExchangeState& state, OpenFileCache& cache, std::string_view site,
                                      int64_t now_ns, StaticPath* normalized, bool* ready) const;
  // OnRequestHead's answer: from the request, or from a path Candidates
  // already normalised (and found servable: GET or HEAD, beneath the
  // route's prefix, not hidden).
  Verdict Reply(ExchangeState& state, const StaticPath* normalized) const;
  Verdict Answer(ExchangeState& state, OpenCounts& counts) const;
  Verdict AnswerPath(ExchangeState& state, const StaticPath& normalized, OpenCounts& counts) const;
  Verdict Serve(ExchangeState& state, const std::string& name, std::unique_ptr<OpenedFile> file,
                OpenCounts& counts) const;
  std::shared_ptr<const StaticFiles> files_;
  Options options_;
};

// Directory sites with an I/O pool (ExchangeState::io): before the static
// stage answers, the paths it may open that the worker's open-file cache
// does not hold fresh are opened on an I/O thread (open + fstat), the
// chain pausing meanwhile; the results go into the cache on the loop, and
// the static stage right after this one answers from it. A request whose
// paths are all fresh in the cache does not pause; when that is the common
// case (the file itself, fresh and regular) this stage answers it at once,
// with the path it normalised already (the static stage is then skipped,
// as after any reply, but still counts it at completion). Without a pool, a
// cache, or with a full queue, the static stage opens on the loop as
// before. What stays on the loop: the rare entry evicted between the two
// stages (reads go out from the loop, but only of bytes in the page cache:
// FileBodySource::OffloadReadsTo).
class StaticOpenStage final : public Stage {
 public:
  explicit StaticOpenStage(std::shared_ptr<const StaticStage> serve)
      : serve_(std::move(serve)), files_(std::dynamic_pointer_cast<const DirectoryFiles>(serve_->files_)) {}
  std::string_view name() const override { return "static_open"; }
  StageOrder order() const override { return StageOrder::kStaticContent; }
  uint32_t hooks() const override { return kRequestHead; }
  Verdict OnRequestHead(ExchangeState& state) const override;

 private:
  std::shared_ptr<const StaticStage> serve_;  // its site and options (the same object as the next stage)
  std::shared_ptr<const DirectoryFiles> files_;  // serve_'s site when it is a directory, else null
};

// Forwards to a shared StaticStage (the chain owns its stages uniquely;
// the open stage needs the same site and options).
class SharedStaticStage final : public Stage {
 public:
  explicit SharedStaticStage(std::shared_ptr<const StaticStage> stage) : stage_(std::move(stage)) {}
  std::string_view name() const override { return stage_->name(); }
  StageOrder order() const override { return stage_->order(); }
  uint32_t hooks() const override { return stage_->hooks(); }
  Verdict OnRequestHead(ExchangeState& state) const override { return stage_->OnRequestHead(state); }
  void OnComplete(const ExchangeState& state) const override { stage_->OnComplete(state); }

 private:
  std::shared_ptr<const StaticStage> stage_;
};

}  // namespace sluice::pipeline
