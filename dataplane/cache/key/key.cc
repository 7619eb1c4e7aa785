#include "dataplane/cache/key/key.h"

#include <algorithm>

#include "dataplane/balancer/request_keys.h"
#include "dataplane/cache/policy/policy.h"

namespace sluice::cache {
namespace {

constexpr char kSeparator = '\x1e';

}  // namespace

std::string SortedQuery(std::string_view query) {
  std::vector<std::string_view> parameters;
  size_t start = 0;
  while (start <= query.size()) {
    size_t amp = query.find('&', start);
    if (amp == std::string_view::npos) amp = query.size();
    if (amp > start) parameters.push_back(query.substr(start, amp - start));
    start = amp + 1;
  }
  std::stable_sort(parameters.begin(), parameters.end());
  std::string out;
  for (std::string_view parameter : parameters) {
    if (!out.empty()) out.push_back('&');
    out.append(parameter);
  }
  return out;
}

std::string BuildKey(const KeyRecipe& recipe, std::string_view scheme, std::string_view authority,
                     std::string_view target, const http::HeaderMap& request_headers) {
  std::string_view path = target;
  std::string_view query;
  bool has_query = false;
  if (size_t q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
    has_query = true;
  }
  std::string url_target(path);
  if (has_query && recipe.query == QueryInKey::kAsSent) {
    url_target.push_back('?');
    url_target.append(query);
  } else if (has_query && recipe.query == QueryInKey::kSorted) {
    std::string sorted = SortedQuery(query);
    if (!sorted.empty()) {
      url_target.push_back('?');
      url_target.append(sorted);
    }
  }
  std::string key;
  if (recipe.scheme && recipe.host) {
    key = PrimaryKey(scheme, authority, url_target);
  } else {
    // PrimaryKey's normalisation of what is kept (lower case, default port
    // dropped only when the scheme says which one is the default).
    std::string full = PrimaryKey(scheme, authority, url_target);
    size_t after_scheme = full.find("://");
    std::string_view rest = std::string_view(full).substr(after_scheme + 3);
    size_t slash = rest.find('/');
    std::string_view host_part = rest.substr(0, slash);
    std::string_view tail = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
    key.append(recipe.scheme ? std::string_view(full).substr(0, after_scheme) : std::string_view("*"));
    key.append("://");
    key.append(recipe.host ? host_part : std::string_view("*"));
    key.append(tail);
  }
  for (const std::string& name : recipe.headers) {
    key.push_back(kSeparator);
    key.append("h:").append(name);
    // Several fields of one name: their values joined as one list
    // (RFC 9110 §5.3), so the split does not matter.
    bool first = true;
    for (const http::Header& field : request_headers.entries()) {
      if (field.name != name) continue;
      key.push_back(first ? '=' : ',');
      key.append(field.value);
      first = false;
    }
  }
  for (const std::string& name : recipe.cookies) {
    key.push_back(kSeparator);
    key.append("c:").append(name);
    if (std::optional<std::string_view> value = balancer::CookieValue(request_headers, name)) {
      key.push_back('=');
      key.append(*value);
    }
  }
  return key;
}

std::string_view UrlPartOf(std::string_view key) { return key.substr(0, key.find(kSeparator)); }

bool ShouldBypass(const BypassConditions& conditions, const http::HeaderMap& request_headers) {
  for (const std::string& name : conditions.headers) {
    if (request_headers.Get(name) != nullptr) return true;
  }
  for (const std::string& name : conditions.cookies) {
    if (balancer::CookieValue(request_headers, name)) return true;
  }
  return false;
}

}  // namespace sluice::cache
