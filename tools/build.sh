#!/usr/bin/env bash
# Configures and builds the project. Usage: tools/build.sh [release|asan|debian] [targets...]
#   release (default): build/         RelWithDebInfo, -Wall -Wextra -Werror
#   asan:              build-asan/    the same with AddressSanitizer + UndefinedBehaviorSanitizer
#   debian:            build-debian/  Release (-O3, where GCC's false positives show) with the
#                                     flags of dpkg-buildflags (hardening, fortify), no tests,
#                                     -Werror. The flags are read at its first configure: remove
#                                     build-debian/ after changing them.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-release}
shift || true
case "$kind" in
  release) dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTB_WERROR=ON) ;;
  asan) dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DTB_SANITIZE=ON -DTB_WERROR=ON) ;;
  debian)
    dir=build-debian
    # CMake reads these at the first configure; CPPFLAGS has no variable of its own there.
    CFLAGS="$(dpkg-buildflags --get CPPFLAGS) $(dpkg-buildflags --get CFLAGS)"
    CXXFLAGS="$(dpkg-buildflags --get CPPFLAGS) $(dpkg-buildflags --get CXXFLAGS)"
    LDFLAGS=$(dpkg-buildflags --get LDFLAGS)
    export CFLAGS CXXFLAGS LDFLAGS
    # /usr: the prefix of the Debian packages (tools/package.sh), which the units name.
    flags=(-DCMAKE_BUILD_TYPE=Release -DTB_BUILD_TESTS=OFF -DTB_WERROR=ON -DCMAKE_INSTALL_PREFIX=/usr)
    ;;
  *) echo "usage: tools/build.sh [release|asan|debian] [targets...]" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" "${flags[@]}" > /dev/null
# Two jobs: the machine has two cores and Beast units need about 1 GB each.
if [ $# -gt 0 ]; then
  for t in "$@"; do cmake --build "$dir" -j2 --target "$t"; done
else
  cmake --build "$dir" -j2
fi
