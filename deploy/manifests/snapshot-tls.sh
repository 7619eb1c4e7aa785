#!/usr/bin/env bash
# Makes the snapshot stream's mutual-TLS material for deploy/manifests (the
# Helm chart makes its own) and stores it in three Secrets of sluice-system:
#   sluice-snapshot-ca              the CA (certificate and key; no pod mounts it)
#   sluice-controller-snapshot-tls  the controller's server certificate + ca.crt
#   sluice-proxy-snapshot-tls       the proxies' client certificate + ca.crt
#
#   deploy/manifests/snapshot-tls.sh          # before the first `kubectl apply -k`
#   deploy/manifests/snapshot-tls.sh          # again later: rotates the two certificates
#
# An existing CA is kept, so running it again issues new controller and
# proxy certificates under the same CA: the kubelet rewrites the mounted
# files and both processes re-read them within --grpc-tls-reload /
# --controller-tls-reload, without a restart and without dropping the
# stream. Delete sluice-snapshot-ca first to start over with a new CA (then
# proxies reconnect once both sides have the new files). Needs openssl and
# kubectl. See deploy/README.md, "Snapshot stream security".
set -euo pipefail

namespace=sluice-system
days="${SLUICE_CERT_DAYS:-365}"
ca_days="${SLUICE_CA_DAYS:-3650}"
controller=sluice-controller
# What the controller demands of a proxy (--grpc-client-identity in 30-controller.yaml).
proxy_identity="sluice-proxy.${namespace}.sluice.internal"

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
cd "${work}"

kubectl get namespace "${namespace}" >/dev/null 2>&1 || kubectl create namespace "${namespace}"
if kubectl -n "${namespace}" get secret sluice-snapshot-ca >/dev/null 2>&1; then
  kubectl -n "${namespace}" get secret sluice-snapshot-ca -o 'jsonpath={.data.tls\.crt}' | base64 -d > ca.crt
  kubectl -n "${namespace}" get secret sluice-snapshot-ca -o 'jsonpath={.data.tls\.key}' | base64 -d > ca.key
  echo "keeping the CA in secret/sluice-snapshot-ca"
else
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "${ca_days}" \
    -subj "/CN=sluice snapshot stream CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -keyout ca.key -out ca.crt 2>/dev/null
fi

issue() {  # issue NAME COMMON_NAME SUBJECT_ALT_NAMES EXTENDED_KEY_USAGE
  printf 'subjectAltName=%s\nextendedKeyUsage=%s\nbasicConstraints=CA:FALSE\n' "$3" "$4" > "$1.ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
    -keyout "$1.key" -out "$1.csr" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -days "${days}" -extfile "$1.ext" -out "$1.crt" 2>/dev/null
}
issue controller "${controller}" \
  "DNS:${controller},DNS:${controller}.${namespace},DNS:${controller}.${namespace}.svc,DNS:${controller}.${namespace}.svc.cluster.local" \
  serverAuth
issue proxy sluice-proxy "DNS:${proxy_identity}" clientAuth

apply_secret() {  # apply_secret NAME FILE-ARGS...
  local name="$1"
  shift
  kubectl -n "${namespace}" create secret generic "${name}" --type=kubernetes.io/tls "$@" \
    --dry-run=client -o yaml | kubectl apply -f -
}
apply_secret sluice-snapshot-ca --from-file=tls.crt=ca.crt --from-file=tls.key=ca.key
apply_secret sluice-controller-snapshot-tls \
  --from-file=tls.crt=controller.crt --from-file=tls.key=controller.key --from-file=ca.crt=ca.crt
apply_secret sluice-proxy-snapshot-tls \
  --from-file=tls.crt=proxy.crt --from-file=tls.key=proxy.key --from-file=ca.crt=ca.crt
