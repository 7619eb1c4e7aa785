#include "base/grpc_tls/grpc_tls.h"

#include <arpa/inet.h>
#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

namespace sluice::grpc_tls {

namespace {

sluice::Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return sluice::Status::Error(path + ": cannot read");
  std::ostringstream content;
  content << in.rdbuf();
  if (content.str().empty()) return sluice::Status::Error(path + ": empty");
  return content.str();
}

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* x509) const { X509_free(x509); }
};
struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};

std::unique_ptr<BIO, BioFree> MemoryBio(const std::string& pem) {
  return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// The server end's check of who the client is; the chain itself was
// verified against the CA bundle by then.
class ClientIdentityVerifier final : public grpc::experimental::ExternalCertificateVerifier {
 public:
  ClientIdentityVerifier(std::string identity, std::function<void(const std::string&)> on_refused)
      : identity_(std::move(identity)), on_refused_(std::move(on_refused)) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> /*callback*/, grpc::Status* sync_status) override {
    for (const grpc::string_ref& uri : request->uri_names()) {
      if (std::string(uri.data(), uri.size()) == identity_) return Accept(sync_status);
    }
    for (const grpc::string_ref& dns : request->dns_names()) {
      if (std::string(dns.data(), dns.size()) == identity_) return Accept(sync_status);
    }
    const std::string subject(request->common_name().data(), request->common_name().size());
    const std::string reason = "client certificate (CN=" + subject + ") does not name " + identity_ +
                               " among its subject alternative names";
    if (on_refused_) on_refused_(reason);
    *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED, reason);
    return true;  // answered synchronously
  }

  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {}

 private:
  static bool Accept(grpc::Status* sync_status) {
    *sync_status = grpc::Status::OK;
    return true;
  }

  const std::string identity_;
  const std::function<void(const std::string&)> on_refused_;
};

std::shared_ptr<grpc::experimental::FileWatcherCertificateProvider> FileProvider(const TlsFiles& files,
                                                                               std::chrono::seconds interval) {
  // gRPC raises anything below one second to one second.
  return std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      files.key, files.cert, files.ca, static_cast<unsigned int>(std::max<int64_t>(interval.count(), 1)));
}

}  // namespace

sluice::Status CheckFiles(const TlsFiles& files) {
  if (files.cert.empty() || files.key.empty() || files.ca.empty()) {
    return sluice::Status::Error("a certificate, its key and a CA bundle are all needed");
  }
  auto cert_pem = ReadWholeFile(files.cert);
  if (!cert_pem.ok()) return cert_pem.status();
  auto key_pem = ReadWholeFile(files.key);
  if (!key_pem.ok()) return key_pem.status();
  auto ca_pem = ReadWholeFile(files.ca);
  if (!ca_pem.ok()) return ca_pem.status();

  std::unique_ptr<X509, X509Free> cert(PEM_read_bio_X509(MemoryBio(*cert_pem).get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) return sluice::Status::Error(files.cert + ": no PEM certificate");
  std::unique_ptr<EVP_PKEY, KeyFree> key(
      PEM_read_bio_PrivateKey(MemoryBio(*key_pem).get(), nullptr, nullptr, nullptr));
  if (key == nullptr) return sluice::Status::Error(files.key + ": no PEM private key");
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return sluice::Status::Error(files.key + " is not the key of the certificate in " + files.cert);
  }
  std::unique_ptr<X509, X509Free> ca(PEM_read_bio_X509(MemoryBio(*ca_pem).get(), nullptr, nullptr, nullptr));
  if (ca == nullptr) return sluice::Status::Error(files.ca + ": no PEM certificate");
  ERR_clear_error();
  return sluice::Status::Ok();
}

std::shared_ptr<grpc::ServerCredentials> MutualTlsServerCredentials(
    const TlsFiles& files, const std::string& client_identity, std::chrono::seconds reload_interval,
    std::function<void(const std::string&)> on_refused) {
  grpc::experimental::TlsServerCredentialsOptions options(FileProvider(files, reload_interval));
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.set_certificate_verifier(grpc::experimental::ExternalCertificateVerifier::Create<ClientIdentityVerifier>(
      client_identity, std::move(on_refused)));
  return grpc::experimental::TlsServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> MutualTlsChannelCredentials(const TlsFiles& files,
                                                                      std::chrono::seconds reload_interval) {
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(FileProvider(files, reload_interval));
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_verify_server_certs(true);
  options.set_certificate_verifier(std::make_shared<grpc::experimental::HostNameCertificateVerifier>());
  return grpc::experimental::TlsCredentials(options);
}

const char* ServerNameArgument() { return GRPC_SSL_TARGET_NAME_OVERRIDE_ARG; }

bool IsLoopbackAddress(const std::string& target) {
  // gRPC's "ipv4:" / "ipv6:" targets list several addresses (replicas): all
  // of them must be loopback.
  for (const char* scheme : {"ipv4:", "ipv6:"}) {
    if (target.rfind(scheme, 0) != 0) continue;
    const std::string list = target.substr(std::strlen(scheme));
    if (list.empty()) return false;
    size_t start = 0;
    while (start <= list.size()) {
      const size_t comma = std::min(list.find(',', start), list.size());
      const std::string one = list.substr(start, comma - start);
      if (one.empty() || one.rfind("ipv", 0) == 0 || !IsLoopbackAddress(one)) return false;
      start = comma + 1;
    }
    return true;
  }
  std::string host = target;
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    host = close == std::string::npos ? std::string() : host.substr(1, close - 1);
  } else if (const size_t colon = host.rfind(':'); colon != std::string::npos && host.find(':') == colon) {
    host = host.substr(0, colon);  // "host:port"; a bare IPv6 literal has several colons
  }
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

}  // namespace sluice::grpc_tls
