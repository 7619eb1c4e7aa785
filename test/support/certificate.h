#pragma once
// Test-only: certificates made with the openssl command line: self-signed
// ones, and a private CA with leaf certificates signed by it (mutual TLS).
#include <string>
#include <vector>

namespace sluice::testing {

struct Pem {
  std::string cert, key;
  std::string openssl_output;  // what openssl printed, for a failure message
};

// A self-signed ECDSA P-256 certificate with subject CN=`common_name` and the
// `dns_names` as subjectAltName (just the common name when empty), valid 30
// days. Written to `dir`/`file`.crt and `dir`/`file`.key and returned as PEM
// text; `cert` is empty when openssl failed.
Pem MakeSelfSignedCertificate(const std::string& dir, const std::string& file, const std::string& common_name,
                              const std::vector<std::string>& dns_names = {});

// A certificate authority (CA:TRUE, ECDSA P-256, 30 days) with subject
// CN=`common_name`, written to `dir`/`file`.crt and .key.
Pem MakeCertificateAuthority(const std::string& dir, const std::string& file, const std::string& common_name);

// A leaf certificate (ECDSA P-256, 30 days, serverAuth and clientAuth)
// signed by the CA in `ca_dir`/`ca_file`.crt and .key, with subject
// CN=`common_name` and the subject alternative names in openssl's syntax,
// e.g. {"DNS:controller.test", "URI:spiffe://sluice/default/proxy"}.
// Written to `dir`/`file`.crt and .key; `cert` is empty when openssl failed.
Pem MakeSignedCertificate(const std::string& dir, const std::string& file, const std::string& ca_dir,
                          const std::string& ca_file, const std::string& common_name,
                          const std::vector<std::string>& alt_names);

}  // namespace sluice::testing
