#pragma once
// Basic authentication of an Ingress (RoutePolicy.basic_auth and
// satisfy_any), as ingress-nginx reads it:
//   nginx.ingress.kubernetes.io/auth-type         basic (digest is refused: fails closed)
//   nginx.ingress.kubernetes.io/auth-secret       NAME or NAMESPACE/NAME; another namespace than the
//                                                 Ingress's is refused (ingress-nginx's default)
//   nginx.ingress.kubernetes.io/auth-secret-type  auth-file (default: key `auth`, an htpasswd file)
//                                                 | auth-map (each key a user, each value its hash)
//   nginx.ingress.kubernetes.io/auth-realm        WWW-Authenticate's realm (default "")
//   nginx.ingress.kubernetes.io/satisfy           all (default) | any: with an allow list
//                                                 (whitelist-source-range), an allowed client needs
//                                                 no credentials
// Whatever makes the configuration unusable (an auth-type other than
// basic, auth-secret missing or in another namespace, an unknown
// auth-secret-type, no such Secret, no usable user in it) is an Event and
// the route answers 503 (basic_auth.deny_all), as ingress-nginx denies such
// a location: never an open route. Entries the proxy must not accept (DES
// crypt, plaintext, unknown formats) are an Event each, naming the user and
// line; the other users still apply.
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "controlplane/translate/annotations.h"
#include "sluice/v1/snapshot.pb.h"

namespace sluice::translate {

struct AnnotatedBasicAuth {
  bool enabled = false;         // the Ingress asks for basic authentication
  v1::BasicAuthPolicy policy;   // realm; deny_all when the annotations are unusable
  std::string secret_namespace, secret_name;  // the Secret to read (empty when deny_all)
  bool auth_map = false;
  bool satisfy_any = false;
  std::vector<AnnotationProblem> problems;
};

// `annotations`: an Ingress's metadata.annotations (nullptr when absent).
AnnotatedBasicAuth BasicAuthFromAnnotations(const nlohmann::json* annotations, const std::string& ingress_namespace);

// The users of `secret` (a stored Secret: data base64, stringData as is)
// added to `policy`, sorted by name; one message per refused entry or
// unusable Secret ("Secret ns/name: line 3: user \"bob\": DES crypt is
// refused ..."). With no user left, policy.deny_all is set.
std::vector<std::string> ReadBasicAuthUsers(const nlohmann::json& secret, const std::string& label, bool auth_map,
                                            v1::BasicAuthPolicy& policy);

}  // namespace sluice::translate
