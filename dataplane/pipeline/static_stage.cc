#include "dataplane/pipeline/static_stage.h"

#include <array>
#include <span>

#include "dataplane/http/conditional/conditional.h"
#include "dataplane/metrics/series.h"
#include "dataplane/pipeline/compression_stage.h"
#include "dataplane/pipeline/io_pool.h"
#include "dataplane/pipeline/mime_types.h"
#include "dataplane/pipeline/static_http.h"
#include "dataplane/pipeline/static_path.h"

namespace sluice::pipeline {
namespace {

using http::ByteRange;
using http::EvaluatePreconditions;
using http::IfRangeAllows;
using http::ParseRange;
using http::Precondition;
using http::RangeRequest;

// Text replies of the stage: the error shape every local reply has.
Verdict Plain(ExchangeState& state, int status, std::string_view text) {
  state.reply.status = status;
  state.reply.body = text;
  return Verdict::kReply;
}

std::string_view SiblingExtension(Coding coding) {
  switch (coding) {
    case Coding::kZstd: return ".zst";
    case Coding::kBrotli: return ".br";
    case Coding::kGzip: return ".gz";
    case Coding::kIdentity: break;
  }
  return "";
}

std::string JoinFields(const http::HeaderMap& headers, std::string_view name) {
  std::string joined;
  for (const http::Header& h : headers.entries()) {
    if (h.name != name) continue;
    if (!joined.empty()) joined += ", ";
    joined += h.value;
  }
  return joined;
}

}  // namespace

StaticStage::Options StaticStage::Options::From(const v1::StaticSitePolicy& policy) {
  Options options;
  if (!policy.index_file().empty()) options.index_file = policy.index_file();
  options.spa_fallback = policy.spa_fallback();
  while (!options.spa_fallback.empty() && options.spa_fallback.front() == '/') options.spa_fallback.erase(0, 1);
  options.cache_control = policy.cache_control();
  if (!policy.immutable_cache_control().empty()) options.immutable_cache_control = policy.immutable_cache_control();
  options.hashed_assets = policy.hashed_assets();
  options.precompressed = policy.precompressed();
  options.show_dotfiles = policy.show_dotfiles();
  options.strip_prefix = policy.strip_prefix();
  if (options.strip_prefix == "/") options.strip_prefix.clear();
  return options;
}

StaticStage::StaticStage(std::shared_ptr<const StaticFiles> files, Options options)
    : files_(std::move(files)), options_(std::move(options)) {
  MimeTypeFor("");  // reads /etc/mime.types now (snapshot compile), not on a request
}

std::unique_ptr<StaticStage> StaticStage::FromPolicy(const v1::StaticSitePolicy& policy) {
  std::shared_ptr<const StaticFiles> files;
  if (!policy.root().empty()) {
    // A root that cannot be opened (volume not mounted) leaves a site that
    // answers 404: the route still belongs to the site, never upstream.
    files = std::make_shared<const DirectoryFiles>(policy.root());
  } else {
    std::vector<std::pair<std::string, std::string>> contents;
    contents.reserve(static_cast<size_t>(policy.files_size()));
    for (const v1::StaticFile& file : policy.files()) contents.emplace_back(file.path(), file.content());
    files = std::make_shared<const MemoryFiles>(contents);
  }
  return std::make_unique<StaticStage>(std::move(files), Options::From(policy));
}

void StaticStage::AddStages(const v1::StaticSitePolicy& policy, std::vector<std::unique_ptr<const Stage>>& stages) {
  std::shared_ptr<const StaticStage> stage = FromPolicy(policy);
  if (!policy.root().empty()) stages.push_back(std::make_unique<StaticOpenStage>(stage));
  stages.push_back(std::make_unique<SharedStaticStage>(std::move(stage)));
}

std::vector<std::string> StaticStage::Candidates(const ExchangeState& state, OpenFileCache& cache,
                                                 std::string_view site, int64_t now_ns, StaticPath* normalized_out,
                                                 bool* ready) const {
  *ready = false;
  std::vector<std::string> paths;
  const std::string& method = state.request.method;
  if (method != "GET" && method != "HEAD") return paths;
  std::string_view path = state.request.path;
  if (!options_.strip_prefix.empty()) {
    std::string_view prefix = options_.strip_prefix;
    if (path.substr(0, prefix.size()) != prefix) return paths;
    path.remove_prefix(prefix.size());
    if (path.empty() || path.front() != '/') return paths;
  }
  StaticPath normalized = NormalizeStaticPath(path);
  if (normalized.status != 0 || (normalized.hidden && !options_.show_dotfiles)) return paths;
  const std::string& name = normalized.relative;
  const bool siblings = options_.precompressed && state.request.headers.Get("accept-encoding") != nullptr;
  if (!siblings && !normalized.trailing_slash) {
    // Answer opens the file, and nothing more when it is a regular file.
    const OpenFileInfo* found = cache.FreshEntry(site, name, now_ns);
    if (found != nullptr && found->exists && !found->directory) {
      *ready = true;
      *normalized_out = std::move(normalized);
      return paths;
    }
  }
  paths.push_back(name);
  paths.push_back(name.empty() ? options_.index_file : name + "/" + options_.index_file);
  if (!options_.spa_fallback.empty()) paths.push_back(options_.spa_fallback);
  if (siblings) {
    const size_t files = paths.size();
    for (size_t i = 0; i < files; ++i) {
      for (Coding coding : DefaultCodingPreference()) paths.push_back(paths[i] + std::string(SiblingExtension(coding)));
    }
  }
  std::erase_if(paths, [&](const std::string& candidate) { return cache.Fresh(site, candidate, now_ns); });
  return paths;
}

namespace {

// Lives with the exchange: when the client goes away first, the pool's
// answer still fills the cache but resumes nothing.
struct StaticOpenData final : StageData {
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
  ~StaticOpenData() override { *alive = false; }
};

}  // namespace

Verdict StaticOpenStage::OnRequestHead(ExchangeState& state) const {
  const std::shared_ptr<const DirectoryFiles>& files = files_;
  if (state.io == nullptr || files == nullptr || !files->ok() || files->site_key().empty()) return Verdict::kContinue;
  OpenFileCache* cache = files->cache();
  if (cache == nullptr || cache->valid_ns() == 0) return Verdict::kContinue;  // interval 0: Get stats anyway
  StaticPath normalized;
  bool ready = false;
  std::vector<std::string> paths =
      serve_->Candidates(state, *cache, files->site_key(), OpenFileCache::NowNs(), &normalized, &ready);
  if (ready) return serve_->Reply(state, &normalized);
  if (paths.empty()) return Verdict::kContinue;

  auto data = std::make_unique<StaticOpenData>();
  std::shared_ptr<bool> alive = data->alive;
  auto found = std::make_shared<std::vector<std::shared_ptr<const OpenFileInfo>>>();
  auto wanted = std::make_shared<const std::vector<std::string>>(std::move(paths));
  Resumer* resumer = state.resumer;
  const size_t inline_bytes = cache->inline_bytes();  // the worker's setting, read on its loop
  bool submitted = state.io->Submit(
      [files, wanted, found, inline_bytes] {
        for (const std::string& path : *wanted) {
          found->push_back(std::make_shared<const OpenFileInfo>(files->OpenUncached(path, inline_bytes)));
        }
      },
      [files, wanted, found, alive, resumer] {
        // On the worker's loop: its own cache.
        if (OpenFileCache* loop_cache = files->cache(); loop_cache != nullptr) {
          const int64_t done = OpenFileCache::NowNs();
          for (size_t i = 0; i < found->size(); ++i) loop_cache->Offer(files->site_key(), (*wanted)[i], (*found)[i], done);
        }
        if (*alive && resumer != nullptr) resumer->Resume();
      });
  if (!submitted) return Verdict::kContinue;  // the queue is full: the next stage opens on the loop
  if (state.route_series != nullptr) state.route_series->static_content.open_cache_misses.Add(wanted->size());
  state.set_data(kStaticOpenData, std::move(data));
  return Verdict::kPause;
}

Verdict StaticStage::OnRequestHead(ExchangeState& state) const { return Reply(state, nullptr); }

Verdict StaticStage::Reply(ExchangeState& state, const StaticPath* normalized) const {
  OpenCounts counts;
  Verdict verdict = normalized != nullptr ? AnswerPath(state, *normalized, counts) : Answer(state, counts);
  if (metrics::SeriesCounters* series = state.route_series; series != nullptr) {
    if (counts.cache_hits != 0) series->static_content.open_cache_hits.Add(counts.cache_hits);
    if (counts.cache_misses != 0) series->static_content.open_cache_misses.Add(counts.cache_misses);
  }
  return verdict;
}

void StaticStage::OnComplete(const ExchangeState& state) const {
  metrics::SeriesCounters* series = state.route_series;
  if (series == nullptr) return;
  series->static_content.responses[static_cast<size_t>(metrics::StaticKindOf(state.status))].Add();
  if (state.bytes_out != 0) series->static_content.bytes_sent.Add(state.bytes_out);
}

Verdict StaticStage::Answer(ExchangeState& state, OpenCounts& counts) const {
  const std::string& method = state.request.method;
  if (method != "GET" && method != "HEAD") {
    state.reply.status = 405;
    state.reply.source = std::make_shared<MemoryBodySource>(std::string("method not allowed\n"));
    state.reply.headers.Add("allow", "GET, HEAD");
    state.reply.headers.Add("content-type", "text/plain; charset=utf-8");
    return Verdict::kReply;
  }
  std::string_view path = state.request.path;
  if (!options_.strip_prefix.empty()) {
    std::string_view prefix = options_.strip_prefix;
    if (path.substr(0, prefix.size()) != prefix) return Plain(state, 404, "not found\n");
    path.remove_prefix(prefix.size());
    if (path.empty() || path.front() == '?') {
      // "/docs" names the site's root directory: "/docs/" is its index.
      state.reply.status = 301;
      state.reply.location = std::string(prefix) + "/" + std::string(path);
      state.reply.body = "moved permanently\n";
      return Verdict::kReply;
    }
    if (path.front() != '/') return Plain(state, 404, "not found\n");
  }
  StaticPath normalized = NormalizeStaticPath(path);
  if (normalized.status != 0) return Plain(state, 400, "bad request\n");
  if (normalized.hidden && !options_.show_dotfiles) return Plain(state, 404, "not found\n");
  return AnswerPath(state, normalized, counts);
}

Verdict StaticStage::AnswerPath(ExchangeState& state, const StaticPath& normalized, OpenCounts& counts) const {
  std::string name = normalized.relative;
  std::unique_ptr<OpenedFile> file = files_->Open(name, &counts);
  if (file != nullptr && file->directory) {
    if (!normalized.relative.empty() && !normalized.trailing_slash) {
      // Relative links in the index resolve against "/dir/", not "/".
      std::string_view request_path = state.request.path;
      size_t query = request_path.find('?');
      state.reply.status = 301;
      state.reply.location = std::string(request_path.substr(0, query)) + "/";
      if (query != std::string_view::npos) state.reply.location += request_path.substr(query);
      state.reply.body = "moved permanently\n";
      return Verdict::kReply;
    }
    name = name.empty() ? options_.index_file : name + "/" + options_.index_file;
    file = files_->Open(name, &counts);  // no index: 404 (never a listing)
    if (file != nullptr && file->directory) file = nullptr;
  } else if (file == nullptr && normalized.trailing_slash) {
    file = nullptr;  // "/a.html/" names no directory
  }
  if (file == nullptr && !options_.spa_fallback.empty()) {
    name = options_.spa_fallback;
    file = files_->Open(name, &counts);
    if (file != nullptr && file->directory) file = nullptr;
  }
  if (file == nullptr) return Plain(state, 404, "not found\n");
  return Serve(state, name, std::move(file), counts);
}

Verdict StaticStage::Serve(ExchangeState& state, const std::string& name, std::unique_ptr<OpenedFile> file,
                           OpenCounts& counts) const {
  const http::HeaderMap& request = state.request.headers;
  http::HeaderMap& headers = state.reply.headers;
  // Room for every field below and the Content-Length and Connection the
  // head gains later: the vector grows once, not four times.
  headers.mutable_entries().reserve(10);
  // The media type of the name asked for (a precompressed sibling's bytes
  // are still that type), formatted when the file was opened.
  const std::string_view content_type = file->content_type;
  headers.AppendField("content-type", content_type);

  Coding coding = Coding::kIdentity;
  if (options_.precompressed && request.Get("accept-encoding") != nullptr) {
    // The codings the client accepts and that have a sibling file, then
    // the one the compression stage's negotiation prefers among them.
    std::string accept = JoinFields(request, "accept-encoding");
    std::array<Coding, 3> present{};
    std::array<std::unique_ptr<OpenedFile>, 3> siblings;
    size_t count = 0;
    for (Coding offered : DefaultCodingPreference()) {
      std::array<Coding, 1> one{offered};
      if (NegotiateCoding(accept, true, one) != offered) continue;
      std::unique_ptr<OpenedFile> sibling = files_->Open(name + std::string(SiblingExtension(offered)), &counts);
      if (sibling == nullptr || sibling->directory) continue;
      present[count] = offered;
      siblings[count++] = std::move(sibling);
    }
    coding = NegotiateCoding(accept, true, std::span<const Coding>(present.data(), count));
    for (size_t i = 0; i < count; ++i) {
      if (present[i] == coding) file = std::move(siblings[i]);
    }
  }
  if (coding != Coding::kIdentity) headers.AppendField("content-encoding", CodingName(coding));
  // Whether siblings exist or not, the answer depends on Accept-Encoding
  // wherever they may: caches must keep the variants apart.
  if (options_.precompressed) headers.AppendField("vary", "Accept-Encoding");
  headers.AppendField("etag", file->etag);
  if (!file->last_modified_text.empty()) headers.AppendField("last-modified", file->last_modified_text);
  const std::string& cache_control =
      options_.hashed_assets && LooksHashed(name) ? options_.immutable_cache_control : options_.cache_control;
  if (!cache_control.empty()) headers.AppendField("cache-control", cache_control);
  headers.AppendField("accept-ranges", "bytes");

  const bool head = state.request.method == "HEAD";
  switch (EvaluatePreconditions(request, file->etag, file->last_modified)) {
    case Precondition::kNotModified:
      state.reply.status = 304;
      state.reply.head_only = true;
      return Verdict::kReply;
    case Precondition::kFailed:
      headers = http::HeaderMap();
      return Plain(state, 412, "precondition failed\n");
    case Precondition::kServe:
      break;
  }

  const uint64_t size = file->size;
  RangeRequest range;
  if (const std::string* value = request.Get("range");
      value != nullptr && !head && IfRangeAllows(request, file->etag, file->last_modified)) {
    range = ParseRange(*value, size);
  }
  if (range.kind == RangeRequest::Kind::kUnsatisfiable) {
    state.reply.status = 416;
    headers.Add("content-range", http::UnsatisfiedContentRange(size));
    state.reply.source = std::make_shared<MemoryBodySource>(std::string());
    return Verdict::kReply;
  }
  if (range.kind == RangeRequest::Kind::kNone) {
    state.reply.status = 200;
    if (head) {
      headers.Add("content-length", std::to_string(size));
      state.reply.head_only = true;
    } else {
      state.reply.source = file->Read(0, size);
      state.reply.representation = true;  // compressible on the fly when no sibling was
    }
  } else if (range.ranges.size() == 1) {
    const ByteRange& only = range.ranges.front();
    state.reply.status = 206;
    headers.Add("content-range", http::ContentRange(only, size));
    state.reply.source = file->Read(only.first, only.length());
  } else {
    state.reply.status = 206;
    http::MultipartFraming framing = http::FrameByteranges(content_type, range.ranges, size);
    headers.Set("content-type", http::MultipartByterangesType());
    std::vector<std::unique_ptr<BodySource>> parts;
    for (size_t i = 0; i < range.ranges.size(); ++i) {
      parts.push_back(std::make_unique<MemoryBodySource>(std::move(framing.part_heads[i])));
      std::unique_ptr<BodySource> bytes = file->Read(range.ranges[i].first, range.ranges[i].length());
      if (bytes == nullptr) return Plain(state, 500, "cannot read the file\n");
      parts.push_back(std::move(bytes));
    }
    parts.push_back(std::make_unique<MemoryBodySource>(std::move(framing.closing)));
    state.reply.source = std::make_shared<SequenceBodySource>(std::move(parts));
  }
  if (!state.reply.head_only && state.reply.source == nullptr) {
    state.reply.headers = http::HeaderMap();
    return Plain(state, 500, "cannot read the file\n");
  }
  return Verdict::kReply;
}

}  // namespace sluice::pipeline
