#!/usr/bin/env python3
"""Self-test of tests/bench/datahole.py (the benchmarks' InfluxDB/Elasticsearch sinkhole).

    python3 tests/emu/test_datahole_selftest.py [-k SUBSTRING]

Prints "ok N - name (s)" / "not ok N - name" and ends with "N passed, N failed";
exits 1 on any failure.  Loopback only; a few seconds.
"""
import gzip
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "bench"))

import datahole  # noqa: E402
from datahole import Datahole  # noqa: E402

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


def eq(a, b, msg=""):
    if a != b:
        raise AssertionError(f"{msg + ': ' if msg else ''}{a!r} != {b!r}")


def req(conn, method, target, body=None, headers=None):
    conn.request(method, target, body=body, headers=headers or {})
    r = conn.getresponse()
    return r.status, r.read(), {k.lower(): v for k, v in r.getheaders()}


@test
def test_influx_endpoints_and_counting():
    with Datahole() as d:
        c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=5)
        eq(req(c, "GET", "/ping")[0], 204)
        eq(req(c, "GET", "/query?q=SHOW+DATABASES")[:2], (200, b'{"results":[{"statement_id":0}]}\n'))
        eq(req(c, "POST", "/query", b'q=CREATE+DATABASE+"k8s"',
               {"Content-Type": "application/x-www-form-urlencoded"})[:2], (200, b'{"results":[{"statement_id":0}]}\n'))
        body = (b'log/events,uid=a value="{\n \\"metadata\\": {\n  \\"name\\": \\"x\\"\n }\n}" 1\n'
                b'log/events,uid=b value="two\nlines, a=b" 2\n'
                b'\n# a comment\nlog/events,uid=c value="ends in \\\\" 3')
        st, out, h = req(c, "POST", "/write?db=k8s&rp=default", body)
        eq((st, out), (204, b""))
        eq(d.events, 3, "raw newlines inside string values belong to their point")
        eq(req(c, "POST", "/write", b"m v=1")[:2], (400, b'{"error":"database is required"}\n'))
        eq(req(c, "GET", "/write?db=k8s")[0], 405)
        eq(d.events, 3)
        check(abs(d.last_ns - time.time_ns()) < 5e9)
        eq(d.requests, 1, "requests that carried events")
        c.close()


@test
def test_keepalive_expect_continue_chunked_gzip():
    with Datahole() as d:
        s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        body = b"m v=1 1\nm v=2 2\n"
        s.sendall(b"POST /write?db=x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        eq(s.recv(100), b"HTTP/1.1 100 Continue\r\n\r\n")
        s.sendall(body)
        f = s.makefile("rb")
        eq(f.readline(), b"HTTP/1.1 204 No Content\r\n")
        while f.readline() not in (b"\r\n", b""):
            pass
        # the same connection: chunked
        s.sendall(b"POST /write?db=x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nm v=3\r\n3\r\n 3\n\r\n0\r\n\r\n")
        eq(f.readline(), b"HTTP/1.1 204 No Content\r\n")
        while f.readline() not in (b"\r\n", b""):
            pass
        gz = gzip.compress(b"m v=4 4\nm v=5 5\nm v=6 6\n")
        s.sendall(b"POST /write?db=x HTTP/1.1\r\nHost: h\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
                  % len(gz) + gz)
        eq(f.readline(), b"HTTP/1.1 204 No Content\r\n")
        s.close()
        check(d.wait_events(6, 5), f"counted {d.events}")
        eq(d.events, 6)


@test
def test_elasticsearch_endpoints_and_bulk():
    with Datahole() as d:
        c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=5)
        st, out, _ = req(c, "GET", "/")
        eq(st, 200)
        eq(json.loads(out)["version"]["number"].split(".")[0], "7")
        eq(req(c, "HEAD", "/heapster-2024.03.05")[0], 200)
        eq(json.loads(req(c, "PUT", "/heapster-2024.03.05", b"{}")[1])["acknowledged"], True)
        eq(json.loads(req(c, "GET", "/heapster-2024.03.05/_alias")[1]),
           {"heapster-2024.03.05": {"aliases": {"heapster-events": {}}}})
        eq(json.loads(req(c, "POST", "/_aliases", b'{"actions":[]}')[1]), {"acknowledged": True})
        bulk = (b'{"create":{"_index":"i","_id":"1"}}\n{"Message":"a"}\n'
                b'{"index":{"_index":"i","_id":"2"}}\n{"Message":"b"}\n'
                b'{"delete":{"_index":"i","_id":"3"}}\n'
                b'{"update":{"_index":"i","_id":"4"}}\n{"doc":{"Message":"c"}}\n')
        st, out, h = req(c, "POST", "/_bulk?filter_path=errors,items.*.status", bulk,
                         {"Content-Type": "application/x-ndjson"})
        eq(st, 200)
        eq(h.get("content-type"), "application/json")
        eq(json.loads(out), {"errors": False, "items": [{"create": {"status": 201}}, {"index": {"status": 201}},
                                                        {"delete": {"status": 200}}, {"update": {"status": 200}}]})
        st, out, _ = req(c, "POST", "/heapster/_bulk", bulk)
        full = json.loads(out)
        eq([list(i)[0] for i in full["items"]], ["create", "index", "delete", "update"])
        eq(full["items"][0]["create"]["status"], 201)
        eq(full["errors"], False)
        eq(d.events, 8, "4 actions twice")
        eq(req(c, "GET", "/_cat/nothing")[0], 404)
        c.close()


@test
def test_honeycomb_batch():
    with Datahole() as d:
        c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=5)
        batch = json.dumps([{"data": {"name": "a", "message": "[{\"x\":1},"}, "time": "2024-03-05T07:08:09Z"},
                            {"data": {"name": "b"}}, {"data": {}}]).encode()
        st, out, h = req(c, "POST", "/1/batch/heapster", batch,
                         {"Content-Type": "application/json", "X-Honeycomb-Team": "k"})
        eq(st, 200)
        eq(h.get("content-type"), "application/json")
        eq(json.loads(out), [{"status": 202}] * 3)
        eq(d.events, 3)
        st, out, _ = req(c, "POST", "/1/batch/heapster", gzip.compress(batch), {"Content-Encoding": "gzip"})
        eq(json.loads(out), [{"status": 202}] * 3)
        eq(req(c, "POST", "/1/batch/heapster", b'{"data":{}}')[:2],
           (400, b'{"error":"Request body is malformed and cannot be read."}'))
        eq(req(c, "POST", "/1/batch/heapster", b"[]")[:2], (200, b"[]"))
        eq(req(c, "GET", "/1/batch/heapster")[0], 405)
        eq(d.events, 6)
        eq(d.requests, 2, "requests that carried events")
        eq(len(json.loads(datahole.sample_batch(40))), 40)
        c.close()


@test
def test_cli_expect_and_deadline():
    p = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "bench", "datahole.py"), "--expect", "3",
                          "--timeout", "20"], stdout=subprocess.PIPE, text=True)
    try:
        w = p.stdout.readline().split()
        eq(w[:2], ["listening", "127.0.0.1"])
        c = http.client.HTTPConnection("127.0.0.1", int(w[2]), timeout=5)
        req(c, "POST", "/write?db=k8s", b"m v=1 1\nm v=2 2\n")
        req(c, "POST", "/_bulk", b'{"create":{}}\n{"a":1}\n')
        c.close()
        lines = [p.stdout.readline().split(), p.stdout.readline().split()]
        eq([ln[0] for ln in lines], ["events", "events"])
        eq([int(ln[1]) for ln in lines], [2, 3])
        eq([int(ln[3]) for ln in lines], [1, 2])
        eq(p.wait(10), 0, "exits 0 once --expect is reached")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "bench", "datahole.py"), "--expect", "1",
                        "--timeout", "1"], capture_output=True, text=True, timeout=20)
    eq(r.returncode, 1, "the deadline without the count is exit 1")
    check(time.monotonic() - t0 < 10)


@test
def test_line_counter_matches_influxdb_scanner():
    """The fast counter against the byte-by-byte copy of InfluxDB 1.6's scanLine, on random bodies."""
    rnd = random.Random(20240305)
    alpha = [b"m", b",", b"=", b'"', b"\\", b"\n", b" ", b"a", b"#", b"v=1", b'v="', b"\t", b"_", b"\\\\", b'\\"',
             b'" ', b'",', b"\r"]
    for _ in range(30000):
        body = b"".join(rnd.choice(alpha) for _ in range(rnd.randint(0, 20)))
        want = datahole._points(datahole._split_lines(body))
        got = datahole.influx_lines(body)
        if got != want:
            raise AssertionError(f"{body!r}: fast {got}, scanner {want}")
    w, b = datahole.sample_bodies(50)
    eq(datahole.influx_lines(w), 50)
    eq(len(datahole.bulk_actions(b)), 50)


def main():
    only = sys.argv[sys.argv.index("-k") + 1] if "-k" in sys.argv else None
    passed = failed = n = 0
    for fn in TESTS:
        if only and only not in fn.__name__:
            continue
        n += 1
        t0 = time.monotonic()
        try:
            fn()
            passed += 1
            print(f"ok {n} - {fn.__name__} ({time.monotonic() - t0:.1f}s)", flush=True)
        except Exception as e:
            failed += 1
            print(f"not ok {n} - {fn.__name__}: {e}", flush=True)
            traceback.print_exc()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
