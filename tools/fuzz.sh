#!/usr/bin/env bash
# Builds the token/scan/signed-code parser fuzzer with clang's libFuzzer (plus ASan and UBSan) and runs it
# for a bounded time: tools/fuzz.sh [SECONDS] (default 30). A crash fails the run and leaves the
# input in build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
out=build-fuzz
mkdir -p "$out/corpus"
cp -n tests/fuzz/corpus/* "$out/corpus/" 2>/dev/null || true
clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Icommon/src tests/fuzz/token_fuzz.cpp common/src/jwt.cpp common/src/ids.cpp \
  common/src/scan.cpp common/src/admission.cpp common/src/signed_code.cpp common/src/rotating_code.cpp common/src/gate_sync.cpp common/src/timeutil.cpp -lcrypto \
  -o "$out/token_fuzz"
echo "fuzz: running the token and scan parsers for ${seconds}s"
"$out/token_fuzz" -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 \
  -artifact_prefix="$out/" "$out/corpus" 2>&1 | tail -n 12
