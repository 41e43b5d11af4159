#!/usr/bin/env bash
# bench.sh -- `make bench`: build the binary and the benchmark tools, run scripts/bench.py.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s
mkdir -p build/bench
P=$(scripts/deps.sh musl)
# the same link as the shipped binary, with a map file: size by origin
musl-gcc -static -Wl,--gc-sections -Wl,-Map=build/bench/kube-eventer.map -L"$P/lib" build/obj/main.o build/libke.a \
  -lcurl -lmbedtls -lmbedx509 -lmbedcrypto -lcjson -lyaml -llz4frame -llz4 -lz -lpthread -o build/bench/kube-eventer.unstripped
musl-gcc -Os -D_GNU_SOURCE -Iinclude -isystem "$P/include" tests/bench/bench_pipeline.c build/libke.a \
  -L"$P/lib" -lcjson -static -o build/bench/bench_pipeline
gcc -O2 -D_GNU_SOURCE tests/bench/sinkhole.c -o build/bench/sinkhole
exec python3 scripts/bench.py "$@"
