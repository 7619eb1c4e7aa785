#include "dataplane/pipeline/mime_types.h"

#include <fstream>
#include <sstream>
#include <string>
#include <unordered_map>

namespace sluice::pipeline {
namespace {

using MimeTable = std::unordered_map<std::string, std::string>;

// Text types carry a charset: browsers otherwise guess (and some guess wrong).
constexpr std::pair<const char*, const char*> kBuiltIn[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"txt", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"xml", "application/xml"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"webmanifest", "application/manifest+json"},
    {"wasm", "application/wasm"},
    {"pdf", "application/pdf"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/x-icon"},
    {"bmp", "image/bmp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"wav", "audio/wav"},
};

MimeTable Load() {
  MimeTable table;
  // /etc/mime.types: "type ext ext ..." lines, "#" comments.
  std::ifstream file("/etc/mime.types");
  std::string line;
  while (std::getline(file, line)) {
    if (line.empty() || line.front() == '#') continue;
    std::istringstream words(line);
    std::string type, extension;
    if (!(words >> type) || type.find('/') == std::string::npos) continue;
    while (words >> extension) table[extension] = type;
  }
  for (const auto& [extension, type] : kBuiltIn) table[extension] = type;  // the built-in table wins
  return table;
}

}  // namespace

std::string_view MimeTypeFor(std::string_view file_name) {
  static const MimeTable* const table = new MimeTable(Load());
  std::string_view base = file_name.substr(file_name.rfind('/') + 1);
  size_t dot = base.rfind('.');
  if (dot != std::string_view::npos && dot + 1 < base.size()) {
    std::string extension(base.substr(dot + 1));
    for (char& c : extension) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    if (auto it = table->find(extension); it != table->end()) return it->second;
  }
  return "application/octet-stream";
}

}  // namespace sluice::pipeline
