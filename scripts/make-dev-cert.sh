#!/usr/bin/env bash
# Makes a self-signed development certificate for ntsd:
#   ECDSA P-256, CN=localhost, SAN DNS:localhost, IP:127.0.0.1, IP:::1, valid 365 days.
# Usage: scripts/make-dev-cert.sh [--force] OUTDIR
# Writes OUTDIR/cert.pem and OUTDIR/key.pem (key mode 0600). Idempotent: if both files
# already exist it does nothing, unless --force is given.
set -euo pipefail

usage() { echo "usage: $0 [--force] OUTDIR" >&2; exit 2; }

force=0
outdir=""
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) usage ;;
    -*) echo "make-dev-cert: unknown option $arg" >&2; usage ;;
    *) [ -z "$outdir" ] || usage; outdir="$arg" ;;
  esac
done
[ -n "$outdir" ] || usage

cert="$outdir/cert.pem"
key="$outdir/key.pem"

if [ "$force" -eq 0 ] && [ -s "$cert" ] && [ -s "$key" ]; then
  echo "make-dev-cert: $cert and $key exist, leaving them (use --force to replace)"
  exit 0
fi

command -v openssl >/dev/null || { echo "make-dev-cert: openssl not found" >&2; exit 1; }
mkdir -p "$outdir"

# Write to temporary names in the same directory, then rename, so that an interrupted
# run never leaves a cert without its key (or a world-readable key).
umask 077
tmpkey=$(mktemp "$outdir/.key.XXXXXX")
tmpcert=$(mktemp "$outdir/.cert.XXXXXX")
trap 'rm -f "$tmpkey" "$tmpcert"' EXIT

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmpkey" 2>/dev/null
openssl req -x509 -new -key "$tmpkey" -out "$tmpcert" -days 365 -sha256 \
  -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
  -addext "basicConstraints=critical,CA:FALSE" \
  -addext "keyUsage=critical,digitalSignature" \
  -addext "extendedKeyUsage=serverAuth" 2>/dev/null

chmod 0600 "$tmpkey"
chmod 0644 "$tmpcert"
mv -f "$tmpkey" "$key"
mv -f "$tmpcert" "$cert"
trap - EXIT
echo "make-dev-cert: wrote $cert and $key"
