#!/bin/sh
# Run by the nginx image's entrypoint (from /docker-entrypoint.d/) before nginx starts: when no
# certificate is mounted at /etc/nginx/tls, make a self-signed one for TLS_HOSTNAME (localhost
# by default), kept in the stack's lb-tls volume so that a browser's exception outlives restarts.
# Mount a directory holding tls.crt and tls.key (a real certificate) there to use it instead.
set -eu
dir="${TLS_DIR:-/etc/nginx/tls}"
host="${TLS_HOSTNAME:-localhost}"
if [ -s "$dir/tls.crt" ] && [ -s "$dir/tls.key" ]; then
  echo "$0: serving the certificate in $dir"
  exit 0
fi
command -v openssl >/dev/null 2>&1 || apk add --no-cache --quiet openssl
mkdir -p "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
  -subj "/CN=$host" -addext "subjectAltName=DNS:$host,DNS:localhost,IP:127.0.0.1" \
  -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
chmod 600 "$dir/tls.key"
echo "$0: made a self-signed certificate for $host in $dir (browsers will warn: mount a real one for use)"
