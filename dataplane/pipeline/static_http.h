#pragma once
// What the static stage decides from a file's name alone. The HTTP rules of
// ranges, validators and preconditions it shares with the cache are in
// dataplane/http/conditional.
#include <string_view>

namespace sluice::pipeline {

// A file name with a content hash ("app.3f2a9c1e.js", "main-BdXw12Kq.css"):
// a dot- or dash-separated part of 8 to 64 letters and digits with at least
// one digit, before the extension. Such names change when their content does,
// so they may be cached for good (Cache-Control: immutable).
bool LooksHashed(std::string_view file_name);

}  // namespace sluice::pipeline
