#pragma once
// Where the mirror stage (mirror_stage.h) hands request copies: a worker's
// sender (dataplane/mirror), reached through ExchangeState::mirror so that
// the pipeline knows nothing of sockets. Deliberately small: begin a copy,
// feed it the body, end it. (The general subrequest package may take this
// over later.)
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "dataplane/pipeline/exchange_state.h"

namespace sluice::pipeline {

// What a route mirrors to, compiled from v1::MirrorPolicy.
struct MirrorTarget {
  std::string cluster;  // cluster name in the snapshot
  std::string path;     // template: $request_uri, $uri, $args
  std::string host;     // the copy's Host
  bool request_body = true;
  std::chrono::milliseconds connect_timeout{0};   // 0: the proxy's default
  std::chrono::milliseconds response_timeout{0};  // 0: the proxy's default

  // `path` with the variables of `request` replaced.
  std::string ExpandPath(const http::RequestHead& request) const;
};

// One copy being gathered while the request comes in. Destroyed without
// End() (the client went away, the request was refused): abandoned, nothing
// is sent. Lives in the exchange's StageData slot kMirrorData.
class MirrorCopy : public StageData {
 public:
  // False: the copy was dropped (over the sender's body caps); forget it.
  virtual bool Body(std::string_view chunk) = 0;
  // The request is complete: the copy is sent, fire and forget.
  virtual void End() = 0;
};

class MirrorSink {
 public:
  virtual ~MirrorSink() = default;
  // A copy of `state.request` (after the request stages: the fields, the
  // added X-Forwarded-*) to `target`, or null when it is dropped (over the
  // in-flight cap, no such cluster).
  virtual std::unique_ptr<MirrorCopy> Begin(const MirrorTarget& target, const ExchangeState& state) = 0;
};

}  // namespace sluice::pipeline
