#include "dataplane/cache/purge/purge.h"

#include <algorithm>
#include <optional>

#include "base/percent_encoding.h"
#include "dataplane/cache/key/key.h"
#include "dataplane/cache/policy/policy.h"

namespace sluice::cache {
namespace {

constexpr size_t kMaxTagBytes = 256;
constexpr size_t kMaxTags = 64;

std::string FormEncode(std::string_view text) { return PercentEncode(text, "/:*"); }

bool HasControlBytes(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x21 || c == 0x7f; });
}

// "scheme://host/target" of a key: cut at the first separator of a key
// part (0x1e) or a Vary variant (0x1f).
struct KeyUrl {
  std::string_view scheme, host, target;
};
std::optional<KeyUrl> SplitKeyUrl(std::string_view key) {
  key = key.substr(0, key.find_first_of("\x1e\x1f"));
  const size_t colon = key.find("://");
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view rest = key.substr(colon + 3);
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return KeyUrl{key.substr(0, colon), rest, "/"};
  return KeyUrl{key.substr(0, colon), rest.substr(0, slash), rest.substr(slash)};
}

// The key's target against a URL's: as sent, sorted, or without the query
// (the recipes of sluice.io/cache-key).
bool SameTarget(std::string_view stored, std::string_view target) {
  if (stored == target) return true;
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return false;
  if (stored == target.substr(0, q)) return true;
  // Sorted: the same parameters in another order.
  const size_t sq = stored.find('?');
  if (sq == std::string_view::npos || stored.substr(0, sq) != target.substr(0, q)) return false;
  return stored.substr(sq + 1) == SortedQuery(target.substr(q + 1));
}

}  // namespace

Result<PurgeRequest> ParsePurgeRequest(std::string_view form) {
  std::string url, host, prefix, tag;
  bool have_url = false, have_host = false, have_prefix = false, have_tag = false;
  size_t start = 0;
  while (start < form.size()) {
    size_t amp = form.find('&', start);
    if (amp == std::string_view::npos) amp = form.size();
    std::string_view pair = form.substr(start, amp - start);
    start = amp + 1;
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::string_view name = pair.substr(0, eq);
    std::optional<std::string> value = FormDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    if (!value) return Status::Error("bad percent-encoding in " + std::string(name));
    if (name == "url") {
      url = *value, have_url = true;
    } else if (name == "host") {
      host = *value, have_host = true;
    } else if (name == "prefix") {
      prefix = *value, have_prefix = true;
    } else if (name == "tag") {
      tag = *value, have_tag = true;
    } else {
      return Status::Error("unknown parameter \"" + std::string(name) + "\" (expected url, host and prefix, or tag)");
    }
  }
  const int kinds = (have_url ? 1 : 0) + (have_host || have_prefix ? 1 : 0) + (have_tag ? 1 : 0);
  if (kinds != 1) return Status::Error("give exactly one of: url=URL, host=HOST&prefix=/PATH, tag=TAG");
  PurgeRequest request;
  if (have_url) {
    const size_t colon = url.find("://");
    if (colon == std::string::npos || HasControlBytes(url)) {
      return Status::Error("url must be absolute, like https://shop.example/path?query");
    }
    const std::string scheme = url.substr(0, colon);
    if (scheme != "http" && scheme != "https") return Status::Error("url scheme must be http or https");
    std::string_view rest = std::string_view(url).substr(colon + 3);
    const size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    if (authority.empty()) return Status::Error("url has no host");
    std::string key = PrimaryKey(scheme, authority, slash == std::string_view::npos ? "/" : rest.substr(slash));
    std::optional<KeyUrl> parts = SplitKeyUrl(key);
    request.kind = PurgeRequest::Kind::kUrl;
    request.scheme = std::string(parts->scheme);
    request.host = std::string(parts->host);
    request.target = std::string(parts->target);
    return request;
  }
  if (have_tag) {
    if (tag.empty() || tag.size() > kMaxTagBytes || HasControlBytes(tag)) {
      return Status::Error("tag must be 1 to 256 visible characters");
    }
    request.kind = PurgeRequest::Kind::kTag;
    request.tag = tag;
    return request;
  }
  if (!prefix.empty() && prefix.front() != '/') return Status::Error("prefix must start with /");
  if (HasControlBytes(host) || HasControlBytes(prefix)) return Status::Error("host and prefix must be visible characters");
  if (host.empty() && prefix.empty()) return Status::Error("host or prefix must not be empty (purging everything is host=*)");
  request.kind = PurgeRequest::Kind::kPrefix;
  if (host != "*" && !host.empty()) {
    // PrimaryKey's normalisation: lower case, default ports dropped (for
    // either scheme: the request names no scheme).
    std::string key = PrimaryKey("http", host, "/");
    request.host = std::string(SplitKeyUrl(key)->host);
    if (request.host.ends_with(":443")) request.host.resize(request.host.size() - 4);
  }
  request.target = prefix.empty() ? "/" : prefix;
  return request;
}

std::string FormOf(const PurgeRequest& request) {
  switch (request.kind) {
    case PurgeRequest::Kind::kUrl:
      return "url=" + FormEncode(request.scheme + "://" + request.host + request.target);
    case PurgeRequest::Kind::kTag:
      return "tag=" + FormEncode(request.tag);
    case PurgeRequest::Kind::kPrefix:
      return "host=" + FormEncode(request.host.empty() ? "*" : request.host) + "&prefix=" + FormEncode(request.target);
  }
  return "";
}

bool PurgeMatches(const PurgeRequest& request, const CachedObject& object) {
  if (request.kind == PurgeRequest::Kind::kTag) {
    return std::find(object.tags.begin(), object.tags.end(), request.tag) != object.tags.end();
  }
  std::optional<KeyUrl> key = SplitKeyUrl(object.key);
  if (!key) return false;
  const bool host_ok = request.host.empty() || key->host == "*" || key->host == request.host;
  if (request.kind == PurgeRequest::Kind::kPrefix) return host_ok && key->target.starts_with(request.target);
  return host_ok && (key->scheme == "*" || key->scheme == request.scheme) && SameTarget(key->target, request.target);
}

size_t Purge(Store& store, const PurgeRequest& request) {
  return store.RemoveIf([&request](const CachedObject& object) { return PurgeMatches(request, object); });
}

std::vector<std::string> PurgeTagsOf(const http::HeaderMap& response) {
  std::vector<std::string> tags;
  for (const http::Header& field : response.entries()) {
    const bool cache_tag = field.name == "cache-tag";
    if (!cache_tag && field.name != "surrogate-key") continue;
    std::string_view value = field.value;
    size_t start = 0;
    while (start < value.size() && tags.size() < kMaxTags) {
      size_t end = cache_tag ? value.find(',', start) : value.find_first_of(" \t", start);
      if (end == std::string_view::npos) end = value.size();
      std::string_view tag = value.substr(start, end - start);
      while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
      while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
      if (!tag.empty() && tag.size() <= kMaxTagBytes &&
          std::find(tags.begin(), tags.end(), tag) == tags.end()) {
        tags.emplace_back(tag);
      }
      start = end + 1;
    }
  }
  return tags;
}

}  // namespace sluice::cache
