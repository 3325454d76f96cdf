#!/usr/bin/env bash
# `cpack -G DEB` builds a package holding the binaries, the unit, the example
# configuration, the documentation, the Prometheus rules and the Grafana dashboard,
# with shared-library dependencies filled in.
set -euo pipefail
build_dir=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$build_dir" && cpack -G DEB -B "$work" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; exit 1; }
deb=$(ls "$work"/ntsd_*.deb)
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for path in ./usr/sbin/ntsd ./usr/bin/nts-query ./usr/lib/systemd/system/ntsd.service \
            ./usr/share/doc/ntsd/examples/ntsd.toml ./usr/share/doc/ntsd/configuration.md \
            ./usr/share/doc/ntsd/operations.md ./usr/share/ntsd/ntsd.rules.yml \
            ./usr/share/ntsd/ntsd-dashboard.json; do
  grep -qxF "$path" <<<"$contents" || { echo "missing from the package: $path"; echo "$contents"; exit 1; }
done
dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./usr/lib/systemd/system/ntsd.service |
  grep -qx 'ExecStart=/usr/sbin/ntsd --config /etc/ntsd/ntsd.toml' ||
  { echo "the packaged unit does not start /usr/sbin/ntsd"; exit 1; }
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libssl3 libnettle8; do
  grep -q "$lib" <<<"$depends" || { echo "Depends lacks $lib: $depends"; exit 1; }
done
echo "$(basename "$deb"): ok; Depends: $depends"
