#pragma once
// Test-only: self-signed certificates made with the openssl command line.
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

}  // namespace sluice::testing
