#!/usr/bin/env bash
# clang-tidy (.clang-tidy at the root) over the sources of ntsd and its tools, with
# the compile commands of a configured build, in parallel; prints each finding once
# (a header's is otherwise repeated for every file that includes it).
#   scripts/tidy.sh [BUILD_DIR]     (make tidy; about 6 minutes on 2 cores)
# Tests and benchmarks are not included: gtest's and benchmark's macros trip checks
# that say nothing about the code under test. Not part of make check: Debian 12's
# clang-tidy 14 cannot parse asio's C++20 coroutines with GCC 12's headers (it reports
# them as clang-diagnostic-error in ke_listeners.cpp and ke_session.cpp), nor
# aggregate class template argument deduction (config.cpp).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

build="$(cd "${1:-$root/build}" && pwd)"
if [ ! -f "$build/compile_commands.json" ]; then
  echo "tidy: no $build/compile_commands.json (configure the build first)" >&2
  exit 2
fi

# Generated sources (the embedded BPF object) live in the build tree and are left out
# by the path filter.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
run-clang-tidy -quiet -p "$build" -j "$(nproc)" "^$root/(src|tools)/.*\\.cpp\$" >"$log" 2>&1 || true

# One line per distinct finding (a header's is reported once per file including it).
findings="$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^/.*: (warning|error): ' | sort -u || true)"
if [ -z "$findings" ]; then
  echo "clang-tidy: no findings in src/ and tools/"
  exit 0
fi
echo "$findings"
echo "clang-tidy: $(echo "$findings" | wc -l) findings (see .clang-tidy; NOLINT only with a reason)" >&2
