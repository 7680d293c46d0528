#!/usr/bin/env bash
# Builds the Debian packages into out/: ticket-bridge, ticket-bridge-scanner-agent and
# ticket-bridge-mosquitto, from the packagers' build (tools/build.sh debian: Release with
# dpkg-buildflags), with dependencies from dpkg-shlibdeps. Usage: tools/package.sh [--lint]
#   --lint   also run lintian on each package; fails on a tag that packaging/lintian-accepted
#            does not list (with its reason)
set -euo pipefail
cd "$(dirname "$0")/.."
lint=0
case "${1:-}" in
  --lint) lint=1 ;;
  "") ;;
  *) echo "usage: tools/package.sh [--lint]" >&2; exit 2 ;;
esac

bash tools/build.sh debian
rm -rf out
mkdir -p out
cpack --config build-debian/CPackConfig.cmake -G DEB -B "$PWD/out" > out/cpack.log \
  || { cat out/cpack.log; exit 1; }
rm -rf out/_CPack_Packages
ls -l out/*.deb

if [ "$lint" = 1 ]; then
  # The accepted tags: "<tag> <reason...>" per line.
  accepted=$(awk '!/^#/ && NF { print $1 }' packaging/lintian-accepted)
  status=0
  for deb in out/*.deb; do
    # --tag-display-limit 0: every instance; info tags too (-I), pedantic ones not.
    lintian -I --tag-display-limit 0 "$deb" > out/lintian.log 2>&1 || true
    while read -r level pkg tag rest; do
      [ -n "${tag:-}" ] || continue
      if ! grep -qx -- "$tag" <<< "$accepted"; then
        echo "lintian: $level $pkg $tag $rest   (not in packaging/lintian-accepted)"
        status=1
      fi
    done < <(grep -E '^[EWI]: ' out/lintian.log | sed 's/^\([EWI]\): \([^:]*\): /\1 \2 /')
    echo "lintian: $(basename "$deb"): $(grep -cE '^[EWI]: ' out/lintian.log || true) tags"
  done
  rm -f out/lintian.log
  exit $status
fi
