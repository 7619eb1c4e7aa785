#pragma once
// The protocol-neutral HTTP model shared by the HTTP/1.1 and HTTP/2 codecs
// and every request stage after them. Header names are stored lower case
// (HTTP/2 requires it and it makes lookups a plain compare); values are kept
// as received, without surrounding whitespace.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::http {

struct Header {
  std::string name;  // lower case
  std::string value;
};

class HeaderMap {
  // Converts to the std::string being initialised (see AppendField).
  struct StringFrom {
    std::string_view text;
    operator std::string() const { return std::string(text); }
  };

 public:
  // Appends a field whose strings are built in place in the new element:
  // no temporary strings to move and destroy, as with push_back(Header{..})
  // (the parsers' per-field path). `name` must already be lower case.
  Header& AppendField(std::string_view name, std::string_view value) {
#if defined(__cpp_aggregate_paren_init)
    // C++20 aggregate init from parentheses: each string constructed once,
    // where it lives (~1k instructions per proxied request less than
    // assigning into default-constructed strings, measured with callgrind).
    return entries_.emplace_back(StringFrom{name}, StringFrom{value});
#else
    // Compilers without it (clang 14, which builds the fuzzers).
    Header& field = entries_.emplace_back();
    field.name.assign(name.data(), name.size());
    field.value.assign(value.data(), value.size());
    return field;
#endif
  }
  // Same, with the value copied into `storage` (an empty string with room
  // for it, from a spare pool: no malloc) which the new field then owns.
  Header& AppendField(std::string_view name, std::string_view value, std::string&& storage) {
    storage.assign(value.data(), value.size());
#if defined(__cpp_aggregate_paren_init)
    return entries_.emplace_back(StringFrom{name}, std::move(storage));
#else
    Header& field = entries_.emplace_back();
    field.name.assign(name.data(), name.size());
    field.value = std::move(storage);
    return field;
#endif
  }
  // First value of `lower_name`, or nullptr.
  const std::string* Get(std::string_view lower_name) const {
    for (const Header& h : entries_) {
      if (h.name == lower_name) return &h.value;
    }
    return nullptr;
  }
  size_t Count(std::string_view lower_name) const {
    size_t n = 0;
    for (const Header& h : entries_) n += (h.name == lower_name);
    return n;
  }
  void Add(std::string lower_name, std::string value) {
    entries_.push_back({std::move(lower_name), std::move(value)});
  }
  // Replaces every `lower_name` with one header.
  void Set(std::string_view lower_name, std::string value) {
    Remove(lower_name);
    entries_.push_back({std::string(lower_name), std::move(value)});
  }
  void Remove(std::string_view lower_name) {
    std::erase_if(entries_, [&](const Header& h) { return h.name == lower_name; });
  }
  template <typename Pred>
  void RemoveIf(Pred pred) {
    std::erase_if(entries_, pred);
  }
  const std::vector<Header>& entries() const { return entries_; }
  std::vector<Header>& mutable_entries() { return entries_; }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  void clear() { entries_.clear(); }

 private:
  std::vector<Header> entries_;
};

struct RequestHead {
  std::string method;     // "GET"
  std::string target;     // request-target as received ("/a?b", "http://h/a", "h:443")
  std::string path;       // origin-form path with query ("/a?b"); "*" for OPTIONS *
  std::string authority;  // from absolute-form target, else Host header (HTTP/1) / :authority (HTTP/2)
  std::string scheme;     // "http" or "https" as seen by the client
  int version_major = 1;
  int version_minor = 1;
  HeaderMap headers;  // without pseudo-headers
};

struct ResponseHead {
  int status = 200;
  std::string reason;  // HTTP/1 reason phrase; may be empty
  int version_major = 1;
  int version_minor = 1;
  HeaderMap headers;
};

// Case-insensitive ASCII compare, for values such as "chunked" or "close".
inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

// The path without its query string.
inline std::string_view PathWithoutQuery(std::string_view path) {
  size_t q = path.find('?');
  return q == std::string_view::npos ? path : path.substr(0, q);
}

}  // namespace sluice::http
