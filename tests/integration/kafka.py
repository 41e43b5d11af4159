"""Kafka peers for the kafka sink's tests: librdkafka's mock cluster (the kafkamock tool,
built from Debian's librdkafka-dev) driven over its stdin, and kcat (Debian's kcat, a
librdkafka consumer) reading back what was produced, with CRC checks on."""
import json
import os
import shutil
import subprocess
import threading

from harness import ROOT, Failure, wait_until

# Kafka protocol api keys and error codes the tests inject
PRODUCE, METADATA, API_VERSIONS, INIT_PRODUCER_ID = 0, 3, 18, 22
TRANSPORT = -195  # librdkafka's mock: close the connection on this request


def tool():
    for flavor in ("", "san"):
        p = os.path.join(ROOT, "build", flavor, "tools", "kafkamock")
        if os.access(p, os.X_OK):
            return p
    raise Failure("build/tools/kafkamock is missing: install librdkafka-dev (scripts/test-deps.sh) "
                  "and run make unit")


class Mock:
    """kafkamock BROKERS TOPIC PARTITIONS, stopped at the case's end."""

    def __init__(self, case, brokers=1, topic="heapster-events", partitions=4, setup=()):
        self.topic = topic
        self.proc = subprocess.Popen([tool(), str(brokers), topic, str(partitions)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        case.cleanup(self.close)
        first = self._line(15)
        if not first.startswith("ready "):
            raise Failure(f"kafkamock did not start: {first!r}")
        self.bootstrap = first.split()[1]
        self.addrs = self.bootstrap.split(",")
        for cmd in setup:
            self.cmd(cmd)

    def _line(self, timeout):
        out = []
        t = threading.Thread(target=lambda: out.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        if not out:
            raise Failure("kafkamock did not answer")
        return out[0].strip()

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        ans = self._line(15)
        if ans != "ok":
            raise Failure(f"kafkamock {line!r}: {ans}")

    def brokers_param(self, n=None):
        return "&".join(f"brokers={a}" for a in self.addrs[:n])

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)

    def records(self, topic=None, timeout=60):
        """Every record of the topic, read with kcat (CRCs checked): dicts with partition, offset,
        key, ts, tstype, payload, in partition/offset order."""
        kcat = shutil.which("kcat")
        if not kcat:
            raise Failure("kcat is missing: scripts/test-deps.sh installs it")
        r = subprocess.run([kcat, "-b", self.bootstrap, "-C", "-t", topic or self.topic, "-e", "-J", "-q",
                            "-X", "check.crcs=true", "-X", "topic.metadata.refresh.interval.ms=1000"],
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise Failure(f"kcat failed ({r.returncode}): {r.stderr[-1000:]}")
        recs = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
        return sorted(recs, key=lambda x: (x["partition"], x["offset"]))


def murmur2(data):
    """Kafka's Utils.murmur2 (the Java client's default partitioner), written again here."""
    m, h = 0x5bd1e995, (0x9747b28c ^ len(data)) & 0xffffffff
    n4 = len(data) // 4
    for i in range(n4):
        k = int.from_bytes(data[4 * i:4 * i + 4], "little")
        k = (k * m) & 0xffffffff
        k ^= k >> 24
        k = (k * m) & 0xffffffff
        h = (h * m) & 0xffffffff
        h ^= k
    rest = data[4 * n4:]
    if len(rest) == 3:
        h ^= rest[2] << 16
    if len(rest) >= 2:
        h ^= rest[1] << 8
    if len(rest) >= 1:
        h ^= rest[0]
        h = (h * m) & 0xffffffff
    h ^= h >> 13
    h = (h * m) & 0xffffffff
    h ^= h >> 15
    return h


def partition_for(key, nparts):
    return (murmur2(key.encode()) & 0x7fffffff) % nparts


def wait_records(mock, n, timeout=90, msg="records"):
    """Poll until the topic holds at least n records; returns them."""
    got = []

    def enough():
        got[:] = mock.records()
        return len(got) >= n
    wait_until(enough, timeout, interval=0.5, msg=f"{n} {msg} (have {len(got)})")
    return got


class Hole:
    """tests/bench/kafkahole.py: a broker that keeps only counts, follows Kafka's idempotence rule
    (a resent batch is recognised, not written again) and can lose answers after writing."""

    def __init__(self, case, lose_answer="", partitions=4, extra=()):
        import sys
        self.proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "bench", "kafkahole.py"),
                                      "--partitions", str(partitions), "--lose-answer", lose_answer,
                                      "--timeout", "300", *extra], stdout=subprocess.PIPE, text=True)
        case.cleanup(self.close)
        first = self.proc.stdout.readline().split()
        if len(first) != 3 or first[0] != "listening":
            raise Failure(f"kafkahole did not start: {first}")
        self.port = int(first[2])
        self.total = self.dups = 0
        self.tls_errors = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            w = line.split()
            if w and w[0] == "events":
                self.total = int(w[1])
            elif w and w[0] == "duplicates":
                self.dups = int(w[1])
            elif w and w[0] == "tls-error":
                self.tls_errors.append(line.strip())

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
