#include "controlplane/server/snapshot_server.h"

#include <algorithm>
#include <deque>

#include "controlplane/metrics/controller_metrics.h"

#include <grpcpp/grpcpp.h>

#include <utility>

#include <nlohmann/json.hpp>

#include "controlplane/server/json_log.h"
#include "controlplane/server/resource_set.h"
#include "sluice/v1/snapshot_service.grpc.pb.h"

namespace sluice::server {

using sluice::v1::StreamRequest;
using sluice::v1::StreamResponse;

class SnapshotService final : public sluice::v1::SnapshotService::Service {
 public:
  explicit SnapshotService(SnapshotServer& owner) : owner_(owner) {}

  grpc::Status Stream(grpc::ServerContext* context,
                      grpc::ServerReaderWriter<StreamResponse, StreamRequest>* stream) override {
    sluice::Status result = owner_.RunStream(context, stream);
    if (result.ok()) return grpc::Status::OK;
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, result.message());
  }

 private:
  SnapshotServer& owner_;
};

// Per-stream protocol state. Guarded by SnapshotServer::mu_; `wake` is
// signalled when the stream may have something to send or must end.
struct SnapshotServer::StreamState {
  uint64_t serial = 0;
  std::string node_id;
  std::string peer;
  std::condition_variable wake;
  bool reader_done = false;

  // What the proxy holds according to its ACKs on this stream. Until the
  // first ACK the next response must be the full state.
  bool has_acked = false;
  std::string acked_version;
  // The state it acknowledged: deltas compare against it bucket by bucket.
  std::shared_ptr<const ResourceSet> acked;

  // The version the proxy rejected last; not offered again until it ACKs
  // something else (the desired state moved on in between).
  std::string nacked_version;

  struct Outstanding {
    std::string nonce;
    std::shared_ptr<const ResourceSet> state;  // the state the response leads to
    std::chrono::steady_clock::time_point sent_at = std::chrono::steady_clock::now();  // push latency
  };
  std::optional<Outstanding> outstanding;

  // Purge commands to send (CachePurge), in order.
  std::deque<sluice::v1::CachePurge> purges;
};

struct SnapshotServer::PurgeOp {
  // By stream serial: the proxies it was sent to.
  std::map<uint64_t, PurgeOutcome> outcomes;
  size_t answered = 0;
};

namespace {

std::string NormaliseListenAddress(const std::string& address) {
  // ":18000" is the documented spelling of "all interfaces"; gRPC wants a
  // host, and "[::]" makes it bind IPv6 and IPv4 wildcards alike.
  if (!address.empty() && address.front() == ':') return "[::]" + address;
  return address;
}

}  // namespace

SnapshotServer::SnapshotServer(ServerOptions options)
    : options_(std::move(options)), service_(std::make_unique<SnapshotService>(*this)) {}

SnapshotServer::~SnapshotServer() { Shutdown(); }

sluice::Status SnapshotServer::Start() {
  const std::string address = NormaliseListenAddress(options_.listen_address);
  grpc::ServerBuilder builder;
  int selected_port = 0;
  builder.AddListeningPort(address,
                           options_.credentials != nullptr ? options_.credentials : grpc::InsecureServerCredentials(),
                           &selected_port);
  builder.RegisterService(service_.get());
  // Without this gRPC sets SO_REUSEPORT and a second controller on the same
  // port would silently share the traffic instead of failing to start.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Proxies ping every 30 s to notice dead connections; accept that instead
  // of answering with GOAWAY "too_many_pings".
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || selected_port == 0) {
    return sluice::Status::Error("cannot listen on " + options_.listen_address +
                                 " for the snapshot stream (address in use or invalid)");
  }
  {
    std::lock_guard lock(mu_);
    grpc_server_ = std::move(server);
    bound_port_ = selected_port;
    debounce_thread_ = std::thread([this] { DebounceLoop(); });
  }
  LogJson("info", "snapshot server listening",
          {{"address", options_.listen_address},
           {"port", selected_port},
           {"transport", options_.credentials != nullptr ? "mutual TLS" : "plaintext"}});
  return sluice::Status::Ok();
}

void SnapshotServer::Shutdown() {
  std::unique_ptr<grpc::Server> server;
  {
    std::lock_guard lock(mu_);
    shutting_down_ = true;
    server = std::move(grpc_server_);
    for (StreamState* stream : streams_) stream->wake.notify_all();
    debounce_cv_.notify_all();
    purge_cv_.notify_all();
  }
  // Stream handlers see shutting_down_ and return; the deadline cancels any
  // call still blocked in its first Read.
  if (server != nullptr) {
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server->Wait();
  }
  if (debounce_thread_.joinable()) debounce_thread_.join();
}

void SnapshotServer::Publish(sluice::v1::Snapshot snapshot) {
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (!pending_.has_value() && pending_changes_.empty()) burst_first_ = now;
  burst_last_ = now;
  pending_ = std::move(snapshot);
  pending_changes_.clear();  // the full state includes whatever they changed
  debounce_cv_.notify_all();
}

void SnapshotServer::PublishClusters(std::vector<sluice::v1::Cluster> clusters) {
  if (clusters.empty()) return;
  SnapshotChange change;
  change.clusters = std::move(clusters);
  PublishChange(std::move(change));
}

namespace {

// `change` applied to a full state by name (a change published while a full
// state still waits for the debounce: the order of updates holds).
template <typename Message>
void PatchByName(google::protobuf::RepeatedPtrField<Message>* messages, std::vector<Message>& upserts,
                 const std::vector<std::string>& removed) {
  std::map<std::string, int> index;
  for (int i = 0; i < messages->size(); ++i) index.emplace(messages->Get(i).name(), i);
  for (Message& message : upserts) {
    auto found = index.find(message.name());
    if (found != index.end()) {
      messages->Mutable(found->second)->Swap(&message);
    } else {
      index.emplace(message.name(), messages->size());
      messages->Add()->Swap(&message);
    }
  }
  if (removed.empty()) return;
  const std::set<std::string> gone(removed.begin(), removed.end());
  google::protobuf::RepeatedPtrField<Message> kept;
  for (Message& message : *messages) {
    if (!gone.count(message.name())) kept.Add()->Swap(&message);
  }
  messages->Swap(&kept);
}

void AddUpdates(SnapshotChange& change, std::vector<ResourceUpdate>& updates) {
  for (sluice::v1::VirtualHost& host : change.virtual_hosts) {
    ResourceUpdate& update = updates.emplace_back();
    update.key = {sluice::v1::VIRTUAL_HOST, host.name()};
    update.resource.emplace().mutable_virtual_host()->Swap(&host);
  }
  for (sluice::v1::Cluster& cluster : change.clusters) {
    ResourceUpdate& update = updates.emplace_back();
    update.key = {sluice::v1::CLUSTER, cluster.name()};
    update.resource.emplace().mutable_cluster()->Swap(&cluster);
  }
  for (sluice::v1::Certificate& certificate : change.certificates) {
    ResourceUpdate& update = updates.emplace_back();
    update.key = {sluice::v1::CERTIFICATE, certificate.name()};
    update.resource.emplace().mutable_certificate()->Swap(&certificate);
  }
  for (const std::string& name : change.removed_virtual_hosts) updates.push_back({{sluice::v1::VIRTUAL_HOST, name}, {}});
  for (const std::string& name : change.removed_clusters) updates.push_back({{sluice::v1::CLUSTER, name}, {}});
  for (const std::string& name : change.removed_certificates) updates.push_back({{sluice::v1::CERTIFICATE, name}, {}});
}

}  // namespace

void SnapshotServer::PublishChange(SnapshotChange change) {
  if (change.empty()) return;
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (!pending_.has_value() && pending_changes_.empty()) burst_first_ = now;
  burst_last_ = now;
  if (pending_.has_value()) {
    PatchByName(pending_->mutable_virtual_hosts(), change.virtual_hosts, change.removed_virtual_hosts);
    PatchByName(pending_->mutable_clusters(), change.clusters, change.removed_clusters);
    PatchByName(pending_->mutable_certificates(), change.certificates, change.removed_certificates);
  } else {
    pending_changes_.push_back(std::move(change));
  }
  debounce_cv_.notify_all();
}

void SnapshotServer::DebounceLoop() {
  std::unique_lock lock(mu_);
  while (!shutting_down_) {
    if (!pending_.has_value() && pending_changes_.empty()) {
      debounce_cv_.wait(lock);
      continue;
    }
    // Leading edge after a quiet period; otherwise `debounce` after the
    // last publish (a throttle: waiting for the burst to end would add a
    // whole `debounce` to every change of a steady trickle), capped.
    const bool quiet = !last_publish_.has_value() || burst_first_ - *last_publish_ >= options_.debounce;
    const auto due = quiet ? burst_first_
                           : std::min(std::max(burst_first_, *last_publish_ + options_.debounce),
                                      burst_first_ + options_.debounce_cap);
    if (std::chrono::steady_clock::now() < due) {
      debounce_cv_.wait_until(lock, due);
      continue;
    }
    std::optional<sluice::v1::Snapshot> snapshot = std::move(pending_);
    pending_.reset();
    std::vector<SnapshotChange> changes = std::move(pending_changes_);
    pending_changes_.clear();
    last_publish_ = std::chrono::steady_clock::now();
    lock.unlock();
    MakeCurrent(std::move(snapshot), std::move(changes));
    lock.lock();
  }
}

void SnapshotServer::MakeCurrent(std::optional<sluice::v1::Snapshot> snapshot,
                                 std::vector<SnapshotChange> changes) {
  const auto started = std::chrono::steady_clock::now();
  std::shared_ptr<const ResourceSet> previous;
  {
    std::lock_guard lock(mu_);
    previous = current_;
  }
  // Only the debounce thread replaces current_, so `previous` stays what we
  // build on; unchanged resources share its entries instead of being copied.
  std::vector<std::string> duplicates;
  std::shared_ptr<ResourceSet> next;
  if (snapshot.has_value()) {
    next = std::make_shared<ResourceSet>(BuildResourceSet(*snapshot, &duplicates, previous.get()));
  } else if (previous != nullptr) {
    std::vector<ResourceUpdate> updates;
    for (SnapshotChange& change : changes) AddUpdates(change, updates);
    next = std::make_shared<ResourceSet>(WithUpdates(*previous, std::move(updates)));
  } else {
    LogJson("error", "change before the first snapshot ignored", {{"changes", changes.size()}});
    return;
  }
  for (const std::string& duplicate : duplicates) {
    LogJson("error", "duplicate resource in snapshot", {{"error", duplicate}});
  }
  std::lock_guard lock(mu_);
  // Content-addressed versions: equal version means equal resources, so a
  // re-translation that changed nothing reaches no proxy.
  if (current_ != nullptr && current_->version == next->version) return;
  current_ = std::move(next);
  LogJson("info", "snapshot published",
          {{"version", current_->version},
           {"resources", current_->size()},
           {"kind", snapshot.has_value() ? "full" : "change"},
           // Building the new state (hashing); the controller's share of a
           // change's way to the proxies, with translation.
           {"build_ms", std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count()}});
  for (StreamState* stream : streams_) stream->wake.notify_all();
}

std::string SnapshotServer::current_version() const {
  std::lock_guard lock(mu_);
  return current_ == nullptr ? std::string() : current_->version;
}

bool SnapshotServer::has_snapshot() const {
  std::lock_guard lock(mu_);
  return current_ != nullptr;
}

sluice::v1::Snapshot SnapshotServer::CurrentSnapshot(std::string* version) const {
  std::shared_ptr<const ResourceSet> current;
  {
    std::lock_guard lock(mu_);
    current = current_;
  }
  sluice::v1::Snapshot snapshot;
  if (version != nullptr) version->clear();
  if (current == nullptr) return snapshot;
  if (version != nullptr) *version = current->version;
  for (const auto& [key, entry] : current->Sorted()) {
    const sluice::v1::Resource& resource = entry->resource;
    if (resource.has_virtual_host()) *snapshot.add_virtual_hosts() = resource.virtual_host();
    if (resource.has_cluster()) *snapshot.add_clusters() = resource.cluster();
    if (resource.has_certificate()) *snapshot.add_certificates() = resource.certificate();
  }
  return snapshot;
}

std::vector<NodeStatus> SnapshotServer::Nodes() const {
  std::lock_guard lock(mu_);
  std::vector<NodeStatus> nodes;
  nodes.reserve(nodes_.size());
  for (const auto& [id, status] : nodes_) nodes.push_back(status);
  return nodes;
}

namespace {
nlohmann::ordered_json RejectedJson(const std::vector<NodeStatus::RejectedResource>& rejected) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const NodeStatus::RejectedResource& r : rejected) {
    out.push_back({{"type", r.type}, {"name", r.name}, {"error", r.error}});
  }
  return out;
}
}  // namespace

std::string SnapshotServer::NodesJson() const {
  const std::string version = current_version();
  nlohmann::ordered_json nodes = nlohmann::ordered_json::array();
  for (const NodeStatus& node : Nodes()) {
    nodes.push_back({
        {"node", node.node_id},
        {"connected", node.connected},
        {"peer", node.peer},
        {"applied_version", node.applied_version},
        {"up_to_date", !version.empty() && node.applied_version == version},
        {"pending_version", node.pending_version},
        {"last_nacked_version", node.last_nacked_version},
        {"last_error", node.last_error},
        {"rejected_resources", RejectedJson(node.rejected_resources)},
        {"connected_at", Rfc3339(node.connected_at)},
        {"last_ack_at", Rfc3339(node.last_ack_at)},
        {"last_nack_at", Rfc3339(node.last_nack_at)},
        {"disconnected_at", Rfc3339(node.disconnected_at)},
    });
  }
  nlohmann::ordered_json body = {{"version", version}, {"nodes", std::move(nodes)}};
  return body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

void SnapshotServer::RecordNodeLocked(const StreamState& state,
                                      const std::function<void(NodeStatus&)>& update) {
  // A node that reconnected is described by its newest stream; an old stream
  // that is still winding down must not overwrite that.
  auto owner = node_stream_owner_.find(state.node_id);
  if (owner == node_stream_owner_.end() || owner->second != state.serial) return;
  update(nodes_[state.node_id]);
}

void SnapshotServer::PruneDepartedNodesLocked() {
  const auto horizon = std::chrono::system_clock::now() - std::chrono::hours(1);
  for (auto node = nodes_.begin(); node != nodes_.end();) {
    if (!node->second.connected && node->second.disconnected_at < horizon) {
      node_stream_owner_.erase(node->first);
      node = nodes_.erase(node);
    } else {
      ++node;
    }
  }
}

bool SnapshotServer::NeedsResponse(const StreamState& state) const {
  if (current_ == nullptr || state.outstanding.has_value()) return false;
  if (state.has_acked && current_->version == state.acked_version) return false;
  return current_->version != state.nacked_version;
}

sluice::Status SnapshotServer::RunStream(grpc::ServerContext* context, Stream* stream) {
  StreamRequest hello;
  if (!stream->Read(&hello)) return sluice::Status::Ok();  // gone before saying who it is
  if (hello.node_id().empty()) return sluice::Status::Error("the first request must carry node_id");

  StreamState state;
  state.node_id = hello.node_id();
  state.peer = context->peer();
  {
    std::lock_guard lock(mu_);
    if (shutting_down_) return sluice::Status::Error("controller is shutting down");
    state.serial = next_stream_serial_++;
    streams_.insert(&state);
    PruneDepartedNodesLocked();
    node_stream_owner_[state.node_id] = state.serial;
    NodeStatus& node = nodes_[state.node_id];
    node.node_id = state.node_id;
    node.peer = state.peer;
    node.connected = true;
    node.connected_at = std::chrono::system_clock::now();
    node.pending_version.clear();
    if (!hello.applied_version().empty()) node.applied_version = hello.applied_version();
  }
  LogJson("info", "proxy connected",
          {{"node", state.node_id}, {"peer", state.peer}, {"applied_version", hello.applied_version()}});

  // gRPC's synchronous API allows one Read and one Write in flight at once:
  // answers are read on a helper thread while this one writes.
  std::thread reader([this, &state, stream] { ReadAnswers(state, stream); });

  std::unique_lock lock(mu_);
  while (true) {
    state.wake.wait(lock, [&] {
      return shutting_down_ || state.reader_done || !state.purges.empty() || NeedsResponse(state);
    });
    if (shutting_down_ || state.reader_done) break;
    if (!state.purges.empty()) {
      // A command: no version, no nonce, nothing outstanding.
      StreamResponse command;
      *command.mutable_purge() = std::move(state.purges.front());
      state.purges.pop_front();
      lock.unlock();
      const bool written = stream->Write(command);
      lock.lock();
      if (!written) break;
      continue;
    }

    std::shared_ptr<const ResourceSet> target = current_;
    std::shared_ptr<const ResourceSet> acked = state.has_acked ? state.acked : nullptr;
    const std::string nonce = std::to_string(next_nonce_++);
    state.outstanding = StreamState::Outstanding{nonce, target};
    RecordNodeLocked(state, [&](NodeStatus& node) { node.pending_version = target->version; });
    lock.unlock();

    StreamResponse response = acked != nullptr ? BuildResponse(*target, *acked) : BuildResponse(*target, nullptr);
    response.set_nonce(nonce);
    const bool written = stream->Write(response);
    lock.lock();
    if (!written) break;
  }
  const bool shutting_down = shutting_down_;
  const bool reader_done = state.reader_done;
  lock.unlock();

  // Unblocks the reader's pending Read when this side ends the stream.
  if (!reader_done) context->TryCancel();
  reader.join();

  lock.lock();
  streams_.erase(&state);
  RecordNodeLocked(state, [](NodeStatus& node) {
    node.connected = false;
    node.pending_version.clear();
    node.disconnected_at = std::chrono::system_clock::now();
  });
  lock.unlock();
  LogJson("info", "proxy disconnected", {{"node", state.node_id}, {"peer", state.peer}});
  if (shutting_down) return sluice::Status::Error("controller is shutting down");
  return sluice::Status::Ok();
}

std::vector<SnapshotServer::PurgeOutcome> SnapshotServer::PurgeAll(const std::string& request,
                                                                   std::chrono::milliseconds timeout) {
  auto op = std::make_shared<PurgeOp>();
  std::unique_lock lock(mu_);
  const std::string id = std::to_string(next_purge_++);
  sluice::v1::CachePurge command;
  command.set_id(id);
  command.set_request(request);
  for (StreamState* stream : streams_) {
    // A node whose newer stream replaced this one is asked there.
    auto owner = node_stream_owner_.find(stream->node_id);
    if (stream->reader_done || owner == node_stream_owner_.end() || owner->second != stream->serial) continue;
    op->outcomes[stream->serial].node_id = stream->node_id;
    stream->purges.push_back(command);
    stream->wake.notify_all();
  }
  purges_[id] = op;
  purge_cv_.wait_for(lock, timeout, [&] { return shutting_down_ || op->answered == op->outcomes.size(); });
  purges_.erase(id);
  std::vector<PurgeOutcome> outcomes;
  for (auto& [serial, outcome] : op->outcomes) {
    if (!outcome.answered) outcome.error = "no answer within " + std::to_string(timeout.count()) + " ms";
    outcomes.push_back(std::move(outcome));
  }
  std::sort(outcomes.begin(), outcomes.end(),
            [](const PurgeOutcome& a, const PurgeOutcome& b) { return a.node_id < b.node_id; });
  return outcomes;
}

void SnapshotServer::ReadAnswers(StreamState& state, Stream* stream) {
  StreamRequest request;
  while (stream->Read(&request)) {
    std::unique_lock lock(mu_);
    if (!request.applied_version().empty()) {
      RecordNodeLocked(state, [&](NodeStatus& node) { node.applied_version = request.applied_version(); });
    }
    if (request.has_purge_result()) {
      auto op = purges_.find(request.purge_result().id());
      if (op != purges_.end()) {
        auto outcome = op->second->outcomes.find(state.serial);
        if (outcome != op->second->outcomes.end() && !outcome->second.answered) {
          outcome->second.answered = true;
          outcome->second.purged = request.purge_result().purged();
          outcome->second.error = request.purge_result().error();
          ++op->second->answered;
          purge_cv_.notify_all();
        }
      }
      continue;
    }
    if (request.nonce().empty()) continue;  // nothing answered, e.g. a repeated hello
    if (!state.outstanding.has_value() || state.outstanding->nonce != request.nonce()) {
      lock.unlock();
      LogJson("warn", "answer to an unknown nonce ignored",
              {{"node", state.node_id}, {"nonce", request.nonce()}, {"version", request.version()}});
      continue;
    }
    const std::shared_ptr<const ResourceSet> answered = state.outstanding->state;
    controlplane::ControllerMetrics::Get().Answered(
        request.error_detail().empty(),
        std::chrono::duration<double>(std::chrono::steady_clock::now() - state.outstanding->sent_at).count());
    state.outstanding.reset();
    const auto now = std::chrono::system_clock::now();
    if (request.error_detail().empty()) {
      state.has_acked = true;
      state.acked_version = answered->version;
      state.acked = answered;
      state.nacked_version.clear();
      RecordNodeLocked(state, [&](NodeStatus& node) {
        node.applied_version = answered->version;
        node.pending_version.clear();
        node.last_ack_at = now;
        node.rejected_resources.clear();  // sent again with every ACK while they persist
        for (const auto& rejected : request.rejected_resources()) {
          node.rejected_resources.push_back({sluice::v1::ResourceType_Name(rejected.resource().type()),
                                             rejected.resource().name(), rejected.error()});
        }
      });
      state.wake.notify_all();
      lock.unlock();
      LogJson("info", "snapshot applied", {{"node", state.node_id}, {"version", answered->version}});
    } else {
      state.nacked_version = answered->version;
      RecordNodeLocked(state, [&](NodeStatus& node) {
        node.pending_version.clear();
        node.last_nacked_version = answered->version;
        node.last_error = request.error_detail();
        node.last_nack_at = now;
      });
      state.wake.notify_all();
      lock.unlock();
      LogJson("warn", "snapshot rejected",
              {{"node", state.node_id},
               {"version", answered->version},
               {"error", request.error_detail()},
               {"applied_version", request.applied_version()}});
    }
  }
  std::lock_guard lock(mu_);
  state.reader_done = true;
  state.wake.notify_all();
}

}  // namespace sluice::server
