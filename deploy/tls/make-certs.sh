#!/usr/bin/env bash
# Make a private CA and one certificate for the Dask scheduler, workers and clients.
#   deploy/tls/make-certs.sh OUT_DIR [HOSTNAME...]
# Writes OUT_DIR/{ca.pem,ca-key.pem,dask.pem,dask-key.pem}. Every Dask process of the
# cluster presents dask.pem and accepts only peers signed by ca.pem (mutual TLS), so a
# process without the key cannot join, submit work or read results. Keep ca-key.pem
# offline; distribute ca.pem, dask.pem and dask-key.pem as secrets.
set -euo pipefail
out=${1:?usage: make-certs.sh OUT_DIR [HOSTNAME...]}
shift || true
hosts=("localhost" "$@")
mkdir -p "$out"
umask 077
san="IP:127.0.0.1"
for h in "${hosts[@]}"; do san="$san,DNS:$h"; done
openssl req -x509 -newkey rsa:3072 -nodes -days 825 -subj "/CN=svi-lda dask CA" \
  -keyout "$out/ca-key.pem" -out "$out/ca.pem" 2>/dev/null
openssl req -newkey rsa:3072 -nodes -subj "/CN=svi-lda dask" \
  -keyout "$out/dask-key.pem" -out "$out/dask.csr" 2>/dev/null
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" > "$out/ext.cnf"
openssl x509 -req -in "$out/dask.csr" -CA "$out/ca.pem" -CAkey "$out/ca-key.pem" \
  -CAcreateserial -days 825 -extfile "$out/ext.cnf" -out "$out/dask.pem" 2>/dev/null
rm -f "$out/dask.csr" "$out/ext.cnf" "$out/ca.srl"
echo "wrote $out/ca.pem $out/dask.pem $out/dask-key.pem (SAN: $san)"
