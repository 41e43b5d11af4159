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
# InfluxDB 1.6 (Debian's influxdb): the real peer of the influxdb sink's tests
# (tests/integration/influx.py runs its own influxd on free loopback ports).
[ -x /usr/bin/influxd ] || command -v influxd >/dev/null || need+=(influxdb)
# Kafka: librdkafka's mock cluster (librdkafka-dev; tests/tools/kafkamock.c links it, glibc,
# never the shipped binary) is the kafka sink's peer, and kcat reads back what it got.
[ -e /usr/include/librdkafka/rdkafka_mock.h ] || need+=(librdkafka-dev)
command -v kcat >/dev/null || need+=(kcat)
# ... and librdkafka through Python, an independent producer for kafkahole.py's self-test
# (tests/emu/test_kafkahole_selftest.py runs it with /usr/bin/python3, which sees Debian's modules).
/usr/bin/python3 -c 'import confluent_kafka' 2>/dev/null || need+=(python3-confluent-kafka)
# MariaDB 10.11 (Debian's mariadb-server, with the mariadb client): the real peer of the
# mysql sink's tests (tests/integration/mariadb.py runs its own mariadbd on a free loopback
# port with a throwaway datadir; the tests read rows back with the mariadb client).
[ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
command -v mariadb >/dev/null || need+=(mariadb-client)
# Python: the tests use the standard library only, so no python3-* package is needed
# (Debian's would be seen by /usr/bin/python3 alone, not by another python3 on PATH).
if [ ${#need[@]} -gt 0 ]; then
  echo "test-deps: installing ${need[*]}" >&2
  sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
  # No system service may start from this install (influxdb's postinst starts influxd on
  # :8086 via invoke-rc.d or systemd): a policy-rc.d answering 101 ("action forbidden")
  # for the length of this script, unless the machine already has one.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# made by test-deps.sh while it installs packages: start no service\nexit 101\n' |
      $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    trap '$sudo rm -f "$policy"' EXIT
  fi
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
