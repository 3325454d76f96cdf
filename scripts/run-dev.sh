#!/usr/bin/env bash
# `make run`: a development certificate if there is none, then ntsd in the
# foreground on loopback with config/dev.toml.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${1:-build}
cd "$root"
bash scripts/make-dev-cert.sh dev-certs >/dev/null
mkdir -p run
cat <<MSG
ntsd: NTS-KE on 127.0.0.1:4460 and [::1]:4460, NTP on port 4123 (config/dev.toml).
Query it from another terminal with:
  $build_dir/bin/nts-query localhost:4460 --ca dev-certs/cert.pem
  $build_dir/bin/nts-query [::1]:4460 --ca dev-certs/cert.pem --count 3 --json
Stop it with Ctrl-C.
MSG
exec "$build_dir/bin/ntsd" --config config/dev.toml
