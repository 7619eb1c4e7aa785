#pragma once
// The proxy end of sluice.v1.SnapshotService.Stream (protocol: see
// api/sluice/v1/snapshot_service.proto).
//
// Runs on its own thread: connects, merges each response into the last good
// state, hands the complete result to `apply`, answers ACK or NACK, and on
// any stream error reconnects with exponential backoff and full jitter,
// forever, until Stop(). While disconnected the proxy keeps serving what it
// has: state only changes through `apply`.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "dataplane/discovery/resource_state.h"
#include "sluice/v1/snapshot.pb.h"
#include "sluice/v1/snapshot_service.pb.h"

namespace grpc {
class ChannelCredentials;
class ClientContext;
}  // namespace grpc

namespace sluice::discovery {

struct ClientOptions {
  std::string controller_address;  // "127.0.0.1:18000"
  std::string node_id;
  // Mutual TLS (base/grpc_tls MutualTlsChannelCredentials), shared by every
  // reconnect so that rotated files are read by one watcher; null: plaintext.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // The name the controller's certificate must carry when it differs from
  // the host in controller_address ("" = that host).
  std::string server_name;
  // Runs a cache purge command from the controller (form-encoded admin
  // parameters): the objects removed, or an error. Null: purges are
  // answered with an error.
  std::function<sluice::Result<uint64_t>(const std::string& request)> purge;
  std::chrono::milliseconds initial_backoff{250};
  std::chrono::milliseconds max_backoff{10000};
};

// Called on the client's thread with the complete desired state. Return Ok
// once it is validated and in service (ACK), or an error to reject it (NACK);
// after an error the callee must still be serving what it had before.
// `state` is built for this call alone: the callee may move from it (and
// so avoid copying 10,000 virtual hosts).
using ApplyFn = std::function<sluice::Status(std::shared_ptr<sluice::v1::Snapshot> state,
                                             const std::string& version)>;

// The same, for a proxy that may apply a state without some of its
// resources (a partial ACK: see StreamRequest.rejected_resources).
struct ApplyResult {
  sluice::Status status;                                   // error: NACK
  std::vector<sluice::v1::ResourceError> rejected;         // with Ok: left out
};
using PartialApplyFn = std::function<ApplyResult(std::shared_ptr<sluice::v1::Snapshot> state,
                                                 const std::string& version)>;
// The same without building a message: `state.sources()` holds the
// resources as shared immutable objects and shares all but the changed
// nodes with the state accepted last, so that
// snapshot::Compile(state.sources(), version, ..., previous) costs what
// changed, not the size of the state. What sluice-proxy uses.
using StateApplyFn = std::function<ApplyResult(const ResourceState& state, const std::string& version)>;

// Counters for the proxy's /metrics and for tests.
struct ClientStats {
  uint64_t streams_started = 0;  // connection attempts
  uint64_t full_states = 0;      // responses with full_state = true
  uint64_t deltas = 0;           // incremental responses
  uint64_t acks = 0;
  uint64_t nacks = 0;
};

class SnapshotClient {
 public:
  SnapshotClient(ClientOptions options, ApplyFn apply);
  SnapshotClient(ClientOptions options, PartialApplyFn apply);
  SnapshotClient(ClientOptions options, StateApplyFn apply);
  ~SnapshotClient();  // Stop()
  SnapshotClient(const SnapshotClient&) = delete;
  SnapshotClient& operator=(const SnapshotClient&) = delete;

  void Start();
  // Cancels the stream and joins the thread. Idempotent.
  void Stop();

  // A stream is open and has delivered at least one response.
  bool connected() const { return connected_.load(); }
  // Version of the last state `apply` accepted ("" until then).
  std::string applied_version() const;
  ClientStats stats() const;

 private:
  void Run();
  // One stream from connect to error. Returns true if it got a response
  // (so the next reconnect starts from the initial backoff again).
  bool RunOneStream();
  void SleepBackoff(std::chrono::milliseconds ceiling);

  const ClientOptions options_;
  const StateApplyFn apply_;

  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  grpc::ClientContext* active_context_ = nullptr;  // guarded by mu_
  std::string applied_version_;                     // guarded by mu_
  ClientStats stats_;                               // guarded by mu_
  std::atomic<bool> connected_{false};
  std::thread thread_;

  // Only touched on the client thread.
  ResourceState last_good_;
};

}  // namespace sluice::discovery
