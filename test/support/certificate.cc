#include "test/support/certificate.h"

#include "test/support/process.h"
#include "test/support/shell.h"

namespace sluice::testing {

Pem MakeSelfSignedCertificate(const std::string& dir, const std::string& file, const std::string& common_name,
                              const std::vector<std::string>& dns_names) {
  std::string alt_names;
  for (const std::string& name : dns_names.empty() ? std::vector<std::string>{common_name} : dns_names) {
    alt_names += (alt_names.empty() ? "DNS:" : ",DNS:") + name;
  }
  std::string cert = dir + "/" + file + ".crt", key = dir + "/" + file + ".key";
  Pem pem;
  pem.openssl_output = ShellOutput(
      "timeout 10 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=" +
      common_name + " -addext subjectAltName=" + alt_names + " -keyout " + key + " -out " + cert + " 2>&1");
  pem.cert = ReadFile(cert);
  pem.key = ReadFile(key);
  return pem;
}

}  // namespace sluice::testing
