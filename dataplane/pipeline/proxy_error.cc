#include "dataplane/pipeline/proxy_error.h"

namespace sluice::pipeline {

int StatusForUpstreamError(ErrorCode code) {
  switch (code) {
    case ErrorCode::kConnectTimeout:
    case ErrorCode::kResponseTimeout:
    case ErrorCode::kIdleTimeout:
    case ErrorCode::kTunnelIdleTimeout:
      return 504;
    default:
      return 502;
  }
}

}  // namespace sluice::pipeline
