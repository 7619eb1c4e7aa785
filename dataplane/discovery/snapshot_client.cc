#include "dataplane/discovery/snapshot_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <random>
#include <utility>

#include "base/grpc_tls/grpc_tls.h"
#include "dataplane/common/log.h"
#include "sluice/v1/snapshot_service.grpc.pb.h"

namespace sluice::discovery {

using sluice::v1::StreamRequest;
using sluice::v1::StreamResponse;

namespace {

std::shared_ptr<grpc::Channel> NewChannel(const ClientOptions& options) {
  grpc::ChannelArguments args;
  // Snapshots carry every certificate and key; do not cap them at 4 MiB.
  args.SetMaxReceiveMessageSize(-1);
  // A controller that vanished without a FIN (node lost, partition) is only
  // noticed through pings; the stream is otherwise quiet for hours.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Our own backoff decides when to reconnect. A private subchannel pool
  // keeps a new channel from inheriting gRPC's internal reconnect backoff
  // (up to two minutes) from a previous channel to the same address.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  if (!options.server_name.empty()) args.SetString(grpc_tls::ServerNameArgument(), options.server_name);
  return grpc::CreateCustomChannel(
      options.controller_address,
      options.credentials != nullptr ? options.credentials : grpc::InsecureChannelCredentials(), args);
}

// Merge + apply, wall time: how long the proxy took to serve a response.
std::string FormatMs(double ms) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", ms);
  return text;
}

}  // namespace

SnapshotClient::SnapshotClient(ClientOptions options, ApplyFn apply)
    : options_(std::move(options)),
      apply_([apply = std::move(apply)](const ResourceState& state, const std::string& version) {
        return ApplyResult{apply(state.ToSnapshot(), version), {}};
      }) {}

SnapshotClient::SnapshotClient(ClientOptions options, PartialApplyFn apply)
    : options_(std::move(options)),
      apply_([apply = std::move(apply)](const ResourceState& state, const std::string& version) {
        return apply(state.ToSnapshot(), version);
      }) {}

SnapshotClient::SnapshotClient(ClientOptions options, StateApplyFn apply)
    : options_(std::move(options)), apply_(std::move(apply)) {}

SnapshotClient::~SnapshotClient() { Stop(); }

void SnapshotClient::Start() {
  std::lock_guard lock(mu_);
  if (stopping_ || thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void SnapshotClient::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (active_context_ != nullptr) active_context_->TryCancel();
    stop_cv_.notify_all();
  }
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

std::string SnapshotClient::applied_version() const {
  std::lock_guard lock(mu_);
  return applied_version_;
}

ClientStats SnapshotClient::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void SnapshotClient::Run() {
  std::chrono::milliseconds ceiling = options_.initial_backoff;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    const bool got_response = RunOneStream();
    connected_ = false;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    if (got_response) ceiling = options_.initial_backoff;
    SleepBackoff(ceiling);
    ceiling = std::min(ceiling * 2, options_.max_backoff);
  }
}

void SnapshotClient::SleepBackoff(std::chrono::milliseconds ceiling) {
  // Full jitter: a fleet of proxies that lost the same controller does not
  // come back in lockstep.
  static thread_local std::mt19937_64 random{std::random_device{}()};
  std::uniform_int_distribution<int64_t> pick(0, std::max<int64_t>(ceiling.count(), 1));
  const std::chrono::milliseconds delay(pick(random));
  std::unique_lock lock(mu_);
  stop_cv_.wait_for(lock, delay, [this] { return stopping_; });
}

bool SnapshotClient::RunOneStream() {
  auto stub = sluice::v1::SnapshotService::NewStub(NewChannel(options_));
  grpc::ClientContext context;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    active_context_ = &context;
    ++stats_.streams_started;
  }

  std::unique_ptr<grpc::ClientReaderWriter<StreamRequest, StreamResponse>> stream =
      stub->Stream(&context);
  StreamRequest hello;
  hello.set_node_id(options_.node_id);
  hello.set_applied_version(applied_version());

  bool got_response = false;
  bool write_failed = !stream->Write(hello);
  StreamResponse response;
  while (!write_failed && stream->Read(&response)) {
    if (!got_response) {
      got_response = true;
      connected_ = true;
      log::Info("connected to controller", {{"controller", options_.controller_address}, {"node", options_.node_id}});
    }

    if (response.has_purge()) {
      // A command between snapshots: answered without a nonce.
      StreamRequest result;
      result.set_node_id(options_.node_id);
      result.set_applied_version(applied_version());
      result.mutable_purge_result()->set_id(response.purge().id());
      sluice::Result<uint64_t> purged = options_.purge
                                            ? options_.purge(response.purge().request())
                                            : sluice::Result<uint64_t>(sluice::Status::Error("this proxy has no cache"));
      if (purged.ok()) {
        result.mutable_purge_result()->set_purged(*purged);
      } else {
        result.mutable_purge_result()->set_error(purged.status().message());
      }
      write_failed = !stream->Write(result);
      continue;
    }

    // Merge onto a copy: the last good state only moves when apply() says so.
    const auto apply_started = std::chrono::steady_clock::now();
    sluice::Status verdict;
    std::vector<sluice::v1::ResourceError> rejected;
    sluice::Result<ResourceState> merged = last_good_.Merge(response);
    if (!merged.ok()) {
      verdict = merged.status();
    } else {
      try {
        ApplyResult result = apply_(*merged, response.version());
        verdict = std::move(result.status);
        rejected = std::move(result.rejected);
      } catch (const std::exception& error) {
        verdict = sluice::Status::Error(std::string("apply threw: ") + error.what());
      }
    }
    if (!verdict.ok() && verdict.message().empty()) verdict = sluice::Status::Error("rejected");
    const double apply_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - apply_started).count();

    {
      std::lock_guard lock(mu_);
      ++(response.full_state() ? stats_.full_states : stats_.deltas);
      ++(verdict.ok() ? stats_.acks : stats_.nacks);
      if (verdict.ok()) applied_version_ = response.version();
    }
    if (verdict.ok()) last_good_ = std::move(*merged);
    if (verdict.ok()) {
      log::Info("snapshot applied", {{"version", response.version()},
                                     {"full_state", response.full_state() ? "true" : "false"},
                                     {"changed", std::to_string(response.resources_size())},
                                     {"removed", std::to_string(response.removed_size())},
                                     {"bytes", std::to_string(response.ByteSizeLong())},
                                     {"apply_ms", FormatMs(apply_ms)}});
    } else {
      log::Warn("snapshot rejected, still serving the previous one",
                {{"version", response.version()}, {"error", verdict.message()}, {"applied_version", applied_version()}});
    }

    StreamRequest answer;
    answer.set_node_id(options_.node_id);
    answer.set_version(response.version());
    answer.set_nonce(response.nonce());
    answer.set_error_detail(verdict.ok() ? std::string() : verdict.message());
    answer.set_applied_version(applied_version());
    if (verdict.ok()) {
      for (sluice::v1::ResourceError& error : rejected) {
        log::Warn("resource left out of the applied snapshot",
                  {{"version", response.version()}, {"resource", error.resource().name()}, {"error", error.error()}});
        *answer.add_rejected_resources() = std::move(error);
      }
    }
    write_failed = !stream->Write(answer);
  }
  if (write_failed) {
    // Finish() wants the read side drained; a failed write means the call is
    // already dead, so cancel and drain what is left.
    context.TryCancel();
    while (stream->Read(&response)) {
    }
  }
  const grpc::Status status = stream->Finish();
  {
    std::lock_guard lock(mu_);
    active_context_ = nullptr;
    if (stopping_) return got_response;
  }
  log::Warn("controller stream ended", {{"controller", options_.controller_address},
                                        {"code", std::to_string(static_cast<int>(status.error_code()))},
                                        {"error", status.error_message()},
                                        {"applied_version", applied_version()}});
  return got_response;
}

}  // namespace sluice::discovery
