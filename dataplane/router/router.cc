#include "dataplane/router/router.h"

#include <cstring>

#include <re2/re2.h>

namespace sluice::router {

std::shared_ptr<const re2::RE2> CompileRegex(std::string_view pattern, std::string* error) {
  RE2::Options options;
  options.set_case_sensitive(false);  // nginx's ~*
  options.set_encoding(RE2::Options::EncodingLatin1);  // bytes, as PCRE without UTF-8
  options.set_log_errors(false);
  // A path regex is small; a pattern that needs more is refused rather
  // than costing every worker memory (RE2's default is 8 MiB).
  options.set_max_mem(1 << 20);
  auto regex = std::make_shared<const re2::RE2>(re2::StringPiece(pattern.data(), pattern.size()), options);
  if (!regex->ok()) {
    if (error != nullptr) *error = regex->error();
    return nullptr;
  }
  return regex;
}

bool RegexMatches(const re2::RE2& regex, std::string_view path, std::string_view* captures, int count) {
  re2::StringPiece text(path.data(), path.size());
  re2::StringPiece groups[10];
  if (count > 10) count = 10;
  if (!regex.Match(text, 0, text.size(), RE2::ANCHOR_START, captures == nullptr ? nullptr : groups,
                   captures == nullptr ? 0 : count)) {
    return false;
  }
  for (int i = 0; captures != nullptr && i < count; ++i) {
    captures[i] = groups[i].data() == nullptr ? std::string_view() : std::string_view(groups[i].data(), groups[i].size());
  }
  return true;
}

int RegexGroups(const re2::RE2& regex) { return regex.NumberOfCapturingGroups(); }

std::string CompilePath(PathType type, std::string_view path) {
  if (type != PathType::kExact && type != PathType::kRegex) {
    while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  }
  return std::string(path);
}

RequestHost::RequestHost(std::string_view host) {
  if (!host.empty() && host.front() == '[') {  // IPv6 literal, "[::1]:8080"
    size_t close = host.find(']');
    if (close == std::string_view::npos) return;  // garbage: empty
    host = host.substr(0, close + 1);
  } else if (size_t colon = host.find(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  char* out = inline_;
  if (host.size() > kInline) {
    heap_.resize(host.size());
    out = heap_.data();
  }
  const size_t n = host.size();
  if (n >= 8) {
    // Eight bytes at a time (a byte loop was ~9 instructions a byte, on
    // every request): 'A'..'Z' flagged in each byte's high bit, that flag
    // moved to 0x20 and OR-ed in. The last word overlaps the one before; it
    // writes the same bytes again.
    constexpr uint64_t kOnes = 0x0101010101010101ull;
    constexpr uint64_t kHigh = 0x8080808080808080ull;
    auto lower_word = [&](size_t at) {
      uint64_t word;
      std::memcpy(&word, host.data() + at, 8);
      const uint64_t low7 = word & ~kHigh;  // no carry between bytes below
      const uint64_t upper = (low7 + kOnes * (0x80 - 'A')) & ~(low7 + kOnes * (0x80 - 'Z' - 1)) & ~word & kHigh;
      word |= upper >> 2;
      std::memcpy(out + at, &word, 8);
    };
    for (size_t i = 0; i + 8 < n; i += 8) lower_word(i);
    lower_word(n - 8);
  } else {
    for (size_t i = 0; i < n; ++i) {
      char c = host[i];
      out[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
    }
  }
  data_ = out;
  size_ = host.size();
}

std::string_view RequestHost::wildcard_parent() const {
  std::string_view host = name();
  size_t dot = host.find('.');
  if (dot == std::string_view::npos || dot == 0) return {};
  return host.substr(dot + 1);
}

std::string NormalizeHost(std::string_view raw) { return std::string(RequestHost(raw).name()); }

Router::Router(const std::vector<HostSpec>& hosts) {
  for (size_t h = 0; h < hosts.size(); ++h) {
    const HostSpec& spec = hosts[h];
    Host host{h, {}};
    host.routes.reserve(spec.routes.size());
    for (size_t r = 0; r < spec.routes.size(); ++r) {
      Entry entry{spec.routes[r].type, CompilePath(spec.routes[r].type, spec.routes[r].path), r, nullptr};
      if (entry.type == PathType::kRegex) {
        entry.regex = CompileRegex(entry.path, nullptr);
        if (entry.regex == nullptr) continue;
      }
      host.routes.push_back(std::move(entry));
    }
    SortByPrecedence(host.routes, [](const Entry& e) { return RouteRule{e.type, e.path, e.regex.get()}; });
    std::string_view name = spec.name;
    if (name == "*") {
      if (!catch_all_) catch_all_ = std::move(host);
    } else if (name.starts_with("*.")) {
      wildcard_.try_emplace(std::string(name.substr(2)), std::move(host));
    } else {
      exact_.try_emplace(std::string(name), std::move(host));
    }
  }
}

std::optional<RouteRef> Router::Match(std::string_view raw_host, std::string_view target) const {
  RequestHost host(raw_host);
  auto find = [](const HostMap& map, std::string_view key) -> const Host* {
    auto it = map.find(key);
    return it == map.end() ? nullptr : &it->second;
  };
  const Host* chosen = SelectHost(
      host, [&](std::string_view name) { return find(exact_, name); },
      [&](std::string_view parent) { return find(wildcard_, parent); },
      [&]() -> const Host* { return catch_all_ ? &*catch_all_ : nullptr; });
  if (chosen == nullptr) return std::nullopt;
  const Entry* entry = FirstMatch(chosen->routes, target, [](const Entry& e) {
    return RouteRule{e.type, e.path, e.regex.get()};
  });
  if (entry == nullptr) return std::nullopt;
  return RouteRef{chosen->index, entry->index};
}

}  // namespace sluice::router
