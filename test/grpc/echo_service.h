#pragma once
// The Echo service (echo.proto) as a grpc++ synchronous service, and a
// server around it: plaintext h2c, or TLS when a certificate is given.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "test/grpc/echo.grpc.pb.h"

namespace grpc {
class Server;
}

namespace sluice::grpctest {

// Messages up to this size either way (the gRPC default is 4 MiB, which a
// 4 MiB payload plus framing would exceed).
inline constexpr int kMaxMessageBytes = 64 * 1024 * 1024;

class EchoService final : public Echo::Service {
 public:
  ::grpc::Status Unary(::grpc::ServerContext* context, const Msg* request, Msg* reply) override;
  ::grpc::Status Bidi(::grpc::ServerContext* context, ::grpc::ServerReaderWriter<Msg, Msg>* stream) override;
  ::grpc::Status ServerStream(::grpc::ServerContext* context, const Msg* request,
                              ::grpc::ServerWriter<Msg>* writer) override;

  int64_t cancelled_calls() const { return cancelled_.load(); }

 private:
  // Fills the reply-only fields.
  void Stamp(::grpc::ServerContext* context, Msg* reply) const;
  // Sleeps up to `ms`, in small steps; false (and counted) when the call
  // was cancelled meanwhile.
  bool SleepUnlessCancelled(::grpc::ServerContext* context, int ms);
  ::grpc::Status Cancelled();

  std::atomic<int64_t> cancelled_{0};
};

struct ServerOptions {
  std::string listen;    // "127.0.0.1:PORT"; port 0 picks one
  std::string cert_pem;  // both set: TLS (ALPN h2); else plaintext h2c
  std::string key_pem;
};

// Starts a server for `service` (which must outlive it); `*port` receives
// the bound port. Null when the address cannot be bound.
std::unique_ptr<::grpc::Server> StartServer(EchoService* service, const ServerOptions& options, int* port);

}  // namespace sluice::grpctest
