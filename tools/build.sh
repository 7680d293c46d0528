#!/usr/bin/env bash
# Configures and builds the project. Usage: tools/build.sh [release|asan] [targets...]
#   release (default): build/       RelWithDebInfo, -Wall -Wextra -Werror
#   asan:              build-asan/  the same with AddressSanitizer + UndefinedBehaviorSanitizer
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-release}
shift || true
case "$kind" in
  release) dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  asan) dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DTB_SANITIZE=ON) ;;
  *) echo "usage: tools/build.sh [release|asan] [targets...]" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" "${flags[@]}" > /dev/null
# Two jobs: the machine has two cores and Beast units need about 1 GB each.
if [ $# -gt 0 ]; then
  for t in "$@"; do cmake --build "$dir" -j2 --target "$t"; done
else
  cmake --build "$dir" -j2
fi
