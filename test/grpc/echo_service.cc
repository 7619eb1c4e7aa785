#include "test/grpc/echo_service.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <thread>

namespace sluice::grpctest {
namespace {

std::string Metadata(::grpc::ServerContext* context, const std::string& key) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find(key);
  return it == metadata.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

// Client metadata named x-echo-* (text, or binary when -bin) comes back as
// trailing metadata, and "x-echo-initial" as initial metadata: headers and
// trailers both ways.
void EchoMetadata(::grpc::ServerContext* context) {
  context->AddInitialMetadata("x-echo-initial", "initial");
  for (const auto& [key, value] : context->client_metadata()) {
    std::string name(key.data(), key.size());
    if (name.starts_with("x-echo-")) context->AddTrailingMetadata(name, std::string(value.data(), value.size()));
  }
}

::grpc::Status RequestedStatus(const Msg& request) {
  return ::grpc::Status(static_cast<::grpc::StatusCode>(request.fail_code()), request.fail_message());
}

}  // namespace

void EchoService::Stamp(::grpc::ServerContext* context, Msg* reply) const {
  reply->set_cancelled_calls(cancelled_.load());
  reply->set_forwarded_proto(Metadata(context, "x-forwarded-proto"));
  ::grpc::string_ref authority = context->ExperimentalGetAuthority();
  reply->set_authority(std::string(authority.data(), authority.size()));
}

bool EchoService::SleepUnlessCancelled(::grpc::ServerContext* context, int ms) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until) {
    if (context->IsCancelled()) {
      ++cancelled_;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

::grpc::Status EchoService::Cancelled() { return ::grpc::Status(::grpc::StatusCode::CANCELLED, "cancelled"); }

::grpc::Status EchoService::Unary(::grpc::ServerContext* context, const Msg* request, Msg* reply) {
  EchoMetadata(context);
  if (request->sleep_ms() > 0 && !SleepUnlessCancelled(context, request->sleep_ms())) return Cancelled();
  if (request->fail_code() != 0) return RequestedStatus(*request);
  *reply = *request;
  Stamp(context, reply);
  return ::grpc::Status::OK;
}

::grpc::Status EchoService::ServerStream(::grpc::ServerContext* context, const Msg* request,
                                         ::grpc::ServerWriter<Msg>* writer) {
  Msg reply;
  reply.set_text(request->text());
  reply.set_payload(request->payload());
  Stamp(context, &reply);
  for (int i = 0; i < request->repeat(); ++i) {
    reply.set_seq(i);
    if (!writer->Write(reply)) {
      if (context->IsCancelled()) ++cancelled_;
      return Cancelled();
    }
  }
  if (request->sleep_ms() > 0 && !SleepUnlessCancelled(context, request->sleep_ms())) return Cancelled();
  if (request->fail_code() != 0) return RequestedStatus(*request);
  return ::grpc::Status::OK;
}

::grpc::Status EchoService::Bidi(::grpc::ServerContext* context, ::grpc::ServerReaderWriter<Msg, Msg>* stream) {
  Msg request;
  while (stream->Read(&request)) {
    if (request.fail_code() != 0) return RequestedStatus(request);
    if (request.sleep_ms() > 0 && !SleepUnlessCancelled(context, request.sleep_ms())) return Cancelled();
    Msg reply = request;
    Stamp(context, &reply);
    if (!stream->Write(reply)) break;
  }
  // The client half-closed (normal end) or the call is gone.
  if (context->IsCancelled()) {
    ++cancelled_;
    return Cancelled();
  }
  return ::grpc::Status::OK;
}

std::unique_ptr<::grpc::Server> StartServer(EchoService* service, const ServerOptions& options, int* port) {
  std::shared_ptr<::grpc::ServerCredentials> credentials;
  if (!options.cert_pem.empty() && !options.key_pem.empty()) {
    ::grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({options.key_pem, options.cert_pem});
    credentials = ::grpc::SslServerCredentials(ssl);
  } else {
    credentials = ::grpc::InsecureServerCredentials();
  }
  ::grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, credentials, port);
  builder.RegisterService(service);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  // Enough threads for many concurrent slow calls.
  builder.SetSyncServerOption(::grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 8);
  std::unique_ptr<::grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || *port == 0) return nullptr;
  return server;
}

}  // namespace sluice::grpctest
