// sluice-grpc-echo: the Echo service (echo.proto) on one address, plaintext
// h2c or TLS. Prints "listening on PORT" once it accepts; runs until
// SIGTERM or SIGINT.
//
//   sluice-grpc-echo --listen 127.0.0.1:PORT [--tls-cert FILE --tls-key FILE]
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "test/grpc/echo_service.h"

namespace {

bool ReadWholeFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream text;
  text << in.rdbuf();
  *out = text.str();
  return true;
}

int Usage(const char* why) {
  std::fprintf(stderr, "sluice-grpc-echo: %s\nusage: sluice-grpc-echo --listen HOST:PORT [--tls-cert FILE --tls-key FILE]\n",
               why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  sluice::grpctest::ServerOptions options;
  std::string cert_path, key_path;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help") {
      Usage("the Echo gRPC service for tests");
      return 0;
    }
    if (i + 1 >= argc) return Usage(("missing value for " + flag).c_str());
    std::string value = argv[++i];
    if (flag == "--listen") {
      options.listen = value;
    } else if (flag == "--tls-cert") {
      cert_path = value;
    } else if (flag == "--tls-key") {
      key_path = value;
    } else {
      return Usage(("unknown flag " + flag).c_str());
    }
  }
  if (options.listen.empty()) return Usage("--listen is required");
  if (cert_path.empty() != key_path.empty()) return Usage("--tls-cert and --tls-key go together");
  if (!cert_path.empty() && (!ReadWholeFile(cert_path, &options.cert_pem) || !ReadWholeFile(key_path, &options.key_pem))) {
    return Usage("cannot read the TLS certificate or key");
  }

  // Block the stop signals before gRPC starts its threads, then wait for one.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  sluice::grpctest::EchoService service;
  int port = 0;
  std::unique_ptr<grpc::Server> server = sluice::grpctest::StartServer(&service, options, &port);
  if (server == nullptr) {
    std::fprintf(stderr, "sluice-grpc-echo: cannot listen on %s\n", options.listen.c_str());
    return 1;
  }
  std::printf("listening on %d\n", port);
  std::fflush(stdout);
  int signo = 0;
  sigwait(&stop, &signo);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  return 0;
}
