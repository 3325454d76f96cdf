#!/usr/bin/env bash
# clang-format over the C++ sources (.clang-format at the root). The BPF program
# (src/xdp/*.bpf.c) keeps the kernel's style and is not included.
#   scripts/format.sh          rewrites the files in place (make format)
#   scripts/format.sh --check  changes nothing; lists the files that differ and
#                              exits 1 if any does (ctest lint.clang_format)
set -euo pipefail
cd "$(dirname "$0")/.."

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.cpp' '*.h')
else  # a source tree without .git (an unpacked release)
  mapfile -t files < <(find src tools tests bench -name '*.cpp' -o -name '*.h' | sort)
fi

if [ "${1:-}" != "--check" ]; then
  clang-format -i "${files[@]}"
  exit 0
fi

differ=()
for f in "${files[@]}"; do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then differ+=("$f"); fi
done
if [ "${#differ[@]}" -ne 0 ]; then
  echo "not clang-formatted (run make format):" >&2
  printf '  %s\n' "${differ[@]}" >&2
  exit 1
fi
echo "${#files[@]} files clang-formatted"
