#!/usr/bin/env bash
# lint.sh -- the written rules, enforced (STYLE.md): banned functions,
# clang-format, cppcheck. Exits non-zero on any finding.
set -uo pipefail
cd "$(dirname "$0")/.."
rc=0
pass=0
fail=0
files=$(ls src/*.c src/sinks/*.c include/*.h include/sinks/*.h)

banned=$(grep -nE '\b(sprintf|vsprintf|strcpy|strcat|gets|atoi|atol|atoll|sscanf|strtok)[[:space:]]*\(' $files || true)
if [ -n "$banned" ]; then
  echo "banned functions (use snprintf, buf_*, memcpy, parse_i64):"
  echo "$banned"
  rc=1
fi
[ -z "$banned" ] && { echo "ok - no banned functions"; pass=$((pass + 1)); } || fail=$((fail + 1))

if command -v clang-format >/dev/null; then
  bad=$(for f in $files; do clang-format --dry-run "$f" 2>&1 | grep -q warning && echo "$f"; done)
  if [ -n "$bad" ]; then
    echo "not clang-formatted (run make format):"
    echo "$bad"
    rc=1
    fail=$((fail + 1))
  else
    echo "ok - clang-formatted"
    pass=$((pass + 1))
  fi
fi

if command -v cppcheck >/dev/null; then
  cppcheck -q --error-exitcode=1 --enable=warning,portability --inline-suppr \
    -D_GNU_SOURCE -DKE_VERSION='"x"' -DKE_GIT_REV='"x"' -Iinclude --std=c11 \
    --suppress=missingIncludeSystem src src/sinks && { echo "ok - cppcheck"; pass=$((pass + 1)); } ||
    { rc=1; fail=$((fail + 1)); }
fi
echo "$pass passed, $fail failed"
exit $rc
