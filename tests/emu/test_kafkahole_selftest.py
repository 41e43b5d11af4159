#!/usr/bin/env python3
"""Self-test of tests/bench/kafkahole.py (the kafka sink's benchmark broker and test peer)
against an independent producer: librdkafka, through Debian's python3-confluent-kafka, which
only Debian's /usr/bin/python3 sees (the python3 first on PATH may be another one).

    python3 tests/emu/test_kafkahole_selftest.py

Each case starts kafkahole.py, produces with librdkafka in a /usr/bin/python3 child and checks
what the hole counted: plain, idempotent with answers lost after the write (librdkafka's resends
must be recognised as duplicates: the idempotence rule), SASL PLAIN and SCRAM-SHA-512 over TLS,
and a wrong password refused. Prints "ok N - name" / "not ok N - name", then
"N passed, N failed"; loopback only.
"""
import os
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

PRODUCER = r'''
import json, sys
from confluent_kafka import Producer
conf = json.loads(sys.argv[1])
n = int(sys.argv[2])
p = Producer(conf)
errors = []
def report(err, msg):
    if err:
        errors.append(str(err))
for i in range(n):
    p.produce("t", key=f"k{i % 7}", value=f"v{i}", on_delivery=report)
    p.poll(0)
left = p.flush(60)
print(json.dumps({"left": left, "errors": errors[:3], "nerrors": len(errors)}))
'''


class Hole:
    def __init__(self, *extra):
        self.proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "bench", "kafkahole.py"),
                                      "--timeout", "120", *extra], stdout=subprocess.PIPE, text=True)
        first = self.proc.stdout.readline().split()
        assert first[:2] == ["listening", "127.0.0.1"], first
        self.port = int(first[2])
        self.total = self.dups = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            w = line.split()
            if w and w[0] == "events":
                self.total = int(w[1])
            elif w and w[0] == "duplicates":
                self.dups = int(w[1])

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def produce(conf, n):
    import json
    r = subprocess.run(["/usr/bin/python3", "-c", PRODUCER, json.dumps(conf), str(n)], capture_output=True,
                       text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"producer failed: {r.stderr[-1500:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def settle(hole, n):
    end = time.monotonic() + 10
    while hole.total < n and time.monotonic() < end:
        time.sleep(0.05)
    time.sleep(0.3)


def case_plain():
    h = Hole()
    try:
        out = produce({"bootstrap.servers": f"127.0.0.1:{h.port}", "linger.ms": 5}, 500)
        settle(h, 500)
        assert out["left"] == 0 and out["nerrors"] == 0, out
        assert h.total == 500, h.total
    finally:
        h.stop()


def case_idempotent_lost_answers():
    h = Hole("--lose-answer", "2,4")
    try:
        out = produce({"bootstrap.servers": f"127.0.0.1:{h.port}", "enable.idempotence": True,
                       "linger.ms": 50, "batch.num.messages": 50}, 400)
        settle(h, 400)
        assert out["left"] == 0 and out["nerrors"] == 0, out
        assert h.total == 400, f"written {h.total}, duplicates recognised {h.dups}"
        assert h.dups >= 1, "librdkafka resent after the lost answers: the hole must have seen it again"
    finally:
        h.stop()


def tls_conf(h, mech, user, pw):
    import certs
    p = certs.make_pki(os.path.join(ROOT, "build", "test-pki"))
    return p, {"bootstrap.servers": f"127.0.0.1:{h.port}", "security.protocol": "SASL_SSL",
               "sasl.mechanism": mech, "sasl.username": user, "sasl.password": pw,
               "ssl.ca.location": p["ca"], "enable.idempotence": True}


def case_sasl_over_tls():
    import certs
    p = certs.make_pki(os.path.join(ROOT, "build", "test-pki"))
    for mech in ("PLAIN", "SCRAM-SHA-512", "SCRAM-SHA-256"):
        h = Hole("--tls", p["server"], p["server_key"], "--sasl", mech, "--user", "alice", "--password", "s3cr=t,")
        try:
            _, conf = tls_conf(h, mech, "alice", "s3cr=t,")
            out = produce(conf, 50)
            settle(h, 50)
            assert out["left"] == 0 and out["nerrors"] == 0, (mech, out)
            assert h.total == 50, (mech, h.total)
        finally:
            h.stop()


def case_wrong_password():
    import certs
    p = certs.make_pki(os.path.join(ROOT, "build", "test-pki"))
    h = Hole("--tls", p["server"], p["server_key"], "--sasl", "SCRAM-SHA-512", "--user", "alice",
             "--password", "right")
    try:
        _, conf = tls_conf(h, "SCRAM-SHA-512", "alice", "wrong")
        conf["message.timeout.ms"] = 3000
        out = produce(conf, 5)
        assert out["nerrors"] == 5 or out["left"] > 0, out
        assert h.total == 0
    finally:
        h.stop()


def main():
    cases = [case_plain, case_idempotent_lost_answers, case_sasl_over_tls, case_wrong_password]
    try:
        subprocess.run(["/usr/bin/python3", "-c", "import confluent_kafka"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        print("not ok 1 - python3-confluent-kafka is missing for /usr/bin/python3 (scripts/test-deps.sh)")
        print("0 passed, 1 failed")
        sys.exit(1)
    passed = failed = 0
    for i, c in enumerate(cases, 1):
        t0 = time.monotonic()
        try:
            c()
            print(f"ok {i} - {c.__name__} ({time.monotonic() - t0:.1f}s)", flush=True)
            passed += 1
        except Exception:
            print(f"not ok {i} - {c.__name__}", flush=True)
            traceback.print_exc(file=sys.stdout)
            failed += 1
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
