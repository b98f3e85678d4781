#!/bin/sh
# Makes a CA and a webhook serving certificate for running the operator outside a cluster
# (`locust-operator run --cert-dir DIR` or `locust-operator webhook --cert-dir DIR`) against a
# local API server (kind, minikube, k3d, ...), then prints the caBundle to put into the webhook
# configurations and the CRD's conversion webhook, which then call the operator by URL.
#
# Usage: certs/dev-certs.sh [--out DIR] [NAME...]
#
#   --out DIR  where to write ca.crt, ca.key, tls.crt and tls.key (default: dev/ next to
#              this script, i.e. certs/dev, which git ignores). A ca.crt/ca.key pair already
#              there is reused, so re-running (say, with other names) keeps the caBundle
#              already registered.
#   NAME...    extra DNS names or IP addresses for the serving certificate, besides localhost
#              and 127.0.0.1: the address the API server uses to reach this machine, e.g.
#              host.docker.internal (kind on Docker Desktop) or 172.17.0.1 (the Docker bridge).
#
# Needs only openssl (OpenSSL 1.1.1 or newer, or LibreSSL) and a POSIX shell. Certificates are
# ECDSA P-256; the serving certificate is valid for 365 days, the CA for 10 years.
set -eu

usage() {
    sed -n '2,/^set -eu$/{/^set -eu$/d;s/^# \{0,1\}//;p;}' "$0"
}

# An IPv4 or IPv6 address (loosely: the certificate tools check the rest).
is_ip() {
    case "$1" in
        *[!0-9.]*) ;;
        *.*.*.*) return 0 ;;
    esac
    case "$1" in
        *:*) case "$1" in *[!0-9A-Fa-f:.]*) return 1 ;; *) return 0 ;; esac ;;
    esac
    return 1
}

out="$(dirname "$0")/dev"
# subjectAltName: localhost and 127.0.0.1, then each extra name as DNS or IP.
sans="DNS:localhost,IP:127.0.0.1"
while [ $# -gt 0 ]; do
    case "$1" in
        -h | --help)
            usage
            exit 0
            ;;
        -o | --out)
            [ $# -ge 2 ] || { echo "error: $1 needs a directory" >&2; exit 2; }
            out="$2"
            shift 2
            ;;
        --out=*)
            out="${1#--out=}"
            shift
            ;;
        -*)
            echo "error: unknown option $1 (see --help)" >&2
            exit 2
            ;;
        *)
            if is_ip "$1"; then
                sans="$sans,IP:$1"
            else
                case "$1" in
                    "" | *[!A-Za-z0-9.*-]*)
                        echo "error: '$1' is neither a DNS name nor an IP address" >&2
                        exit 2
                        ;;
                esac
                sans="$sans,DNS:$1"
            fi
            shift
            ;;
    esac
done

command -v openssl > /dev/null 2>&1 || { echo "error: openssl is not installed" >&2; exit 1; }

umask 077
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/dev-certs.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

cat > "$work/openssl.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $sans
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

if [ -s "$out/ca.crt" ] && [ -s "$out/ca.key" ]; then
    echo "reusing the CA in $out (delete ca.crt and ca.key for a new one)" >&2
else
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/ca.key" 2> /dev/null
    openssl req -new -x509 -config "$work/openssl.cnf" -extensions ca -days 3650 \
        -key "$work/ca.key" -subj "/CN=locust-operator development CA" -out "$work/ca.crt"
    mv "$work/ca.key" "$out/ca.key"
    mv "$work/ca.crt" "$out/ca.crt"
fi

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/tls.key" 2> /dev/null
openssl req -new -config "$work/openssl.cnf" -key "$work/tls.key" \
    -subj "/CN=locust-operator-webhook" -out "$work/tls.csr"
openssl x509 -req -in "$work/tls.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" \
    -CAcreateserial -CAserial "$work/ca.srl" -days 365 \
    -extfile "$work/openssl.cnf" -extensions leaf -out "$work/tls.crt" 2> /dev/null
openssl verify -CAfile "$out/ca.crt" "$work/tls.crt" > /dev/null
# The key before the certificate: the operator ignores a pair that does not match and retries.
mv "$work/tls.key" "$out/tls.key"
mv "$work/tls.crt" "$out/tls.crt"
chmod 600 "$out/ca.key" "$out/tls.key"
chmod 644 "$out/ca.crt" "$out/tls.crt"

ca_bundle=$(openssl base64 -A -in "$out/ca.crt")
cat <<EOF
Wrote $out/tls.crt and $out/tls.key (serving certificate for $(echo "$sans" | sed 's/,/, /g')),
signed by the CA $out/ca.crt.

Run the operator with them (the files are re-read every 10s, no restart needed on renewal):

  locust-operator run --cert-dir $out

Point the API server at it: in both webhook configurations (webhooks/) and in the CRD's
conversion webhook (deploy/crd.yaml), replace clientConfig.service with
  clientConfig:
    url: https://<one of the names above>:9443/mutate   (/validate, /convert)
    caBundle: <the caBundle below>

caBundle (base64 of $out/ca.crt):
$ca_bundle
EOF
