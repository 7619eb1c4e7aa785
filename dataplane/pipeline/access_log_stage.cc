#include "dataplane/pipeline/access_log_stage.h"

namespace sluice::pipeline {

void AccessLogStage::OnComplete(const ExchangeState& state) const {
  if (state.access_log == nullptr) return;
  accesslog::Entry entry;
  entry.start = state.start_wall;
  if (state.client != nullptr) {
    entry.client_address = state.client->ip;
    entry.peer_address = state.client->peer_ip;
  }
  entry.method = state.request.method;
  entry.host = state.request.authority;
  entry.path = state.request.path;
  entry.status = state.status;
  entry.bytes_in = state.request_body_bytes;
  entry.bytes_out = state.bytes_out;
  entry.upstream_address = state.upstream_address;
  entry.upstream_attempts = state.upstream_attempts;
  entry.upstream_seconds = state.upstream_seconds;
  entry.total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - state.start).count();
  entry.snapshot_version = state.snapshot_version;
  entry.route_origin = state.route_origin;
  entry.cache = CacheOutcomeName(state.cache_outcome);
  entry.error = state.error.message;
  state.access_log->Log(entry);
}

void LogRefusedRequest(accesslog::AccessLog::Writer* log, const http::ClientInfo& client,
                       const http::RequestHead* request, int status, std::string_view reason, uint64_t bytes_out) {
  if (log == nullptr) return;
  accesslog::Entry entry;
  entry.start = std::chrono::system_clock::now();
  entry.client_address = client.ip;
  entry.peer_address = client.peer_ip;
  if (request != nullptr) {
    entry.method = request->method;
    entry.host = request->authority;
    entry.path = request->path;
  }
  entry.status = status;
  entry.bytes_out = bytes_out;
  entry.error = reason;
  log->Log(entry);
}

}  // namespace sluice::pipeline
