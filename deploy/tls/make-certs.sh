#!/usr/bin/env bash
# Make a private CA and one certificate for the Dask scheduler, workers and clients.
#   deploy/tls/make-certs.sh OUT_DIR [HOSTNAME...]
# Writes OUT_DIR/{ca.pem,dask.pem,dask-key.pem}: exactly what every node needs, and
# nothing more. Every Dask process of the cluster presents dask.pem and accepts only peers
# signed by ca.pem (mutual TLS), so a process without the key cannot join, submit work or
# read results. The CA's private key goes to a separate folder, ${CA_DIR:-OUT_DIR.ca}
# (ca-key.pem, ca.pem), which must NOT be copied to the nodes: whoever holds it can sign
# certificates the cluster trusts. Keep it offline; it is only needed to sign new ones.
set -euo pipefail
out=${1:?usage: make-certs.sh OUT_DIR [HOSTNAME...]}
shift || true
ca_dir=${CA_DIR:-${out%/}.ca}
hosts=("localhost" "$@")
umask 077
mkdir -p "$out" "$ca_dir"
san="IP:127.0.0.1"
for h in "${hosts[@]}"; do san="$san,DNS:$h"; done
openssl req -x509 -newkey rsa:3072 -nodes -days 825 -subj "/CN=svi-lda dask CA" \
  -keyout "$ca_dir/ca-key.pem" -out "$ca_dir/ca.pem" 2>/dev/null
openssl req -newkey rsa:3072 -nodes -subj "/CN=svi-lda dask" \
  -keyout "$out/dask-key.pem" -out "$out/dask.csr" 2>/dev/null
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" > "$out/ext.cnf"
openssl x509 -req -in "$out/dask.csr" -CA "$ca_dir/ca.pem" -CAkey "$ca_dir/ca-key.pem" \
  -CAcreateserial -CAserial "$ca_dir/ca.srl" -days 825 -extfile "$out/ext.cnf" \
  -out "$out/dask.pem" 2>/dev/null
cp "$ca_dir/ca.pem" "$out/ca.pem"
rm -f "$out/dask.csr" "$out/ext.cnf"
echo "wrote $out/ca.pem $out/dask.pem $out/dask-key.pem (SAN: $san)"
echo "the CA's private key is in $ca_dir: keep it off the nodes (offline)"
