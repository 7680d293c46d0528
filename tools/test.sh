#!/usr/bin/env bash
# The whole test suite, as CI runs it: install packages, check formatting, build, run every test
# (unit, integration against a real mosquitto, the browser page in Chromium), build the programs
# the way Debian's packagers do, run the quick-start smoke test and a bounded fuzz run, build and
# run the suite again under ASan + UBSan, and last build, install and purge the Debian packages.
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export CTEST_OUTPUT_ON_FAILURE=1
# No config file: one installed on this host must never redirect the suite (tests that need one
# name it).
export TICKET_BRIDGE_CONFIG=

bash tools/setup.sh
bash tools/format.sh --check

echo "== release build"
bash tools/build.sh release
ctest --test-dir build -j2 --timeout 600

echo "== the packagers' build (Release, dpkg-buildflags), warnings as errors"
bash tools/build.sh debian

echo "== quick start smoke test"
bash tools/run.sh --self-test

echo "== fuzzing the token and scan parsers (bounded)"
bash tools/fuzz.sh "${TB_FUZZ_SECONDS:-30}"

if [ "${TB_SKIP_ASAN:-0}" != "1" ]; then
  echo "== sanitizer build (ASan + UBSan)"
  bash tools/build.sh asan
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    LSAN_OPTIONS=suppressions="$PWD/tools/lsan.supp" \
    ctest --test-dir build-asan -j2 --timeout 900
fi
# Last: it installs the packages into this machine (and purges them again, whatever happens).
echo "== the Debian packages: lintian, install, init, a scan, purge"
if [ "$(id -u)" -eq 0 ]; then
  bash tests/package/package_test.sh
else
  echo "skipped: the package test installs packages and needs root (CI runs as root)"
fi
echo "== all tests passed"
