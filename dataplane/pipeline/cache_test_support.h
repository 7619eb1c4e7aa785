#pragma once
// Shared by the cache stages' tests: a local reply's body read out, and a
// response head written as "name: value" lines.
#include <string>

#include "dataplane/http/message.h"
#include "dataplane/pipeline/body_source.h"
#include "dataplane/pipeline/local_reply.h"

namespace sluice::pipeline::cache_test {

inline std::string BodyOf(const LocalReply& reply) {
  if (reply.source == nullptr) return std::string(reply.text());
  std::string out;
  for (int i = 0; i < 1000; ++i) {
    BodySource::Chunk chunk = reply.source->Next(1 << 16);
    out.append(chunk.data);
    if (chunk.end || chunk.failed) break;
  }
  return out;
}

// `fields`: "name: value" lines separated by '\n'.
inline http::ResponseHead HeadOf(int status, const std::string& fields) {
  http::ResponseHead head;
  head.status = status;
  size_t at = 0;
  while (at < fields.size()) {
    size_t end = fields.find('\n', at);
    std::string line = fields.substr(at, end - at);
    size_t colon = line.find(':');
    head.headers.Add(line.substr(0, colon), line.substr(colon + 2));
    at = end == std::string::npos ? fields.size() : end + 1;
  }
  return head;
}

}  // namespace sluice::pipeline::cache_test
