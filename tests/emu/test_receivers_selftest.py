#!/usr/bin/env python3
"""Self-test of tests/emu/receivers.py with urllib / http.client / raw sockets.

    python3 tests/emu/test_receivers_selftest.py [-k SUBSTRING]

Prints "ok N - name (s)" / "not ok N - name" and ends with "N passed, N failed";
exits 1 on any failure.  Runs in well under 30 s.
"""
import base64
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from receivers import (ConnectProxy, DingTalk, Recorder, Response, WeCom,  # noqa: E402
                       dingtalk_sign, make_tls_files)

TESTS = []
TMP = tempfile.mkdtemp(prefix="emu-selftest-")


def test(fn):
    TESTS.append(fn)
    return fn


def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


def eq(a, b, msg=""):
    if a != b:
        raise AssertionError(f"{msg + ': ' if msg else ''}{a!r} != {b!r}")


def request(method, url, body=None, headers=None, timeout=5.0, context=None, conn=None):
    """-> (status, headers dict lower, body bytes, conn).  Reuses `conn` if given."""
    u = urllib.parse.urlsplit(url)
    if conn is None:
        if u.scheme == "https":
            conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout, context=context)
        else:
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    target = (u.path or "/") + (f"?{u.query}" if u.query else "")
    if isinstance(body, (dict, list)):
        body = json.dumps(body, ensure_ascii=False).encode()
        headers = dict({"Content-Type": "application/json"}, **(headers or {}))
    elif isinstance(body, str):
        body = body.encode()
    conn.request(method, target, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data, conn


def post_json(url, obj, headers=None, **kw):
    st, h, data, c = request("POST", url, obj, headers, **kw)
    c.close()
    return st, json.loads(data) if data else None


# --------------------------------------------------------------------------- Recorder

@test
def recorder_records_fields_and_multivalued_query():
    with Recorder() as r:
        st, h, data, c = request("POST", r.url + "/hook/a%20b?a=1&a=2&b=&c&d=x%2By+z", b"hello",
                                 {"X-Test": "v1", "Content-Type": "text/plain"})
        c.close()
        eq(st, 200)
        eq(json.loads(data), {"errcode": 0, "errmsg": "ok"})
        eq(h.get("content-type"), "application/json")
        [q] = r.wait_for(1)
        eq(q.method, "POST")
        eq(q.path, "/hook/a%20b")
        eq(q.query, "a=1&a=2&b=&c&d=x%2By+z")
        eq(q.params, {"a": ["1", "2"], "b": [""], "c": [""], "d": ["x+y z"]})
        eq(q.header("x-test"), "v1")
        eq(q.body, b"hello")
        eq(q.status, 200)
        check(q.conn == 1 and q.conn_seq == 0 and not q.tls, repr(q))
        check(abs(q.wall - time.time()) < 5 and q.t <= time.monotonic())
        eq(r.bodies(), [b"hello"])


@test
def recorder_keepalive_connection_ids():
    with Recorder() as r:
        c = None
        for i in range(3):
            st, _, _, c = request("POST", r.url + "/k", b"{}", conn=c)
            eq(st, 200)
        c.close()
        st, _, _, c2 = request("GET", r.url + "/other")
        c2.close()
        reqs = r.wait_for(4)
        eq([q.conn for q in reqs[:3]], [reqs[0].conn] * 3, "same connection reused")
        eq([q.conn_seq for q in reqs[:3]], [0, 1, 2])
        check(reqs[3].conn != reqs[0].conn, "new connection -> new id")
        eq(r.connections, 2)


@test
def recorder_connection_close_and_http10():
    with Recorder() as r:
        s = socket.create_connection(("127.0.0.1", r.port), timeout=3)
        s.sendall(b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            data += d
        s.close()
        check(data.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in data, data[:200])
        s = socket.create_connection(("127.0.0.1", r.port), timeout=3)
        s.sendall(b"GET /y HTTP/1.0\r\n\r\n")
        data = s.recv(4096)
        check(data.startswith(b"HTTP/1.1 200"), data)
        eq(s.recv(10), b"", "HTTP/1.0 without keep-alive is closed")
        s.close()


@test
def recorder_scripted_500_then_200_with_retry_after():
    with Recorder() as r:
        r.script(Response(500, "boom"), Response(429, {"errcode": 45009}, {"Retry-After": "2"}), 200)
        c = None
        st, h, data, c = request("POST", r.url, b"1", conn=c)
        eq((st, data), (500, b"boom"))
        st, h, data, c = request("POST", r.url, b"2", conn=c)
        eq(st, 429)
        eq(h.get("retry-after"), "2")
        eq(json.loads(data), {"errcode": 45009})
        st, h, data, c = request("POST", r.url, b"3", conn=c)
        eq((st, data), (200, b""))
        st, h, data, c = request("POST", r.url, b"4", conn=c)
        eq((st, json.loads(data)), (200, {"errcode": 0, "errmsg": "ok"}), "default after the script")
        c.close()
        eq([q.status for q in r.requests], [500, 429, 200, 200])
        eq(r.pending_script(), 0)


@test
def recorder_set_default_and_delay():
    with Recorder(default=Response(503, "down", {"Retry-After": "1"})) as r:
        st, h, data, c = request("GET", r.url)
        c.close()
        eq((st, data, h.get("retry-after")), (503, b"down", "1"))
        r.set_default(status=204)
        r.script(Response(200, "slow", delay=0.3))
        t0 = time.monotonic()
        st, _, data, c = request("GET", r.url)
        dt = time.monotonic() - t0
        eq((st, data), (200, b"slow"))
        check(0.28 <= dt < 2.0, f"delay {dt:.3f}")
        st, _, data, c = request("GET", r.url, conn=c)
        eq((st, data), (204, b""))
        c.close()


@test
def recorder_hang_release_and_timeout():
    with Recorder() as r:
        r.script(Response.hang(202, "late"))
        c = http.client.HTTPConnection("127.0.0.1", r.port, timeout=0.4)
        c.request("POST", "/h", body=b"x")
        try:
            c.getresponse()
            raise AssertionError("hung request answered")
        except (socket.timeout, TimeoutError):
            pass
        c.close()
        r.wait_for(1)
        eq(r.requests[0].status, None, "no answer recorded while hanging")
        end = time.monotonic() + 2
        while r.hanging and time.monotonic() < end:
            time.sleep(0.01)
        eq(r.hanging, 0, "a hung request whose client left is no longer hanging")
        # second hang, released while the client waits
        r.script(Response.hang(202, "late"))
        out = {}

        def client():
            try:
                out["r"] = request("POST", r.url + "/h2", b"y", timeout=5)[:3]
            except Exception as e:   # noqa: BLE001
                out["e"] = e
        t = threading.Thread(target=client, daemon=True)
        t.start()
        end = time.monotonic() + 3
        while r.hanging < 1 and time.monotonic() < end:
            time.sleep(0.01)
        check(r.hanging >= 1, "request is hanging")
        r.release()
        t.join(3)
        check("r" in out, f"released client got {out}")
        eq((out["r"][0], out["r"][2]), (202, b"late"))
        eq(r.requests[-1].status, 202)


@test
def recorder_stop_is_fast_with_hung_and_idle_connections():
    r = Recorder()
    idle = http.client.HTTPConnection("127.0.0.1", r.port, timeout=5)
    idle.request("GET", "/idle")
    idle.getresponse().read()
    r.script(Response.hang())
    errs = []

    def client():
        try:
            request("POST", r.url + "/h", b"z", timeout=5)
        except Exception as e:   # noqa: BLE001
            errs.append(e)
    t = threading.Thread(target=client, daemon=True)
    t.start()
    end = time.monotonic() + 3
    while r.hanging < 1 and time.monotonic() < end:
        time.sleep(0.01)
    check(r.hanging == 1)
    t0 = time.monotonic()
    r.stop()
    dt = time.monotonic() - t0
    t.join(2)
    check(dt < 1.0, f"stop took {dt:.3f}s")
    check(errs and not t.is_alive(), "hung client saw the connection close")
    try:
        socket.create_connection(("127.0.0.1", r.port), timeout=1).close()
        raise AssertionError("still accepting after stop")
    except ConnectionRefusedError:
        pass
    idle.close()


@test
def recorder_close_and_reset_actions():
    with Recorder() as r:
        r.script(Response.close(), Response.reset())
        for _ in range(2):
            try:
                request("POST", r.url, b"q", timeout=3)
                raise AssertionError("expected a dropped connection")
            except (http.client.RemoteDisconnected, ConnectionResetError, http.client.BadStatusLine):
                pass
        eq(len(r.wait_for(2)), 2, "both requests recorded")
        st, _, _, c = request("GET", r.url)
        c.close()
        eq(st, 200)


@test
def recorder_restart_same_port_outage():
    r = Recorder()
    port = r.port
    request("GET", r.url)[3].close()
    r.stop()
    try:
        request("GET", r.url, timeout=1)
        raise AssertionError("receiver should be down")
    except ConnectionRefusedError:
        pass
    r.start()
    eq(r.port, port)
    st, _, _, c = request("GET", r.url)
    c.close()
    eq(st, 200)
    eq(r.total, 2)
    r.stop()


@test
def recorder_chunked_expect_and_head():
    with Recorder() as r:
        s = socket.create_connection(("127.0.0.1", r.port), timeout=3)
        s.sendall(b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n")
        check(s.recv(4096).startswith(b"HTTP/1.1 200"))
        s.sendall(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        eq(s.recv(4096), b"HTTP/1.1 100 Continue\r\n\r\n")
        s.sendall(b"abc")
        check(s.recv(4096).startswith(b"HTTP/1.1 200"))
        s.close()
        c = http.client.HTTPConnection("127.0.0.1", r.port, timeout=3)
        c.request("HEAD", "/h")
        resp = c.getresponse()
        eq((resp.status, resp.read()), (200, b""))
        c.close()
        eq([q.body for q in r.wait_for(3)], [b"hello world", b"abc", b""])


@test
def recorder_bad_request_and_limits():
    with Recorder(max_body=10) as r:
        s = socket.create_connection(("127.0.0.1", r.port), timeout=3)
        s.sendall(b"NONSENSE\r\n\r\n")
        check(s.recv(4096).startswith(b"HTTP/1.1 400"))
        s.close()
        st, _, _, c = request("POST", r.url, b"x" * 11)
        c.close()
        eq(st, 413)
        eq(r.total, 0, "malformed/oversized requests are not recorded")


@test
def recorder_wait_for_times_out_and_clear():
    with Recorder() as r:
        t0 = time.monotonic()
        try:
            r.wait_for(1, timeout=0.2)
            raise AssertionError("wait_for should have failed")
        except AssertionError as e:
            check("0 request(s)" in str(e), str(e))
        check(time.monotonic() - t0 < 1)
        post_json(r.url, {"a": 1})
        post_json(r.url, {"b": [2]})
        eq(r.bodies_json(), [{"a": 1}, {"b": [2]}])
        eq(r.wait_quiet(0.1, 2), 2)
        r.clear()
        eq((r.total, r.requests), (0, []))


@test
def recorder_handle_exception_is_500_with_traceback():
    class Broken(Recorder):
        def handle(self, req):
            raise RuntimeError("emulator bug")
    with Broken() as r:
        st, _, data, c = request("GET", r.url)
        c.close()
        eq(st, 500)
        check(b"emulator bug" in data and len(r.errors) == 1)


@test
def recorder_tls_verified_by_ip_san_and_rejection_counted():
    tls = make_tls_files(os.path.join(TMP, "tls"))
    with Recorder(certfile=tls["cert"], keyfile=tls["key"]) as r:
        check(r.url.startswith("https://127.0.0.1:"))
        ctx = ssl.create_default_context(cafile=tls["ca"])
        st, _, data, c = request("POST", r.url + "/tls", b"s", context=ctx)
        c.close()
        eq(st, 200)
        check(r.wait_for(1)[0].tls)
        try:   # a client trusting nothing must fail, and the server counts it
            request("GET", r.url, context=ssl.create_default_context(cafile=None, capath="/nonexistent"))
        except (ssl.SSLError, OSError):
            pass
        end = time.monotonic() + 2
        while r.tls_failures < 1 and time.monotonic() < end:
            time.sleep(0.01)
        eq(r.tls_failures, 1)
        # openssl s_client (the brief's CLI) agrees the chain verifies for 127.0.0.1
        p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{r.port}", "-CAfile", tls["ca"],
                            "-verify_ip", "127.0.0.1", "-verify_return_error", "-brief"],
                           input=b"", capture_output=True, timeout=10)
        check(p.returncode == 0 and b"Verification: OK" in p.stderr + p.stdout, p.stderr[-300:])


@test
def recorder_ipv6():
    with Recorder(host="::1") as r:
        check(r.url.startswith("http://[::1]:"), r.url)
        with urllib.request.urlopen(r.url + "/v6?x=1", data=b"six", timeout=5) as resp:
            eq(resp.status, 200)
        q = r.wait_for(1)[0]
        eq((q.peer[0], q.body, q.params), ("::1", b"six", {"x": ["1"]}))


_CLIENT = r"""
import socket, sys, time, threading
port, n, nconn = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
body = b'{"EventType":"Warning","n":1}'
req = (b"POST /bench HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
       + str(len(body)).encode() + b"\r\n\r\n" + body)
def run(k):
    s = socket.create_connection(("127.0.0.1", port)); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    for i in range(k):
        s.sendall(req)
        while True:
            j = buf.find(b"\r\n\r\n")
            if j >= 0:
                cl = int(buf[:j].split(b"Content-Length: ")[1].split(b"\r\n")[0])
                if len(buf) >= j + 4 + cl:
                    buf = buf[j + 4 + cl:]; break
            d = s.recv(65536)
            if not d: raise SystemExit("closed")
            buf += d
    s.close()
t0 = time.monotonic()
ts = [threading.Thread(target=run, args=(n // nconn,)) for _ in range(nconn)]
[t.start() for t in ts]; [t.join() for t in ts]
print(n / (time.monotonic() - t0))
"""


@test
def recorder_throughput_thousands_per_second():
    n = 4000
    with Recorder() as r:
        p = subprocess.run([sys.executable, "-c", _CLIENT, str(r.port), str(n), "4"],
                           capture_output=True, text=True, timeout=25)
        check(p.returncode == 0, p.stderr[-500:])
        r.wait_for(n, timeout=5)
        reqs = r.requests
        span = reqs[-1].t - reqs[0].t
        rate = n / span if span > 0 else float("inf")
        print(f"#   recorder: {n} requests over 4 keep-alive connections, {rate:.0f} req/s "
              f"(client measured {float(p.stdout):.0f})")
        check(rate >= 2000, f"only {rate:.0f} req/s")
        eq(r.connections, 4)


# --------------------------------------------------------------------------- DingTalk

@test
def dingtalk_sign_check_value():
    eq(dingtalk_sign("SECabc", 1700000000000), "jcUpW0QmtKduN03n4JqQ0PBosVjqnM8gU7fIIvsDmCM=")
    eq(DingTalk.sign("SECabc", "1700000000000"), "jcUpW0QmtKduN03n4JqQ0PBosVjqnM8gU7fIIvsDmCM=")
    # and the emulator accepts exactly that value, given a clock at that instant
    with DingTalk(token="T", secret="SECabc", clock=lambda: 1700000000.5) as d:
        q = "access_token=T&sign=jcUpW0QmtKduN03n4JqQ0PBosVjqnM8gU7fIIvsDmCM%3D&timestamp=1700000000000"
        st, rep = post_json(d.url + "/robot/send?" + q, {"msgtype": "text", "text": {"content": "hi"}})
        eq((st, rep), (200, {"errcode": 0, "errmsg": "ok"}))


@test
def dingtalk_good_and_bad_signatures():
    with DingTalk(token="tok", secret="SECsecret") as d:
        url = d.url + "/robot/send?"
        msg = {"msgtype": "text", "text": {"content": "Level:Warning \nKind:Pod"},
               "at": {"atMobiles": ["13800000000"], "isAtAll": False}}
        eq(post_json(url + d.signed_query(), msg)[1], {"errcode": 0, "errmsg": "ok"})
        now = int(time.time() * 1000)
        good = dingtalk_sign("SECsecret", now)
        cases = [
            ("wrong token", f"access_token=nope&timestamp={now}&sign={urllib.parse.quote(good, safe='')}", 300001),
            ("no token", f"timestamp={now}&sign={urllib.parse.quote(good, safe='')}", 300001),
            ("no sign", f"access_token=tok&timestamp={now}", 310000),
            ("no timestamp", f"access_token=tok&sign={urllib.parse.quote(good, safe='')}", 310000),
            ("wrong secret", "access_token=tok&timestamp=%d&sign=%s" % (
                now, urllib.parse.quote(dingtalk_sign("SECother", now), safe="")), 310000),
            ("stale (> 1 h)", "access_token=tok&timestamp=%d&sign=%s" % (
                now - 3_700_000, urllib.parse.quote(dingtalk_sign("SECsecret", now - 3_700_000), safe="")), 310000),
            ("future (> 1 h)", "access_token=tok&timestamp=%d&sign=%s" % (
                now + 3_700_000, urllib.parse.quote(dingtalk_sign("SECsecret", now + 3_700_000), safe="")), 310000),
            ("sign for another ts", f"access_token=tok&timestamp={now + 1}&sign={urllib.parse.quote(good, safe='')}",
             310000),
        ]
        for name, q, code in cases:
            st, rep = post_json(url + q, msg)
            eq((st, rep["errcode"]), (200, code), name)
        # A sign containing '+' sent without URL-encoding decodes to ' ' and fails (as for real).
        ts = now
        while "+" not in dingtalk_sign("SECsecret", ts):
            ts += 1
        raw = dingtalk_sign("SECsecret", ts)
        eq(post_json(url + f"access_token=tok&timestamp={ts}&sign={raw}", msg)[1]["errcode"], 310000, "unencoded +")
        eq(post_json(url + f"access_token=tok&timestamp={ts}&sign={urllib.parse.quote(raw, safe='')}", msg)[1]
           ["errcode"], 0, "encoded +")
        eq(len(d.accepted), 2)
        eq(d.rejected_codes(), [c for _, _, c in cases] + [310000])
        check("invalid timestamp" in d.rejected[5].errmsg and "sign not match" in d.rejected[4].errmsg)


@test
def dingtalk_schema_rejections():
    with DingTalk(token="T") as d:
        url = d.url + "/robot/send?access_token=T"
        cases = [
            ("text ok", {"msgtype": "text", "text": {"content": "x"}}, 0),
            ("markdown ok", {"msgtype": "markdown", "markdown": {"title": "Kubernetes(ID:c) Event",
                                                                 "text": "Level: **Warning** \n\n"}}, 0),
            ("text missing", {"msgtype": "text"}, 400202),
            ("content empty", {"msgtype": "text", "text": {"content": ""}}, 400202),
            ("content not str", {"msgtype": "text", "text": {"content": 5}}, 400202),
            ("md no title", {"msgtype": "markdown", "markdown": {"text": "t"}}, 400402),
            ("md no text", {"msgtype": "markdown", "markdown": {"title": "t"}}, 400403),
            ("bad msgtype", {"msgtype": "image", "image": {}}, 400105),
            ("no msgtype", {"text": {"content": "x"}}, 400105),
            ("atMobiles str", {"msgtype": "text", "text": {"content": "x"}, "at": {"atMobiles": "138"}}, 40035),
            ("atMobiles ints", {"msgtype": "text", "text": {"content": "x"}, "at": {"atMobiles": [138]}}, 40035),
            ("isAtAll str", {"msgtype": "text", "text": {"content": "x"}, "at": {"isAtAll": "false"}}, 40035),
            ("array body", [1], 40035),
        ]
        for name, body, code in cases:
            st, rep = post_json(url, body)
            eq((st, rep["errcode"]), (200, code), name)
        for name, body, hdrs, code in [
            ("invalid json", b'{"msgtype":', {"Content-Type": "application/json"}, 40035),
            ("not utf-8", b'{"msgtype":"text","text":{"content":"\xff"}}', {"Content-Type": "application/json"}, 40035),
            ("form content-type", b'{"msgtype":"text","text":{"content":"x"}}',
             {"Content-Type": "application/x-www-form-urlencoded"}, 40035),
        ]:
            st, _, data, c = request("POST", url, body, hdrs)
            c.close()
            eq((st, json.loads(data)["errcode"]), (200, code), name)
        # charset parameter is fine, as kube-eventer sends it
        st, _, data, c = request("POST", url, b'{"msgtype":"text","text":{"content":"x"}}',
                                 {"Content-Type": "application/json;charset=utf-8"})
        c.close()
        eq(json.loads(data)["errcode"], 0)
        # size: exactly 20000 bytes passes, 20001 fails with 460101
        def sized(n):
            base = json.dumps({"msgtype": "text", "text": {"content": ""}}).encode()
            return json.dumps({"msgtype": "text", "text": {"content": "a" * (n - len(base))}}).encode()
        for n, code in ((20000, 0), (20001, 460101)):
            st, _, data, c = request("POST", url, sized(n), {"Content-Type": "application/json"})
            c.close()
            eq(json.loads(data)["errcode"], code, f"{n} bytes")
        st, _, _, c = request("GET", url)
        c.close()
        eq(st, 405)
        st, _, _, c = request("POST", d.url + "/robot/other?access_token=T", b"{}")
        c.close()
        eq(st, 404)
        eq(len(d.messages()), 4)
        check(all(r.accepted for r in d.accepted) and not any(r.accepted for r in d.rejected))


@test
def dingtalk_rate_limit_rolling_window():
    with DingTalk(token="T", limit=5, window_seconds=1.0) as d:
        url = d.url + "/robot/send?access_token=T"
        msg = {"msgtype": "text", "text": {"content": "x"}}
        t0 = time.monotonic()
        codes = [post_json(url, msg)[1]["errcode"] for _ in range(7)]
        eq(codes, [0] * 5 + [130101] * 2)
        eq(d.rejected[0].errmsg, "send too fast, exceed 20 times per minute")
        time.sleep(max(0.0, t0 + 1.05 - time.monotonic()))
        eq(post_json(url, msg)[1]["errcode"], 0, "window rolled")
        eq(len(d.accepted), 6)
    with DingTalk(token="T", limit=2, window_seconds=0.3, penalty_seconds=1.0) as d:
        url = d.url + "/robot/send?access_token=T"
        msg = {"msgtype": "text", "text": {"content": "x"}}
        t0 = time.monotonic()
        eq([post_json(url, msg)[1]["errcode"] for _ in range(3)], [0, 0, 130101])
        time.sleep(max(0.0, t0 + 0.4 - time.monotonic()))
        eq(post_json(url, msg)[1]["errcode"], 130101, "still in the penalty")
        time.sleep(max(0.0, t0 + 1.15 - time.monotonic()))
        eq(post_json(url, msg)[1]["errcode"], 0, "penalty over")


@test
def dingtalk_script_overrides_emulation():
    with DingTalk(token="T") as d:
        d.script(Response(502, "bad gateway"))
        url = d.url + "/robot/send?access_token=T"
        st, _, data, c = request("POST", url, {"msgtype": "text", "text": {"content": "x"}})
        c.close()
        eq(st, 502)
        eq(post_json(url, {"msgtype": "text", "text": {"content": "x"}})[1]["errcode"], 0)
        eq((d.total, len(d.accepted)), (2, 1))
        d.wait_accepted(1)


# --------------------------------------------------------------------------- WeCom

def _wecom_token(w, corpid="wwcorp", secret="S"):
    with urllib.request.urlopen(f"{w.url}/cgi-bin/gettoken?corpid={corpid}&corpsecret={secret}", timeout=5) as r:
        eq(r.status, 200)
        return json.loads(r.read())


@test
def wecom_gettoken_and_errors():
    with WeCom(corpid="ww1", corpsecret="sec") as w:
        t = _wecom_token(w, "ww1", "sec")
        eq((t["errcode"], t["errmsg"], t["expires_in"]), (0, "ok", 7200))
        check(len(t["access_token"]) > 20)
        eq(_wecom_token(w, "ww1", "sec")["access_token"], t["access_token"], "same token while valid")
        eq(w.token_fetches, 2)
        eq(_wecom_token(w, "ww1", "wrong")["errcode"], 40001)
        eq(_wecom_token(w, "wwX", "sec")["errcode"], 40013)
        eq(_wecom_token(w, "", "sec")["errcode"], 41002)
        eq(_wecom_token(w, "ww1", "")["errcode"], 41004)
        eq(w.token_fetches, 2, "failed fetches are not counted")
        e = w.rejected[0].errmsg
        check(e.startswith("invalid credential, hint: [") and "more info at https://open.work.weixin.qq.com"
              "/devtool/query?e=40001" in e, e)


@test
def wecom_app_message_token_expiry():
    with WeCom(token_ttl=7200) as w:
        tok = _wecom_token(w)["access_token"]
        msg = {"touser": "u1", "toparty": "", "totag": "", "msgtype": "text", "agentid": 1000002,
               "text": {"content": "Level:Warning \nKind:Pod"}, "safe": 0}
        url = f"{w.url}/cgi-bin/message/send?access_token="
        eq(post_json(url + tok, msg)[1], {"errcode": 0, "errmsg": "ok", "invaliduser": ""})
        eq(post_json(url + "unknown", msg)[1]["errcode"], 40014)
        eq(post_json(w.url + "/cgi-bin/message/send", msg)[1]["errcode"], 41001)
        w.expire_tokens()
        eq(post_json(url + tok, msg)[1]["errcode"], 42001)
        tok2 = _wecom_token(w)["access_token"]
        check(tok2 != tok, "a new token after expiry")
        eq(post_json(url + tok2, msg)[1]["errcode"], 0)
        eq(post_json(url + tok, msg)[1]["errcode"], 42001, "old token stays expired")
        eq((w.token_fetches, len(w.tokens_issued), len(w.app_bodies())), (2, 2, 2))
    with WeCom(token_ttl=1) as w:   # natural expiry
        t = _wecom_token(w)
        eq(t["expires_in"], 1)
        time.sleep(1.05)
        eq(post_json(f"{w.url}/cgi-bin/message/send?access_token={t['access_token']}",
                     {"touser": "@all", "msgtype": "text", "agentid": 1000002, "text": {"content": "x"}})[1]
           ["errcode"], 42001)


@test
def wecom_app_message_schema():
    with WeCom(users={"u1", "u2"}, app_limit=3, app_window=60) as w:
        tok = _wecom_token(w)["access_token"]
        url = f"{w.url}/cgi-bin/message/send?access_token={tok}"
        base = {"touser": "u1", "msgtype": "text", "agentid": 1000002, "text": {"content": "x"}}

        def with_(**kw):
            m = json.loads(json.dumps(base))
            for k, v in kw.items():
                if v is None:
                    m.pop(k, None)
                else:
                    m[k] = v
            return m
        cases = [
            ("no recipients", with_(touser=None), 82001),
            ("empty recipients", with_(touser="", toparty="", totag=""), 82001),
            ("no agentid", with_(agentid=None), 41011),
            ("agentid str", with_(agentid="1000002"), 40056),
            ("wrong agentid", with_(agentid=1), 40056),
            ("bad msgtype", with_(msgtype="news"), 40008),
            ("empty content", with_(text={"content": ""}), 44004),
            ("text 2049 bytes", with_(text={"content": "a" * 2049}), 40058),
            ("md 4097 bytes", with_(msgtype="markdown", markdown={"content": "é" * 2048 + "a"}), 40058),
            ("all users unknown", with_(touser="zz"), 81013),
        ]
        for name, m, code in cases:
            eq(post_json(url, m)[1]["errcode"], code, name)
        check("text.content exceed max length 2048" in w.rejected[7].errmsg, w.rejected[7].errmsg)
        # exactly 2048 UTF-8 bytes of multi-byte text is fine (2 + 682*3 = 2048)
        eq(post_json(url, with_(text={"content": "ab" + "中" * 682}))[1]["errcode"], 0)
        rep = post_json(url, with_(touser="u1|ghost", toparty="2"))[1]
        eq((rep["errcode"], rep["invaliduser"]), (0, "ghost"))
        eq(post_json(url, with_(msgtype="markdown", markdown={"content": "é" * 2048}))[1]["errcode"], 0)
        eq(post_json(url, base)[1]["errcode"], 45009, "app_limit=3 per window")
        # a body cut in the middle of a multi-byte character / lone surrogate -> 40033
        cut = json.dumps(with_(text={"content": "中中"}), ensure_ascii=False).encode()
        cut = cut.replace("中中".encode(), "中".encode() + "中".encode()[:2])
        for name, raw in (("cut utf-8", cut),
                          ("lone surrogate", b'{"touser":"u1","msgtype":"text","agentid":1000002,'
                                             b'"text":{"content":"ok\\ud83d"}}'),
                          ("bad json", b'{"touser":')):
            st, _, data, c = request("POST", url, raw, {"Content-Type": "application/json"})
            c.close()
            eq(json.loads(data)["errcode"], 40035 if name == "bad json" else 40033, name)
        eq(len(w.app_messages), 3)


@test
def wecom_group_robot():
    with WeCom(keys=("K1", "K2"), robot_limit=3, robot_window=0.6) as w:
        url = w.url + "/cgi-bin/webhook/send?key="
        ok = {"msgtype": "text", "text": {"content": "广州今日天气", "mentioned_list": ["wangqing", "@all"],
                                          "mentioned_mobile_list": ["13800001111"]}}
        eq(post_json(url + "K1", ok)[1], {"errcode": 0, "errmsg": "ok"})
        eq(post_json(url + "nope", ok)[1]["errcode"], 93000)
        eq(post_json(w.url + "/cgi-bin/webhook/send", ok)[1]["errcode"], 93000)
        check("invalid webhook url" in w.rejected[0].errmsg)
        cases = [
            ("mentioned_list str", {"msgtype": "text", "text": {"content": "x", "mentioned_list": "a"}}, 40058),
            ("mentioned ints", {"msgtype": "text", "text": {"content": "x", "mentioned_mobile_list": [1]}}, 40058),
            ("no content", {"msgtype": "text", "text": {}}, 44004),
            ("image", {"msgtype": "image", "image": {}}, 40008),
            ("text 2049", {"msgtype": "text", "text": {"content": "中" * 683}}, 40058),
            ("md 4097", {"msgtype": "markdown", "markdown": {"content": "a" * 4097}}, 40058),
        ]
        for name, m, code in cases:
            eq(post_json(url + "K2", m)[1]["errcode"], code, name)
        t0 = time.monotonic()
        codes = [post_json(url + "K2", {"msgtype": "markdown", "markdown": {"content": "a" * 4096}})[1]["errcode"]
                 for _ in range(4)]
        eq(codes, [0, 0, 0, 45009], "3 per window per key")
        eq(post_json(url + "K1", ok)[1]["errcode"], 0, "other key has its own window")
        time.sleep(max(0.0, t0 + 0.65 - time.monotonic()))
        eq(post_json(url + "K2", ok)[1]["errcode"], 0, "window rolled")
        eq(len(w.robot_bodies()), 6)
        w.wait_messages(6, kind="robot")


# --------------------------------------------------------------------------- proxy

def _connect_via(proxy, target_host, target_port, ctx, path, headers=None, proxy_headers=None):
    c = http.client.HTTPSConnection(proxy.host, proxy.port, timeout=5, context=ctx)
    c.set_tunnel(target_host, target_port, headers=proxy_headers)
    c.request("POST", path, body=b"via-tunnel", headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


@test
def proxy_connect_tunnel_and_forwarding():
    tls = make_tls_files(os.path.join(TMP, "tls"))
    ctx = ssl.create_default_context(cafile=tls["ca"])
    with Recorder(certfile=tls["cert"], keyfile=tls["key"]) as rs, Recorder() as rp, ConnectProxy() as px:
        eq(_connect_via(px, "127.0.0.1", rs.port, ctx, "/secure"), (200, b'{"errcode":0,"errmsg":"ok"}'))
        q = rs.wait_for(1)[0]
        eq((q.path, q.body, q.tls), ("/secure", b"via-tunnel", True))
        # plain HTTP through the proxy: absolute-URI forwarding
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": px.url}))
        with opener.open(urllib.request.Request(rp.url + "/plain?a=1&a=2", data=b"fwd",
                                                headers={"X-K": "v"}), timeout=5) as resp:
            eq((resp.status, resp.read()), (200, b'{"errcode":0,"errmsg":"ok"}'))
        q = rp.wait_for(1)[0]
        eq((q.path, q.params, q.body, q.header("x-k")), ("/plain", {"a": ["1", "2"]}, b"fwd", "v"))
        check(q.header("proxy-authorization") is None)
        recs = px.wait_for(2)
        eq(px.targets(), [f"127.0.0.1:{rs.port}", f"127.0.0.1:{rp.port}"])
        eq([(r.method, r.status) for r in recs], [("CONNECT", 200), ("POST", 200)])
        check(recs[0].bytes_up > 0 and recs[0].bytes_down > 0, recs[0])
        eq(recs[1].url, rp.url + "/plain?a=1&a=2")
        # upstream down -> 502 and recorded
        dead = Recorder()
        dead_port = dead.port
        dead.stop()
        c = http.client.HTTPConnection(px.host, px.port, timeout=5)
        c.request("CONNECT", f"127.0.0.1:{dead_port}")
        eq(c.getresponse().status, 502)
        c.close()
        eq(px.records[-1].status, 502)


@test
def proxy_requires_authorization():
    tls = make_tls_files(os.path.join(TMP, "tls"))
    ctx = ssl.create_default_context(cafile=tls["ca"])
    with Recorder(certfile=tls["cert"], keyfile=tls["key"]) as rs, ConnectProxy(auth="alice:s3cr:t") as px:
        try:
            _connect_via(px, "127.0.0.1", rs.port, ctx, "/x")
            raise AssertionError("tunnel without credentials should fail")
        except OSError as e:
            check("407" in str(e), str(e))
        cred = "Basic " + base64.b64encode(b"alice:s3cr:t").decode()
        eq(_connect_via(px, "127.0.0.1", rs.port, ctx, "/x", proxy_headers={"Proxy-Authorization": cred})[0], 200)
        eq([(r.status, r.authorized) for r in px.records], [(407, False), (200, True)])
        check(px.url_with_auth.startswith("http://alice:s3cr%3At@127.0.0.1:"), px.url_with_auth)
        # forwarding: 407 keeps the connection usable, then the authorized retry passes
        with Recorder() as rp:
            c = http.client.HTTPConnection(px.host, px.port, timeout=5)
            c.request("GET", rp.url + "/p")
            r = c.getresponse()
            r.read()
            eq((r.status, r.getheader("Proxy-Authenticate")), (407, 'Basic realm="emu"'))
            c.request("GET", rp.url + "/p", headers={"Proxy-Authorization": cred})
            r = c.getresponse()
            eq((r.status, r.read()), (200, b'{"errcode":0,"errmsg":"ok"}'))
            c.close()
            eq(rp.total, 1)
        eq(rs.total, 1, "the unauthenticated tunnel never reached the receiver")


@test
def proxy_and_receivers_on_ipv6():
    tls = make_tls_files(os.path.join(TMP, "tls"))
    ctx = ssl.create_default_context(cafile=tls["ca"])
    with Recorder(host="::1", certfile=tls["cert"], keyfile=tls["key"]) as rs, ConnectProxy(host="::1") as px, \
            DingTalk(host="::1", token="T") as d:
        # Python 3.11's set_tunnel() writes "CONNECT ::1:port" without brackets (invalid;
        # curl brackets IPv6), so the tunnel is opened by hand here.
        s = socket.create_connection(("::1", px.port), timeout=5)
        s.sendall(f"CONNECT [::1]:{rs.port} HTTP/1.1\r\nHost: [::1]:{rs.port}\r\n\r\n".encode())
        check(s.recv(4096).startswith(b"HTTP/1.1 200 Connection established"))
        t = ctx.wrap_socket(s, server_hostname="::1")
        t.sendall(b"POST /v6 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nv6")
        check(t.recv(4096).startswith(b"HTTP/1.1 200 OK"))
        t.close()
        # and the unbracketed form is refused rather than guessed
        s = socket.create_connection(("::1", px.port), timeout=5)
        s.sendall(f"CONNECT ::1:{rs.port} HTTP/1.1\r\n\r\n".encode())
        check(s.recv(4096).startswith(b"HTTP/1.1 400"))
        s.close()
        px.clear()
        eq(rs.wait_for(1)[0].peer[0], "::1")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": px.url}))
        body = json.dumps({"msgtype": "text", "text": {"content": "v6"}}).encode()
        req = urllib.request.Request(d.url + "/robot/send?access_token=T", data=body,
                                     headers={"Content-Type": "application/json"})
        with opener.open(req, timeout=5) as resp:
            eq(json.loads(resp.read())["errcode"], 0)
        eq(px.targets(), [f"[::1]:{d.port}"])
        eq(d.messages(), [{"msgtype": "text", "text": {"content": "v6"}}])


@test
def proxy_stop_is_fast_with_open_tunnel():
    with Recorder() as r:
        px = ConnectProxy()
        s = socket.create_connection((px.host, px.port), timeout=3)
        s.sendall(f"CONNECT 127.0.0.1:{r.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        check(s.recv(4096).startswith(b"HTTP/1.1 200"))
        t0 = time.monotonic()
        px.stop()
        dt = time.monotonic() - t0
        check(dt < 1.0, f"proxy stop took {dt:.3f}s")
        s.settimeout(2)
        try:
            eq(s.recv(10), b"", "tunnel closed")
        except ConnectionResetError:
            pass
        s.close()


# --------------------------------------------------------------------------- runner

def main():
    k = sys.argv[sys.argv.index("-k") + 1] if "-k" in sys.argv else ""
    sys.stdout.reconfigure(line_buffering=True)
    passed = failed = 0
    t_all = time.monotonic()
    n = 0
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
    shutil.rmtree(TMP, ignore_errors=True)
    print(f"# total {time.monotonic() - t_all:.1f}s, threads left {threading.active_count()}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
