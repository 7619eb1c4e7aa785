#include "dataplane/pipeline/compression_stage.h"

#include <algorithm>
#include <array>
#include <memory>

#include "dataplane/pipeline/compression_stats.h"

namespace sluice::pipeline {
namespace {

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls `each` with every element of a comma-separated list (empty ones skipped).
template <typename Each>
void ForEachElement(std::string_view list, Each each) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view element = Trim(list.substr(0, comma));
    if (!element.empty()) each(element);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// A qvalue (RFC 9110 12.4.2) in thousandths: "1", "1.000", "0.5"; -1 when malformed.
int ParseQ(std::string_view q) {
  if (q.empty() || q.size() > 5) return -1;
  if (q[0] == '1') {
    for (size_t i = 1; i < q.size(); ++i) {
      if ((i == 1 && q[i] != '.') || (i > 1 && q[i] != '0')) return -1;
    }
    return 1000;
  }
  if (q[0] != '0') return -1;
  if (q.size() == 1) return 0;
  if (q[1] != '.') return -1;
  int value = 0, scale = 100;
  for (size_t i = 2; i < q.size(); ++i) {
    if (q[i] < '0' || q[i] > '9') return -1;
    value += (q[i] - '0') * scale;
    scale /= 10;
  }
  return value;
}

bool HasToken(const http::HeaderMap& headers, std::string_view name, std::string_view token) {
  bool found = false;
  for (const http::Header& h : headers.entries()) {
    if (h.name != name) continue;
    ForEachElement(h.value, [&](std::string_view element) {
      std::string_view directive = Trim(element.substr(0, element.find('=')));
      if (EqualsIgnoreCase(directive, token)) found = true;
    });
  }
  return found;
}

constexpr size_t kMaxKeptBuffer = 256 * 1024;
static_assert(static_cast<size_t>(Coding::kZstd) < CompressionStats::kCodings);
static_assert(static_cast<size_t>(SkipReason::kEncoderFailed) < CompressionStats::kReasons);

void CountBytes(ExchangeState& state, Coding coding, uint64_t in, uint64_t out) {
  if (state.compression_stats == nullptr) return;
  CompressionStats::Add(state.compression_stats->bytes_in[static_cast<size_t>(coding)], in);
  CompressionStats::Add(state.compression_stats->bytes_out[static_cast<size_t>(coding)], out);
}

class CompressionData final : public StageData {
 public:
  SkipReason reason = SkipReason::kNotAccepted;
  Coding coding = Coding::kIdentity;
  std::unique_ptr<BodyTransform> encoder;
  std::string out;  // the last chunk's compressed bytes (the view handed on)
  bool failed = false;
};

}  // namespace

std::string_view SkipReasonName(SkipReason reason) {
  switch (reason) {
    case SkipReason::kNone: return "compressed";
    case SkipReason::kLocalReply: return "local_reply";
    case SkipReason::kNoBody: return "no_body";
    case SkipReason::kPartial: return "partial";
    case SkipReason::kEncoded: return "already_encoded";
    case SkipReason::kNoTransform: return "no_transform";
    case SkipReason::kGrpc: return "grpc";
    case SkipReason::kType: return "type";
    case SkipReason::kTooSmall: return "too_small";
    case SkipReason::kNotAccepted: return "not_accepted";
    case SkipReason::kEncoderFailed: return "encoder_failed";
  }
  return "unknown";
}

std::span<const Coding> DefaultCodingPreference() {
  static constexpr std::array<Coding, 3> kOrder = {Coding::kZstd, Coding::kBrotli, Coding::kGzip};
  return kOrder;
}

Coding CodingFromName(std::string_view name) {
  if (EqualsIgnoreCase(name, "zstd")) return Coding::kZstd;
  if (EqualsIgnoreCase(name, "br")) return Coding::kBrotli;
  if (EqualsIgnoreCase(name, "gzip") || EqualsIgnoreCase(name, "x-gzip")) return Coding::kGzip;
  return Coding::kIdentity;
}

Coding NegotiateCoding(std::string_view accept_encoding, bool present, std::span<const Coding> preference) {
  if (!present) return Coding::kIdentity;  // the client did not ask
  // By Coding: the client's weight (-1: not listed).
  std::array<int, CompressionStats::kCodings> q;
  q.fill(-1);
  int star = -1;
  ForEachElement(accept_encoding, [&](std::string_view element) {
    size_t semicolon = element.find(';');
    std::string_view coding = Trim(element.substr(0, semicolon));
    int weight = 1000;
    if (semicolon != std::string_view::npos) {
      std::string_view params = element.substr(semicolon + 1);
      // Only the weight parameter is defined for Accept-Encoding.
      while (!params.empty()) {
        size_t next = params.find(';');
        std::string_view param = Trim(params.substr(0, next));
        size_t eq = param.find('=');
        if (eq != std::string_view::npos && EqualsIgnoreCase(Trim(param.substr(0, eq)), "q")) {
          weight = ParseQ(Trim(param.substr(eq + 1)));
        }
        if (next == std::string_view::npos) break;
        params.remove_prefix(next + 1);
      }
    }
    if (weight < 0) return;  // a malformed weight: the element is ignored
    if (coding == "*") {
      star = weight;
      return;
    }
    Coding named = CodingFromName(coding);
    if (named != Coding::kIdentity) {
      int& slot = q[static_cast<size_t>(named)];
      slot = std::max(slot, weight);
    }
  });
  Coding best = Coding::kIdentity;
  int best_q = 0;
  for (Coding offered : preference) {  // the first of equal weights wins
    int listed = q[static_cast<size_t>(offered)];
    int weight = listed >= 0 ? listed : star;  // "*": any coding not listed
    if (weight > best_q) {
      best_q = weight;
      best = offered;
    }
  }
  return best;
}

const std::vector<std::string>& DefaultCompressibleTypes() {
  static const std::vector<std::string> types = {
      "text/*",
      "application/json",
      "application/javascript",
      "application/x-javascript",
      "application/ecmascript",
      "application/xml",
      "application/x-ndjson",
      "application/wasm",
      "application/x-font-ttf",
      "application/vnd.ms-fontobject",
      "application/x-web-app-manifest+json",
      "image/svg+xml",
      "image/x-icon",
      "image/vnd.microsoft.icon",
      "image/bmp",
      "font/ttf",
      "font/otf",
      "+json",  // application/ld+json, problem+json, manifest+json, geo+json, ...
      "+xml",   // application/xhtml+xml, rss+xml, atom+xml, ...
  };
  return types;
}

bool TypeMatches(const std::vector<std::string>& types, std::string_view content_type) {
  std::string_view media = Trim(content_type.substr(0, content_type.find(';')));
  size_t slash = media.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == media.size()) return false;
  for (const std::string& entry : types) {
    std::string_view type = entry;
    if (type.empty()) continue;
    if (type.front() == '+') {  // a structured syntax suffix
      if (media.size() > type.size() &&
          EqualsIgnoreCase(media.substr(media.size() - type.size()), type)) {
        return true;
      }
    } else if (type.size() >= 2 && type.substr(type.size() - 2) == "/*") {
      if (EqualsIgnoreCase(media.substr(0, slash + 1), type.substr(0, type.size() - 1))) return true;
    } else if (type == "*/*" || EqualsIgnoreCase(media, type)) {
      return true;
    }
  }
  return false;
}

CompressionStage::Options CompressionStage::Options::From(const v1::CompressionPolicy& policy) {
  Options options;
  if (policy.types_size() > 0) options.types.assign(policy.types().begin(), policy.types().end());
  if (policy.min_length() != 0) options.min_length = policy.min_length();
  if (policy.gzip_level() != 0) options.gzip_level = static_cast<int>(policy.gzip_level());
  if (policy.brotli_level() != 0) options.brotli_level = static_cast<int>(policy.brotli_level());
  if (policy.zstd_level() != 0) options.zstd_level = static_cast<int>(policy.zstd_level());
  if (policy.codings_size() > 0) {
    options.preference.clear();
    for (const std::string& name : policy.codings()) {
      Coding coding = CodingFromName(name);
      if (coding != Coding::kIdentity &&
          std::find(options.preference.begin(), options.preference.end(), coding) == options.preference.end()) {
        options.preference.push_back(coding);
      }
    }
  }
  return options;
}

int CompressionStage::Options::LevelOf(Coding coding) const {
  switch (coding) {
    case Coding::kGzip: return gzip_level;
    case Coding::kBrotli: return brotli_level;
    case Coding::kZstd: return zstd_level;
    case Coding::kIdentity: break;
  }
  return 0;
}

SkipReason CompressionStage::Eligible(const ExchangeState& state, const http::ResponseHead& head, bool local) const {
  // The proxy's own messages and cache hits (stored per coding already)
  // go as they are; a static file is compressed like an origin's body.
  if (local && !state.reply.representation) return SkipReason::kLocalReply;
  const int status = head.status;
  if (state.request.method == "HEAD" || status < 200 || status == 204 || status == 304 ||
      state.response_head_ends_stream) {
    return SkipReason::kNoBody;
  }
  if (status == 206 || state.request.headers.Get("range") != nullptr) return SkipReason::kPartial;
  if (const std::string* encoding = head.headers.Get("content-encoding");
      encoding != nullptr && !EqualsIgnoreCase(Trim(*encoding), "identity")) {
    return SkipReason::kEncoded;
  }
  if (HasToken(head.headers, "cache-control", "no-transform") ||
      HasToken(state.request.headers, "cache-control", "no-transform")) {
    return SkipReason::kNoTransform;
  }
  const std::string* type = head.headers.Get("content-type");
  auto is_grpc = [](std::string_view t) {
    t = Trim(t);
    return t.size() >= 16 && EqualsIgnoreCase(t.substr(0, 16), "application/grpc");
  };
  const std::string* request_type = state.request.headers.Get("content-type");
  if ((type != nullptr && is_grpc(*type)) || (request_type != nullptr && is_grpc(*request_type))) {
    return SkipReason::kGrpc;
  }
  if (type == nullptr || !TypeMatches(options_.types, *type)) return SkipReason::kType;
  if (const std::string* length = head.headers.Get("content-length"); length != nullptr) {
    uint64_t value = 0;
    bool digits = !length->empty() && length->size() <= 19;
    for (char c : *length) {
      if (c < '0' || c > '9') {
        digits = false;
        break;
      }
      value = value * 10 + static_cast<uint64_t>(c - '0');
    }
    if (digits && value < options_.min_length) return SkipReason::kTooSmall;
  }
  return SkipReason::kNone;
}

Verdict CompressionStage::OnResponseHead(ExchangeState& state, http::ResponseHead& head, bool local) const {
  auto data = std::make_unique<CompressionData>();
  CompressionData& d = *data;
  d.reason = Eligible(state, head, local);
  if (d.reason == SkipReason::kNone) {
    // The representation varies with Accept-Encoding whatever this client
    // sent: a shared cache must not give this one to another client.
    bool varied = HasToken(head.headers, "vary", "accept-encoding") || HasToken(head.headers, "vary", "*");
    if (!varied) {
      http::Header* vary = nullptr;
      for (http::Header& h : head.headers.mutable_entries()) {
        if (h.name == "vary") {
          vary = &h;
          break;
        }
      }
      if (vary != nullptr && !Trim(vary->value).empty()) {
        vary->value += ", Accept-Encoding";
      } else if (vary != nullptr) {
        vary->value = "Accept-Encoding";
      } else {
        head.headers.Add("vary", "Accept-Encoding");
      }
    }
    std::string accept;
    bool present = false;
    for (const http::Header& h : state.request.headers.entries()) {
      if (h.name != "accept-encoding") continue;
      if (present) accept += ", ";
      accept += h.value;
      present = true;
    }
    d.coding = NegotiateCoding(accept, present, options_.preference);
    if (d.coding == Coding::kIdentity) {
      d.reason = SkipReason::kNotAccepted;
    } else {
      d.encoder = MakeEncoder(d.coding, options_.LevelOf(d.coding));
      if (d.encoder == nullptr) d.reason = SkipReason::kEncoderFailed;
    }
  }
  if (d.reason == SkipReason::kNone) {
    head.headers.Remove("content-length");
    head.headers.Remove("content-encoding");  // an "identity" one
    head.headers.Remove("accept-ranges");
    head.headers.Add("content-encoding", std::string(CodingName(d.coding)));
    for (http::Header& h : head.headers.mutable_entries()) {
      if (h.name == "etag" && !h.value.empty() && h.value.front() == '"') h.value.insert(0, "W/");
    }
  } else {
    d.coding = Coding::kIdentity;
    d.encoder.reset();
  }
  if (CompressionStats* stats = state.compression_stats; stats != nullptr) {
    if (d.reason == SkipReason::kNone) {
      CompressionStats::Add(stats->responses[static_cast<size_t>(d.coding)]);
    } else {
      CompressionStats::Add(stats->skipped[static_cast<size_t>(d.reason)]);
    }
  }
  state.set_data(kCompressionData, std::move(data));
  return Verdict::kContinue;
}

bool CompressionStage::WantsResponseBody(const ExchangeState& state) const {
  auto* d = static_cast<const CompressionData*>(state.data(kCompressionData));
  return d != nullptr && d->encoder != nullptr;  // an encoding was chosen for this response
}

Verdict CompressionStage::OnResponseBody(ExchangeState& state, std::string_view& chunk) const {
  auto* d = static_cast<CompressionData*>(state.data(kCompressionData));
  if (d == nullptr || d->encoder == nullptr || chunk.empty()) return Verdict::kContinue;
  // A large buffer left by an earlier big chunk is not kept for the rest
  // of a long response.
  if (d->out.capacity() > kMaxKeptBuffer) std::string().swap(d->out);
  d->out.clear();
  if (!d->encoder->Transform(chunk, /*end=*/false, d->out)) {
    d->failed = true;
    d->encoder.reset();
    state.error = ProxyError::Proxy(ErrorCode::kTransformFailed, "compression failed");
    return Verdict::kReply;  // the head is out: the response is cut short
  }
  CountBytes(state, d->coding, chunk.size(), d->out.size());
  chunk = d->out;
  return Verdict::kContinue;
}

Verdict CompressionStage::OnResponseEnd(ExchangeState& state, std::string_view& tail) const {
  auto* d = static_cast<CompressionData*>(state.data(kCompressionData));
  if (d == nullptr || d->encoder == nullptr) return Verdict::kContinue;
  d->out.clear();
  bool ok = d->encoder->Transform({}, /*end=*/true, d->out);
  d->encoder.reset();  // its window goes now, not with the exchange
  if (!ok) {
    d->failed = true;
    state.error = ProxyError::Proxy(ErrorCode::kTransformFailed, "compression failed");
    return Verdict::kReply;
  }
  CountBytes(state, d->coding, 0, d->out.size());
  tail = d->out;
  return Verdict::kContinue;
}

SkipReason CompressionStage::Decision(const ExchangeState& state, Coding* coding) {
  auto* d = static_cast<const CompressionData*>(state.data(kCompressionData));
  if (coding != nullptr) *coding = d != nullptr ? d->coding : Coding::kIdentity;
  return d != nullptr ? d->reason : SkipReason::kNotAccepted;
}

}  // namespace sluice::pipeline
