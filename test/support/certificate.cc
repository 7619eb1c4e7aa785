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

Pem MakeCertificateAuthority(const std::string& dir, const std::string& file, const std::string& common_name) {
  const std::string cert = dir + "/" + file + ".crt", key = dir + "/" + file + ".key";
  Pem pem;
  pem.openssl_output = ShellOutput(
      "timeout 10 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=" +
      common_name + " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign" +
      " -keyout " + key + " -out " + cert + " 2>&1");
  pem.cert = ReadFile(cert);
  pem.key = ReadFile(key);
  return pem;
}

Pem MakeSignedCertificate(const std::string& dir, const std::string& file, const std::string& ca_dir,
                          const std::string& ca_file, const std::string& common_name,
                          const std::vector<std::string>& alt_names) {
  const std::string base = dir + "/" + file, ca = ca_dir + "/" + ca_file;
  std::string san;
  for (const std::string& name : alt_names) san += (san.empty() ? "" : ",") + name;
  WriteFileAtomically(base + ".ext", "subjectAltName=" + san +
                                         "\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n");
  Pem pem;
  pem.openssl_output = ShellOutput(
      "timeout 10 openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=" + common_name +
      " -keyout " + base + ".key -out " + base + ".csr 2>&1 && timeout 10 openssl x509 -req -in " + base +
      ".csr -CA " + ca + ".crt -CAkey " + ca + ".key -days 30 -extfile " + base + ".ext -out " + base + ".crt 2>&1");
  pem.cert = ReadFile(base + ".crt");
  pem.key = ReadFile(base + ".key");
  return pem;
}

}  // namespace sluice::testing
