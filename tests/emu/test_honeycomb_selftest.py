#!/usr/bin/env python3
"""Self-test of tests/emu/honeycomb.py with http.client and raw sockets only.

    python3 tests/emu/test_honeycomb_selftest.py [-k SUBSTRING]

Prints "ok N - name (s)" / "not ok N - name" and ends with "N passed, N failed";
exits 1 on any failure.  Loopback only; every wait is bounded.
"""
import datetime
import gzip
import http.client
import json
import os
import socket
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from honeycomb import UNKNOWN_KEY, Honeycomb, parse_time  # noqa: E402
from receivers import Response  # noqa: E402

TESTS = []
KEY = "hc-selftest-key"
UTC = datetime.timezone.utc


def test(fn):
    TESTS.append(fn)
    return fn


def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


def eq(a, b, msg=""):
    if a != b:
        raise AssertionError(f"{msg + ': ' if msg else ''}{a!r} != {b!r}")


def post(hc, body, dataset="k8s", key=KEY, headers=None, conn=None, method="POST"):
    """-> (status, parsed JSON body or raw bytes)."""
    c = conn or http.client.HTTPConnection("127.0.0.1", hc.port, timeout=10)
    h = {"Content-Type": "application/json"}
    if key is not None:
        h["X-Honeycomb-Team"] = key
    h.update(headers or {})
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    c.request(method, f"/1/batch/{dataset}", body=body, headers=h)
    r = c.getresponse()
    raw = r.read()
    if conn is None:
        c.close()
    try:
        return r.status, json.loads(raw)
    except ValueError:
        return r.status, raw


def ev(i, **extra):
    e = {"data": {"name": f"pod-{i}", "count": i}, "time": f"2024-03-05T07:08:{i % 60:02d}.123456789Z"}
    e.update(extra)
    return e


@test
def test_batch_accepted_with_a_status_per_event():
    with Honeycomb(keys=(KEY,)) as hc:
        st, body = post(hc, [ev(1), ev(2), ev(3, samplerate=4)], dataset="My%20Events")
        eq(st, 200)
        eq(body, [{"status": 202}] * 3)
        evs = hc.events("my events")            # case-insensitive, URL-decoded
        eq([e["data"]["name"] for e in evs], ["pod-1", "pod-2", "pod-3"])
        eq(evs[0]["time"], datetime.datetime(2024, 3, 5, 7, 8, 1, 123456, UTC))
        eq(evs[0]["time_raw"], "2024-03-05T07:08:01.123456789Z")
        check(all(e["time_given"] for e in evs))
        eq([e["samplerate"] for e in evs], [1, 1, 4])
        eq(evs[0]["keys"], ["data", "time"])
        b = hc.batches()
        eq(len(b), 1)
        eq((b[0]["dataset"], b[0]["n"], b[0]["status"]), ("My Events", 3, 200))
        eq(b[0]["headers"]["x-honeycomb-team"], KEY)
        eq(hc.event_count(), 3)


@test
def test_unknown_or_missing_key_is_401():
    with Honeycomb(keys=(KEY,)) as hc:
        eq(post(hc, [ev(1)], key="wrong"), (401, {"error": UNKNOWN_KEY}))
        eq(post(hc, [ev(1)], key=None), (401, {"error": UNKNOWN_KEY}))
        eq(hc.event_count(), 0)
        eq(hc.batches(), [])
        hc.set_keys({"other"})
        eq(post(hc, [ev(1)], key="other")[0], 200)
        eq(post(hc, [ev(1)])[0], 401)


@test
def test_upstreams_keys_are_ignored_so_the_time_is_the_arrival_time():
    with Honeycomb(keys=(KEY,)) as hc:
        before = datetime.datetime.now(UTC)
        st, body = post(hc, [{"Data": {"name": "x"}, "Timestamp": "2020-01-01T00:00:00Z"}])
        eq((st, body), (200, [{"status": 202}]))
        e = hc.events()[0]
        eq(e["data"], {})
        eq(e["time_given"], False)
        check(e["time"] >= before - datetime.timedelta(seconds=1), e["time"])
        eq(e["keys"], ["Data", "Timestamp"])


@test
def test_per_event_errors():
    with Honeycomb(keys=(KEY,), max_event=40000) as hc:
        wide = {"data": {f"f{i}": i for i in range(2001)}}
        big = {"data": {"message": "x" * 40000}}
        st, body = post(hc, [ev(1), 7, wide, big, ev(2)])
        eq(st, 200)
        eq(body, [{"status": 202}, {"status": 400, "error": "Request body is malformed and cannot be read."},
                  {"status": 400, "error": "Event has too many columns."}, {"status": 400, "error": "event too large"},
                  {"status": 202}])
        eq([e["data"]["name"] for e in hc.events()], ["pod-1", "pod-2"])


@test
def test_whole_request_errors():
    with Honeycomb(keys=(KEY,), max_body=1000) as hc:
        eq(post(hc, b""), (400, {"error": "Request body should not be empty."}))
        eq(post(hc, b"[{"), (400, {"error": "Request body is malformed and cannot be read."}))
        eq(post(hc, {"data": {}}), (400, {"error": "Request body is malformed and cannot be read."}))
        body = json.dumps([ev(i) for i in range(30)])
        check(len(body) > 1000)
        eq(post(hc, body), (413, {"error": "request body too large"}))
        head, tail = '[{"data":{"m":"', '"}}]'
        exact = head + "y" * (1000 - len(head) - len(tail)) + tail
        eq(len(exact), 1000)
        eq(post(hc, exact)[0], 200, "a body of exactly the limit is taken")
        eq(post(hc, [ev(1)], dataset="a%2Fb")[0], 404)
        eq(post(hc, [ev(1)], method="PUT")[0], 405)
        c = http.client.HTTPConnection("127.0.0.1", hc.port, timeout=5)
        c.request("POST", "/1/events/k8s", body=b"{}", headers={"X-Honeycomb-Team": KEY})
        eq(c.getresponse().status, 404, "single events are not emulated")
        eq(hc.event_count(), 1)


@test
def test_gzip_bodies():
    with Honeycomb(keys=(KEY,)) as hc:
        z = gzip.compress(json.dumps([ev(1), ev(2)]).encode())
        eq(post(hc, z, headers={"Content-Encoding": "gzip"}), (200, [{"status": 202}] * 2))
        eq(hc.batches()[0]["encoding"], "gzip")
        eq(post(hc, b"not gzip", headers={"Content-Encoding": "gzip"})[0], 400)
        eq(post(hc, b"(zstd)", headers={"Content-Encoding": "zstd"})[0], 400)
        eq(hc.event_count(), 2)


@test
def test_fail_events_then_they_go_through():
    with Honeycomb(keys=(KEY,)) as hc:
        h = hc.fail_events(lambda ds, data: data.get("name") in ("pod-2", "pod-4"), status=503, times=1)
        st, body = post(hc, [ev(i) for i in range(1, 6)])
        eq(st, 200)
        eq([x["status"] for x in body], [202, 503, 202, 503, 202])
        eq(body[1]["error"], "service unavailable")
        eq(h.hits, 2)
        st, body = post(hc, [ev(2), ev(4)])
        eq(body, [{"status": 202}] * 2, "times=1: the resend goes through")
        eq(sorted(e["data"]["name"] for e in hc.events()), [f"pod-{i}" for i in range(1, 6)])
        h2 = hc.fail_events(lambda ds, data: True, status=429, error="rate limited", times=None)
        eq(post(hc, [ev(7)])[1], [{"status": 429, "error": "rate limited"}])
        eq(post(hc, [ev(7)])[1], [{"status": 429, "error": "rate limited"}])
        h2.cancel()
        eq(post(hc, [ev(7)])[1], [{"status": 202}])
        check(hc.fail_events(lambda ds, data: data["missing"]["x"]) is not None)
        eq(post(hc, [ev(8)])[1], [{"status": 202}], "a predicate that raises does not fault")


@test
def test_scripted_whole_request_answers_then_emulation():
    with Honeycomb(keys=(KEY,)) as hc:
        hc.script(Response(429, {"error": "rate limited"}, headers={"Retry-After": "2"}), Response(503))
        c = http.client.HTTPConnection("127.0.0.1", hc.port, timeout=5)
        c.request("POST", "/1/batch/k8s", body=json.dumps([ev(1)]), headers={"X-Honeycomb-Team": KEY})
        r = c.getresponse()
        r.read()
        eq((r.status, r.getheader("Retry-After")), (429, "2"))
        eq(post(hc, [ev(1)], conn=c)[0], 503)
        eq(post(hc, [ev(1)], conn=c), (200, [{"status": 202}]), "keep-alive, then the emulation")
        eq(hc.event_count(), 1)


@test
def test_down_and_up_on_the_same_port():
    with Honeycomb(keys=(KEY,)) as hc:
        port = hc.port
        eq(post(hc, [ev(1)])[0], 200)
        hc.down()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            raise AssertionError("still listening while down")
        except ConnectionRefusedError:
            pass
        hc.up()
        eq(hc.port, port)
        eq(post(hc, [ev(2)])[0], 200)
        eq([e["data"]["name"] for e in hc.events()], ["pod-1", "pod-2"], "stored events are kept")


@test
def test_wait_helpers_are_bounded():
    with Honeycomb(keys=(KEY,)) as hc:
        t0 = time.monotonic()
        try:
            hc.wait_events(1, timeout=0.3)
            raise AssertionError("wait_events returned without events")
        except AssertionError as e:
            check("0 event(s)" in str(e), str(e))
        check(time.monotonic() - t0 < 5)
        threading.Timer(0.2, lambda: post(hc, [ev(1), ev(2)])).start()
        eq(hc.wait_events(2, timeout=10), 2)
        eq(len(hc.wait_batches(1, timeout=10)), 1)


@test
def test_time_formats():
    eq(parse_time("2024-03-05T07:08:09Z"), datetime.datetime(2024, 3, 5, 7, 8, 9, tzinfo=UTC))
    eq(parse_time("2024-03-05T15:08:09.5+08:00"), datetime.datetime(2024, 3, 5, 7, 8, 9, 500000, UTC))
    eq(parse_time(1452759330927), datetime.datetime(2016, 1, 14, 8, 15, 30, 927000, UTC))
    eq(parse_time(1452759330), datetime.datetime(2016, 1, 14, 8, 15, 30, tzinfo=UTC))
    eq(parse_time("2024-03-05T07:08:09"), None, "no zone")
    eq(parse_time("yesterday"), None)
    eq(parse_time(True), None)


# --------------------------------------------------------------------------- runner

def main():
    k = sys.argv[sys.argv.index("-k") + 1] if "-k" in sys.argv else ""
    sys.stdout.reconfigure(line_buffering=True)
    passed = failed = n = 0
    t_all = time.monotonic()
    for fn in TESTS:
        if k not in fn.__name__:
            continue
        n += 1
        t0 = time.monotonic()
        try:
            fn()
            passed += 1
            print(f"ok {n} - {fn.__name__} ({time.monotonic() - t0:.2f}s)")
        except Exception as e:   # noqa: BLE001
            failed += 1
            print(f"not ok {n} - {fn.__name__} ({time.monotonic() - t0:.2f}s)")
            for line in "".join(traceback.format_exception(type(e), e, e.__traceback__)[-4:]).splitlines():
                print(f"#   {line}")
    print(f"# total {time.monotonic() - t_all:.1f}s, threads left {threading.active_count()}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
