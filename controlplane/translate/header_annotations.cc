#include "controlplane/translate/header_annotations.h"

#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "controlplane/store/secret_filter.h"
#include "controlplane/translate/annotation_lookup.h"

namespace sluice::translate {
namespace {

using json = nlohmann::json;

constexpr std::string_view kSluice = "sluice.io/";
constexpr std::string_view kNginx = "nginx.ingress.kubernetes.io/";

// ingress-nginx's defaults (internal/ingress/annotations/cors).
constexpr std::string_view kDefaultMethods = "GET, PUT, POST, DELETE, PATCH, OPTIONS";
constexpr std::string_view kDefaultHeaders =
    "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization";
constexpr int64_t kDefaultMaxAge = 1728000;

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// RFC 9110 token characters.
bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view text) {
  if (text.empty() || text.size() > 256) return false;
  for (char c : text) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

// A field value: visible ASCII, spaces and tabs inside, or bytes >= 0x80;
// never CR, LF, NUL or another control byte.
bool IsFieldValue(std::string_view text) {
  for (unsigned char c : text) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

// "$name", "${name}": what nginx would have replaced. Sent literally it
// would be wrong, so it is refused.
bool LooksLikeNginxVariable(std::string_view text) {
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] != '$') continue;
    char c = text[i + 1];
    if (c == '{' || c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  }
  return false;
}

// Why a lower-case field name may not be set, or empty.
std::string_view RefusedName(std::string_view name, bool request) {
  for (std::string_view n : {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                             "upgrade", "proxy-authenticate", "proxy-authorization"}) {
    if (name == n) return "a hop-by-hop field";
  }
  if (name == "host") return request ? "the Host: use upstream-vhost" : "not a response field";
  if (name == "content-length") return "the body's framing (the proxy writes it)";
  if (request) {
    if (name == "expect" || name == "http2-settings") return "managed by the proxy";
    if (name.substr(0, 12) == "x-forwarded-") return "written by the proxy (what it saw), never configured";
  }
  return {};
}

class Reader {
 public:
  Reader(const json* annotations, std::vector<AnnotationProblem>& problems)
      : annotations_(annotations), problems_(problems) {}

  // The string value of sluice.io/SUFFIX, else nginx.ingress.kubernetes.io/SUFFIX
  // (when `nginx`); `name` is set to the one used. A non-string is a problem.
  std::optional<std::string> Text(std::string_view suffix, bool nginx, std::string& name) {
    // Both are looked up (and a malformed one reported) whichever wins.
    std::string sluice_name = std::string(kSluice) + std::string(suffix);
    std::optional<std::string> sluice_value = TextOf(sluice_name);
    std::string nginx_name = std::string(kNginx) + std::string(suffix);
    std::optional<std::string> nginx_value = nginx ? TextOf(nginx_name) : std::nullopt;
    if (sluice_value) {
      name = sluice_name;
      return sluice_value;
    }
    if (nginx_value) name = nginx_name;
    return nginx_value;
  }
  void Problem(const std::string& name, std::string message) {
    problems_.push_back(AnnotationProblem{name, std::move(message)});
  }

 private:
  std::optional<std::string> TextOf(const std::string& name) {
    const json* value = LookUpAnnotation(annotations_, name);
    if (value == nullptr) return std::nullopt;
    if (!value->is_string()) {
      Problem(name, name + ": must be a string, write the value in quotes");
      return std::nullopt;
    }
    return std::string(Trim(value->get<std::string>()));
  }

  const json* annotations_;
  std::vector<AnnotationProblem>& problems_;
};

// HOST or HOST:PORT (a DNS name, IPv4, or [IPv6]).
bool IsHostAndPort(std::string_view text) {
  if (text.empty() || text.size() > 261) return false;
  for (char c : text) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == ':' || c == '[' || c == ']' || c == '_';
    if (!ok) return false;
  }
  return text.front() != ':' && text.front() != '.' && text.front() != '-';
}

void ReadVhost(Reader& reader, v1::RoutePolicy& policy) {
  std::string name;
  std::optional<std::string> value = reader.Text("upstream-vhost", true, name);
  if (!value || value->empty()) return;
  if (LooksLikeNginxVariable(*value)) {
    reader.Problem(name, name + " \"" + *value + "\": nginx variables are not interpreted; write the host name");
    return;
  }
  if (!IsHostAndPort(*value)) {
    reader.Problem(name, name + " \"" + *value + "\": expected a host name or HOST:PORT");
    return;
  }
  policy.set_upstream_vhost(Lower(*value));
}

// The header set of the ConfigMap `reference` names, into `out`.
void ReadHeaderSet(Reader& reader, std::string_view suffix, bool nginx, bool request, const std::string& ns,
                   const ConfigMapFinder& find, google::protobuf::RepeatedPtrField<v1::HeaderField>& out) {
  std::string name;
  std::optional<std::string> reference = reader.Text(suffix, nginx, name);
  if (!reference || reference->empty()) return;
  std::string map_ns = ns, map_name = *reference;
  if (size_t slash = reference->find('/'); slash != std::string::npos) {
    map_ns = reference->substr(0, slash);
    map_name = reference->substr(slash + 1);
  }
  if (map_name.empty() || map_name.find('/') != std::string::npos) {
    reader.Problem(name, name + " \"" + *reference + "\": expected NAME or NAMESPACE/NAME of a ConfigMap");
    return;
  }
  if (map_ns != ns) {
    reader.Problem(name, name + " \"" + *reference + "\": the ConfigMap must be in the Ingress's namespace \"" + ns +
                             "\" (no header set is read from another namespace)");
    return;
  }
  std::string label = "ConfigMap " + map_ns + "/" + map_name;
  const json* config_map = find ? find(map_ns, map_name) : nullptr;
  const json* metadata = nullptr;
  if (config_map != nullptr && config_map->is_object()) {
    auto it = config_map->find("metadata");
    if (it != config_map->end()) metadata = &*it;
  }
  bool labelled = false;
  if (metadata != nullptr && metadata->is_object()) {
    auto labels = metadata->find("labels");
    if (labels != metadata->end() && labels->is_object()) {
      auto it = labels->find(store::kHeadersLabel);
      labelled = it != labels->end() && it->is_string() && it->get<std::string>() == "true";
    }
  }
  if (!labelled) {
    reader.Problem(name, name + ": " + label + " not found, or not labelled " + store::kHeadersLabel +
                             ": \"true\"; no header set");
    return;
  }
  auto data = config_map->find("data");
  if (data == config_map->end() || !data->is_object()) return;
  size_t bytes = 0;
  for (const auto& [key, value] : data->items()) {  // sorted by key: deterministic
    std::string where = name + ": " + label + " key \"" + key + "\"";
    if (!value.is_string()) continue;
    std::string_view text = Trim(value.get_ref<const std::string&>());
    if (!IsToken(key)) {
      reader.Problem(name, where + ": not a header field name (token characters only); skipped");
      continue;
    }
    std::string field = Lower(key);
    if (std::string_view why = RefusedName(field, request); !why.empty()) {
      reader.Problem(name, where + ": " + std::string(why) + "; skipped");
      continue;
    }
    if (!IsFieldValue(text)) {
      reader.Problem(name, where + ": the value holds CR, LF, NUL or another control character; skipped");
      continue;
    }
    if (LooksLikeNginxVariable(text)) {
      reader.Problem(name, where + ": \"" + std::string(text) +
                               "\" looks like an nginx variable, which Sluice does not interpret; skipped");
      continue;
    }
    bool duplicate = false;
    for (const v1::HeaderField& f : out) duplicate = duplicate || f.name() == field;
    if (duplicate) {
      reader.Problem(name, where + ": the same field name (case aside) twice; skipped");
      continue;
    }
    bytes += field.size() + text.size();
    if (static_cast<size_t>(out.size()) == kMaxHeaderFields || bytes > kMaxHeaderBytes) {
      reader.Problem(name, name + ": " + label + " has more than " + std::to_string(kMaxHeaderFields) +
                               " fields or " + std::to_string(kMaxHeaderBytes) + " bytes; the rest skipped");
      return;
    }
    v1::HeaderField* added = out.Add();
    added->set_name(std::move(field));
    added->set_value(std::string(text));
  }
}

// A comma-separated list whose items satisfy `ok`, joined with ", ";
// nothing (and a problem) when an item does not.
template <typename Ok>
std::optional<std::string> List(Reader& reader, const std::string& name, const std::string& text, Ok ok,
                                std::string_view expected) {
  std::string joined;
  std::string_view rest = text;
  while (true) {
    size_t comma = rest.find(',');
    std::string_view item = Trim(rest.substr(0, comma));
    if (!item.empty()) {
      if (!ok(item)) {
        reader.Problem(name, name + " \"" + text + "\": \"" + std::string(item) + "\" is not " +
                                 std::string(expected));
        return std::nullopt;
      }
      if (!joined.empty()) joined += ", ";
      joined += item;
    }
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return joined;
}

bool ValidOrigin(std::string_view text) {
  size_t sep = text.find("://");
  if (sep == std::string_view::npos) return false;
  std::string scheme = Lower(text.substr(0, sep));
  if (scheme != "http" && scheme != "https") return false;
  std::string_view rest = text.substr(sep + 3);
  std::string_view host = rest;
  if (size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    std::string_view port = rest.substr(colon + 1);
    if (port.empty() || port.size() > 5) return false;
    for (char c : port) {
      if (c < '0' || c > '9') return false;
    }
  }
  if (host.size() > 2 && host[0] == '*' && host[1] == '.') host.remove_prefix(2);
  if (host.empty() || host.front() == '.' || host.back() == '.') return false;
  char previous = '\0';
  for (char c : host) {
    bool label = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (c == '.' ? previous == '.' : !label) return false;
    previous = c;
  }
  return true;
}

void ReadCors(Reader& reader, v1::RoutePolicy& policy) {
  std::string name;
  std::optional<std::string> enable = reader.Text("enable-cors", true, name);
  if (!enable) return;
  Result<bool> on = ParseBoolean(*enable);
  if (!on.ok()) {
    reader.Problem(name, name + " \"" + *enable + "\": expected true or false");
    return;
  }
  if (!*on) return;
  v1::CorsPolicy& cors = *policy.mutable_cors();

  // Origins: an invalid entry is dropped and said; when none is left the
  // route allows no origin (never "*" in its place: fail closed).
  if (std::optional<std::string> origins = reader.Text("cors-allow-origin", true, name); origins && !origins->empty()) {
    std::string_view rest = *origins;
    bool any_valid = false;
    while (true) {
      size_t comma = rest.find(',');
      std::string_view item = Trim(rest.substr(0, comma));
      if (item == "*") {
        cors.add_allow_origins("*");
        any_valid = true;
      } else if (!item.empty()) {
        if (ValidOrigin(item)) {
          cors.add_allow_origins(Lower(item));
          any_valid = true;
        } else {
          reader.Problem(name, name + ": \"" + std::string(item) +
                                   "\" is not an origin like https://a.example, https://*.example.com:8443 or *; "
                                   "left out");
        }
      }
      if (comma == std::string_view::npos) break;
      rest = rest.substr(comma + 1);
    }
    if (!any_valid) {
      reader.Problem(name, name + ": no valid origin; cross-origin requests are allowed from none");
    }
  } else {
    cors.add_allow_origins("*");
  }

  auto letters = [](std::string_view item) {
    for (char c : item) {
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return false;
    }
    return true;
  };
  auto header_name = [](std::string_view item) {
    for (char c : item) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                c == '-' || c == '*';
      if (!ok) return false;
    }
    return true;
  };
  cors.set_allow_methods(std::string(kDefaultMethods));
  if (auto text = reader.Text("cors-allow-methods", true, name); text && !text->empty()) {
    if (auto list = List(reader, name, *text, letters, "a method (letters only); the default applies")) {
      cors.set_allow_methods(*list);
    }
  }
  cors.set_allow_headers(std::string(kDefaultHeaders));
  if (auto text = reader.Text("cors-allow-headers", true, name); text && !text->empty()) {
    if (auto list = List(reader, name, *text, header_name,
                         "a header name (letters, digits, _ - *); the default applies")) {
      cors.set_allow_headers(*list);
    }
  }
  if (auto text = reader.Text("cors-expose-headers", true, name); text && !text->empty()) {
    if (auto list = List(reader, name, *text, header_name, "a header name (letters, digits, _ - *); none exposed")) {
      cors.set_expose_headers(*list);
    }
  }
  cors.set_allow_credentials(true);
  if (auto text = reader.Text("cors-allow-credentials", true, name)) {
    Result<bool> credentials = ParseBoolean(*text);
    if (credentials.ok()) {
      cors.set_allow_credentials(*credentials);
    } else {
      reader.Problem(name, name + " \"" + *text + "\": expected true or false; the default (true) applies");
    }
  }
  cors.set_max_age_seconds(kDefaultMaxAge);
  if (auto text = reader.Text("cors-max-age", true, name)) {
    int64_t seconds = 0;
    bool digits = !text->empty() && text->size() <= 9;
    for (char c : *text) {
      if (c < '0' || c > '9') digits = false;
      if (digits) seconds = seconds * 10 + (c - '0');
    }
    if (digits) {
      cors.set_max_age_seconds(seconds);
    } else {
      reader.Problem(name, name + " \"" + *text + "\": expected whole seconds; the default (1728000) applies");
    }
  }
}

}  // namespace

void ReadHeaderAnnotations(const json* annotations, const std::string& ingress_namespace,
                           const ConfigMapFinder& find_config_map, v1::RoutePolicy& policy,
                           std::vector<AnnotationProblem>& problems) {
  Reader reader(annotations, problems);
  ReadVhost(reader, policy);
  ReadHeaderSet(reader, "proxy-set-headers", /*nginx=*/false, /*request=*/true, ingress_namespace, find_config_map,
                *policy.mutable_set_request_headers());
  ReadHeaderSet(reader, "custom-headers", /*nginx=*/true, /*request=*/false, ingress_namespace, find_config_map,
                *policy.mutable_set_response_headers());
  ReadCors(reader, policy);
}

}  // namespace sluice::translate
