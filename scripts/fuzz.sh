#!/usr/bin/env bash
# fuzz.sh [TARGET] [SECONDS] -- build the libFuzzer targets with clang and run
# each for SECONDS (default 60), growing its corpus under build/fuzz/corpus.
# New crashers land in build/fuzz/; add them to tests/fuzz/corpus/<name>/.
set -euo pipefail
cd "$(dirname "$0")/.."
P=$(scripts/deps.sh glibc)
secs=${2:-60}
mkdir -p build/fuzz
srcs=$(ls src/*.c src/sinks/*.c | grep -v src/main.c)
for f in tests/fuzz/fuzz_*.c; do
  t=$(basename "$f" .c)
  [ -n "${1:-}" ] && [ "$1" != "$t" ] && [ "$1" != "${t#fuzz_}" ] && continue
  clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -D_GNU_SOURCE \
    -DKE_VERSION='"fuzz"' -DKE_GIT_REV='"fuzz"' -Iinclude -isystem "$P/include" "$f" $srcs \
    -L"$P/lib" -lcurl -lmbedtls -lmbedx509 -lmbedcrypto -lcjson -lyaml -llz4frame -llz4 -lz -lpthread -o "build/fuzz/$t"
  mkdir -p "build/fuzz/corpus/$t"
  (cd build/fuzz && "./$t" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=1024 \
    "corpus/$t" "../../tests/fuzz/corpus/${t#fuzz_}" 2>&1 | tail -n 3)
done
