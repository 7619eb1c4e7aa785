#pragma once
// Mutual TLS on the snapshot stream (sluice.v1.SnapshotService).
//
// Both ends read PEM files and re-read them every `reload_interval` (gRPC's
// FileWatcherCertificateProvider): a rotated certificate, key or CA bundle is
// used by the next handshake, while connections already established keep
// their session, so a rotation neither restarts a process nor drops a stream.
// Replace the files atomically (Kubernetes' Secret volumes do: they swap a
// symlink to a new directory), or a reload may pair an old key with a new
// certificate and the handshakes until the next reload fail.
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "base/status.h"

namespace grpc {
class ServerCredentials;
class ChannelCredentials;
}  // namespace grpc

namespace sluice::grpc_tls {

struct TlsFiles {
  std::string cert;  // PEM certificate chain, leaf first
  std::string key;   // PEM private key of the leaf
  std::string ca;    // PEM bundle: the peer's chain must end at one of these
  bool any() const { return !cert.empty() || !key.empty() || !ca.empty(); }
};

// Readable now, the certificate and key parse and belong together, the CA
// bundle holds at least one certificate: so that a wrong path or a mismatch
// fails at start with a message naming the file, instead of every handshake
// failing later. Messages name the file.
sluice::Status CheckFiles(const TlsFiles& files);

// Server side: the client must present a certificate that chains to
// `files.ca` and names `client_identity` among its subject alternative names
// (a URI SAN such as spiffe://sluice/ns/proxy, or a DNS SAN). Anything else
// fails the handshake, before a single request is read; `on_refused` is
// called with the reason (for the log).
std::shared_ptr<grpc::ServerCredentials> MutualTlsServerCredentials(
    const TlsFiles& files, const std::string& client_identity, std::chrono::seconds reload_interval,
    std::function<void(const std::string& reason)> on_refused = nullptr);

// Client side: presents `files.cert`, and accepts a server whose chain ends
// at `files.ca` and whose certificate names the host dialled (or the
// GRPC_SSL_TARGET_NAME_OVERRIDE_ARG channel argument, see ServerNameArgument).
std::shared_ptr<grpc::ChannelCredentials> MutualTlsChannelCredentials(const TlsFiles& files,
                                                                      std::chrono::seconds reload_interval);

// The channel argument that makes a client check `server_name` instead of
// the host it dials (e.g. dialling 10.0.0.7 for a certificate of
// sluice-controller.sluice.svc).
const char* ServerNameArgument();

// True when `target` ("127.0.0.1:18000", "[::1]:1", "localhost:1", or a
// gRPC address list "ipv4:127.0.0.1:1,127.0.0.1:2" whose every address is
// loopback) can only be reached from this machine. ":18000",
// "0.0.0.0:18000", "[::]:1" and any other host are not loopback.
bool IsLoopbackAddress(const std::string& target);

}  // namespace sluice::grpc_tls
