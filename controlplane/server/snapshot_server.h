#pragma once
// The controller end of sluice.v1.SnapshotService.Stream (see
// api/sluice/v1/snapshot_service.proto for the protocol).
//
// Publish() hands over a new desired state; it is debounced (bursts of store
// changes become one push) and content-compared (an identical state is not
// pushed). Every connected proxy then gets a delta against what it last
// ACKed, with at most one response outstanding per stream.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "sluice/v1/snapshot.pb.h"

namespace grpc {
class Server;
class ServerContext;
class ServerCredentials;
template <class W, class R>
class ServerReaderWriter;
}  // namespace grpc

namespace sluice::v1 {
class StreamRequest;
class StreamResponse;
}  // namespace sluice::v1

namespace sluice::server {

struct ResourceSet;
class SnapshotService;

struct ServerOptions {
  // host:port; ":18000" (empty host) means all interfaces. Port 0 picks a
  // free port, see SnapshotServer::bound_port().
  std::string listen_address = "0.0.0.0:18000";
  // Mutual TLS (base/grpc_tls MutualTlsServerCredentials); null: plaintext,
  // which the controller only allows on loopback or with --grpc-insecure.
  std::shared_ptr<grpc::ServerCredentials> credentials;
  // At most one push per `debounce`, each as early as that allows: a
  // Publish() after a quiet period (nothing published for `debounce`) goes
  // out at once, so a lone change reaches the proxies without waiting.
  // Publish() calls within `debounce` of the previous publish coalesce and
  // go out `debounce` after it (not `debounce` after the last of them: a
  // change following another by 60 ms waits 40 ms, not 100), so a burst
  // costs one push per `debounce` and a steady trickle still gets out.
  std::chrono::milliseconds debounce{100};
  // The longest a change waits, should `debounce` be set above it.
  std::chrono::milliseconds debounce_cap{500};
};

struct NodeStatus {
  std::string node_id;
  std::string peer;                 // gRPC peer of the latest stream, "ipv4:1.2.3.4:5678"
  std::string applied_version;      // what the proxy says it serves
  std::string pending_version;      // sent, not answered yet
  std::string last_nacked_version;
  std::string last_error;           // error_detail of the last NACK
  // From the last ACK: resources the proxy left out of the version it
  // applied (a partial ACK, e.g. a certificate whose key does not match).
  struct RejectedResource {
    std::string type;  // "CERTIFICATE", "CLUSTER", "VIRTUAL_HOST"
    std::string name;
    std::string error;
  };
  std::vector<RejectedResource> rejected_resources;
  bool connected = false;
  std::chrono::system_clock::time_point connected_at{};
  std::chrono::system_clock::time_point last_ack_at{};
  std::chrono::system_clock::time_point last_nack_at{};
  std::chrono::system_clock::time_point disconnected_at{};
};

// A change to the last published state, by name: resources added or
// replaced, and resources removed. What an incremental translation
// produces (translate/incremental.h), so publishing it costs O(change).
struct SnapshotChange {
  std::vector<sluice::v1::VirtualHost> virtual_hosts;
  std::vector<sluice::v1::Cluster> clusters;
  std::vector<sluice::v1::Certificate> certificates;
  std::vector<std::string> removed_virtual_hosts, removed_clusters, removed_certificates;
  bool empty() const {
    return virtual_hosts.empty() && clusters.empty() && certificates.empty() && removed_virtual_hosts.empty() &&
           removed_clusters.empty() && removed_certificates.empty();
  }
};

class SnapshotServer {
 public:
  explicit SnapshotServer(ServerOptions options);
  ~SnapshotServer();  // Shutdown()
  SnapshotServer(const SnapshotServer&) = delete;
  SnapshotServer& operator=(const SnapshotServer&) = delete;

  // Binds and starts serving; the error names the address when it cannot.
  sluice::Status Start();
  int bound_port() const { return bound_port_; }

  // The new desired state. Streams that connect before the first publish
  // wait for it.
  void Publish(sluice::v1::Snapshot snapshot);
  // The desired state is the last published one with these Clusters
  // replaced (or added), by name: an endpoint change without handing over,
  // copying and hashing a snapshot of 10,000 hosts. Same debounce as
  // Publish(). Ignored before the first Publish().
  void PublishClusters(std::vector<sluice::v1::Cluster> clusters);
  // The desired state is the last published one with `change` applied: the
  // cost is that of the change (hashing the changed resources; proxies get
  // a delta found by comparing shared buckets), not of the whole state.
  // Same debounce as Publish(). Ignored before the first Publish().
  void PublishChange(SnapshotChange change);

  // Version of the state being served ("" before the first publish lands).
  std::string current_version() const;
  // True once a first snapshot went live (the /readyz condition).
  bool has_snapshot() const;

  // Every connected node, and disconnected ones for an hour after they left
  // (proxies come and go with their pods), sorted by node id.
  std::vector<NodeStatus> Nodes() const;
  // {"version": ..., "nodes": [{"node": ..., "connected": ..., ...}]}
  std::string NodesJson() const;
  // The current state as a Snapshot, each kind sorted by name (empty before
  // the first publish); `version`, if given, receives its version.
  sluice::v1::Snapshot CurrentSnapshot(std::string* version = nullptr) const;

  // A cache purge (form-encoded, dataplane/cache/purge) sent to every
  // connected proxy through its stream; waits up to `timeout` for their
  // answers. One outcome per proxy connected when it was sent, by node id.
  struct PurgeOutcome {
    std::string node_id;
    bool answered = false;
    uint64_t purged = 0;
    std::string error;  // the proxy's, or why it did not answer
  };
  std::vector<PurgeOutcome> PurgeAll(const std::string& request, std::chrono::milliseconds timeout);

  // Ends all streams and stops serving. Idempotent.
  void Shutdown();

 private:
  friend class SnapshotService;
  struct StreamState;

  void DebounceLoop();
  // A full state, or (without one) `changes` applied to the current state.
  void MakeCurrent(std::optional<sluice::v1::Snapshot> snapshot, std::vector<SnapshotChange> changes);

  // One Stream call from start to end; see the .cc for the state machine.
  using Stream = grpc::ServerReaderWriter<sluice::v1::StreamResponse, sluice::v1::StreamRequest>;
  sluice::Status RunStream(grpc::ServerContext* context, Stream* stream);
  void ReadAnswers(StreamState& state, Stream* stream);
  bool NeedsResponse(const StreamState& state) const;  // mu_ held
  void PruneDepartedNodesLocked();
  void RecordNodeLocked(const StreamState& state, const std::function<void(NodeStatus&)>& update);

  const ServerOptions options_;
  std::unique_ptr<SnapshotService> service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  int bound_port_ = 0;

  mutable std::mutex mu_;
  std::condition_variable debounce_cv_;
  bool shutting_down_ = false;
  std::shared_ptr<const ResourceSet> current_;  // null before the first publish
  std::optional<sluice::v1::Snapshot> pending_;
  std::vector<SnapshotChange> pending_changes_;  // on top of current_, in order; empty while pending_ is set
  std::chrono::steady_clock::time_point burst_first_{}, burst_last_{};
  std::optional<std::chrono::steady_clock::time_point> last_publish_;  // when the last state was taken
  std::set<StreamState*> streams_;
  std::map<std::string, NodeStatus> nodes_;
  std::map<std::string, uint64_t> node_stream_owner_;  // node id -> stream serial
  uint64_t next_stream_serial_ = 1;
  uint64_t next_nonce_ = 1;
  // Purges in flight: id -> the outcome per stream serial still expected.
  struct PurgeOp;
  std::map<std::string, std::shared_ptr<PurgeOp>> purges_;
  std::condition_variable purge_cv_;
  uint64_t next_purge_ = 1;
  std::thread debounce_thread_;
};

}  // namespace sluice::server
