#!/usr/bin/env bash
# test-deps.sh -- install what the test suites need (Debian packages), once.
set -euo pipefail
need=()
command -v python3 >/dev/null || need+=(python3)
command -v openssl >/dev/null || need+=(openssl)
command -v valgrind >/dev/null || need+=(valgrind)
command -v gcc >/dev/null || need+=(gcc)
command -v musl-gcc >/dev/null || need+=(musl-tools musl-dev)
command -v podman >/dev/null || need+=(podman)
command -v clang-format >/dev/null || need+=(clang-format)
command -v cppcheck >/dev/null || need+=(cppcheck)
command -v gzip >/dev/null || need+=(gzip)
command -v runc >/dev/null || need+=(runc)
[ -e /usr/share/zoneinfo/Asia/Shanghai ] || need+=(tzdata)
[ -e /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
if [ ${#need[@]} -gt 0 ]; then
  echo "test-deps: installing ${need[*]}" >&2
  sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
