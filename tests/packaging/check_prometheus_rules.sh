#!/usr/bin/env bash
# The shipped Prometheus alert rules: `promtool check rules` (syntax, templates), then
# `promtool test rules` (series that fire and series that do not, for every rule).
# Usage: check_prometheus_rules.sh RULES_DIR   (holds ntsd.rules.yml and ntsd.rules.test.yml)
set -euo pipefail
dir=${1:?usage: $0 RULES_DIR}
if ! command -v promtool >/dev/null; then
  echo "promtool not found: install Debian's prometheus package (make deps)" >&2
  exit 1
fi
promtool check rules "$dir/ntsd.rules.yml"
promtool test rules "$dir/ntsd.rules.test.yml"
# Every alert in the rules has a test case (promtool only checks the cases it is given).
missing=$(comm -23 <(sed -n 's/^ *- alert: *//p' "$dir/ntsd.rules.yml" | sort -u) \
                   <(sed -n 's/^ *alertname: *//p' "$dir/ntsd.rules.test.yml" | sort -u))
if [ -n "$missing" ]; then
  echo "alert rules without a promtool test: $missing" >&2
  exit 1
fi
echo "check_prometheus_rules: OK"
