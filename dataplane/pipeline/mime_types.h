#pragma once
// The media type of a static file from its name's extension: a built-in
// table (the same answer on every host) completed by /etc/mime.types when
// the proxy's image has one. Read once, on first use (a site's stage warms
// it when the snapshot is compiled, off the request path).
#include <string_view>

namespace sluice::pipeline {

// "css/site.css" -> "text/css; charset=utf-8"; unknown: application/octet-stream.
std::string_view MimeTypeFor(std::string_view file_name);

}  // namespace sluice::pipeline
