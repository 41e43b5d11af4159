#!/usr/bin/env python3
"""Self-test of the Kubernetes API server emulator (kubeapi.py) and the test PKI (certs.py).

Clients here use only the standard library (ssl, socket, http.client, urllib) and read
watch streams at the chunked-framing level, so chunk boundaries, half lines and abrupt
ends are seen exactly as a client sees them. Prints "ok N - name" lines and ends with
"N passed, N failed"; exits 1 on any failure.

    python3 tests/emu/test_kubeapi_selftest.py [-k SUBSTRING]
"""
import gzip
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import certs  # noqa: E402
from kubeapi import KubeAPI, go_json  # noqa: E402

FIX = os.path.join(ROOT, "tests", "fixtures", "events")
PKI = None
T0 = "t0"


# --- a small HTTP/1.1 client that shows the chunked framing ----------------------------------------------------------
class Abrupt(Exception):
    """The connection ended without the terminating chunk (data: the bytes of an unfinished chunk)."""

    def __init__(self, data=b"", why=""):
        super().__init__(why or "abrupt end")
        self.data = data


class Resp:
    def __init__(self, conn):
        self.conn, f = conn, conn.f
        line = f.readline(65537)
        if not line:
            raise Abrupt(b"", "no response")
        self.status = int(line.split(b" ", 2)[1])
        self.headers = {}
        self.header_list = []                       # [(lower-case name, value)], repeated headers kept
        for _ in range(200):
            h = f.readline(65537)
            if h in (b"\r\n", b"\n", b""):
                break
            k, v = h.decode().split(":", 1)
            self.headers[k.strip().lower()] = v.strip()
            self.header_list.append((k.strip().lower(), v.strip()))
        self.chunked = self.headers.get("transfer-encoding") == "chunked"
        self.chunks = []
        self.end = None

    def chunk(self):
        """The next chunk's payload; None after the terminating chunk; Abrupt if the connection ends first."""
        f = self.conn.f
        try:
            line = f.readline(100)
            if not line.endswith(b"\r\n"):
                self.end = "abrupt"
                raise Abrupt(b"", "EOF at a chunk boundary")
            n = int(line.strip(), 16)
            if n == 0:
                f.readline(10)
                self.end = "clean"
                return None
            data = f.read(n)
            if len(data) < n or f.read(2) != b"\r\n":
                self.end = "abrupt"
                raise Abrupt(data, "EOF inside a chunk")
        except (OSError, ValueError) as e:       # RST, TLS EOF without close_notify
            self.end = "abrupt"
            raise Abrupt(b"", repr(e))
        self.chunks.append(data)
        return data

    def body(self):
        if self.chunked:
            out = []
            for _ in range(10 ** 7):
                c = self.chunk()
                if c is None:
                    break
                out.append(c)
            return b"".join(out)
        return self.conn.f.read(int(self.headers.get("content-length", "0")))

    def json(self):
        return json.loads(self.body())


class Conn:
    def __init__(self, api, token=T0, cert=None, ca=None, tls_max=None, timeout=5.0):
        self.api, self.token = api, token
        host = api.host
        self.sock = socket.create_connection((host, api.port), timeout=timeout)
        if api.tls:
            ctx = ssl.create_default_context(cafile=ca or PKI["ca"])
            if tls_max:
                ctx.maximum_version = tls_max
            if cert:
                ctx.load_cert_chain(*cert)
            self.sock = ctx.wrap_socket(self.sock, server_hostname=host)
        self.f = self.sock.makefile("rb")

    def get(self, path, headers=None, token=None):
        return self.request("GET", path, headers=headers, token=token)

    def request(self, method, path, body=None, headers=None, token=None, ctype="application/json"):
        """body: dict/list -> JSON, str/bytes -> as is (Content-Length framing)."""
        h = {"Host": "kube", "Accept": "application/json", "User-Agent": "kubeapi-selftest"}
        tok = self.token if token is None else token
        if tok:
            h["Authorization"] = f"Bearer {tok}"
        data = b""
        if body is not None:
            data = body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else \
                json.dumps(body).encode()
            h["Content-Type"] = ctype
            h["Content-Length"] = str(len(data))
        h.update(headers or {})
        req = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
        self.sock.sendall(req.encode() + data)
        return Resp(self)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Watch:
    """Lines of a watch stream, however the chunks cut them."""

    def __init__(self, conn, path):
        self.conn = conn
        self.r = conn.get(path)
        check(self.r.status == 200, f"watch status {self.r.status}")
        check(self.r.chunked and self.r.headers.get("content-type") == "application/json", self.r.headers)
        self.buf = b""

    def raw_line(self):
        for _ in range(10 ** 6):
            if b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                return line
            try:
                c = self.r.chunk()
            except Abrupt as e:
                self.buf += e.data
                raise
            if c is None:
                return None
            self.buf += c
        raise AssertionError("unbounded")

    def next(self):
        line = self.raw_line()
        return None if line is None else json.loads(line)

    def take(self, n):
        out = []
        for _ in range(n):
            e = self.next()
            check(e is not None, f"stream ended after {len(out)} of {n}")
            out.append(e)
        return out

    def close(self):
        self.conn.close()


def watch(api, path, **kw):
    return Watch(Conn(api, **kw), path)


def get(api, path, token=T0, **kw):
    c = Conn(api, token=token, **kw)
    try:
        r = c.get(path)
        body = r.body()
        return r.status, r.headers, (json.loads(body) if body[:1] in (b"{", b"[") else body)
    finally:
        c.close()


def call(api, method, path, body=None, token=T0, ctype="application/json", headers=None):
    """One request on a fresh connection -> (status, headers, JSON body or raw bytes)."""
    c = Conn(api, token=token)
    try:
        r = c.request(method, path, body, headers=headers, ctype=ctype)
        data = r.body()
        return r.status, r.headers, (json.loads(data) if data[:1] in (b"{", b"[") else data)
    finally:
        c.close()


def line_of(typ, obj):
    return b'{"type":"' + typ.encode() + b'","object":' + go_json(obj) + b"}"


# --- checks ----------------------------------------------------------------------------------------------------------
def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


def eq(a, b, msg=""):
    if a != b:
        raise AssertionError(f"{msg}: {a!r} != {b!r}" if msg else f"{a!r} != {b!r}")


def names(items):
    return [i["metadata"]["name"] for i in items]


# --- tests ------------------------------------------------------------------------------------------------------------
def test_pki():
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        p = certs.make_pki(d)
        for k in ("ca", "server", "server_key", "client", "client_key", "other_ca", "other_client"):
            check(os.path.exists(p[k]), k)
        stamp = {k: os.stat(v).st_mtime_ns for k, v in p.items()}
        eq(certs.make_pki(d), p)
        eq({k: os.stat(v).st_mtime_ns for k, v in p.items()}, stamp, "cached: nothing remade")
        os.unlink(p["client"])                                          # a missing leaf: only it is remade
        certs.make_pki(d)
        eq(os.stat(p["ca"]).st_mtime_ns, stamp["ca"])
        pki_checks(p)
        ctx = ssl.create_default_context(cafile=p["ca"])                 # the chain verifies
        ctx.load_cert_chain(p["client"], p["client_key"])
        srv = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        srv.load_cert_chain(p["server"], p["server_key"])


def pki_checks(p):
    check(open(p["client_key"]).read().startswith("-----BEGIN EC PRIVATE KEY-----"), "k3s-style EC key")
    info = ssl._ssl._test_decode_cert(p["server"])
    sans = {v for _, v in info["subjectAltName"]}
    check({"127.0.0.1", "0:0:0:0:0:0:0:1", "localhost"} <= sans, sans)
    nb = ssl.cert_time_to_seconds(info["notBefore"])
    na = ssl.cert_time_to_seconds(info["notAfter"])
    check(time.time() - 2 * 86400 < nb < time.time() - 3600, "valid from yesterday")
    check(na - nb > 9.9 * 365 * 86400, "ten years")
    cinfo = ssl._ssl._test_decode_cert(p["client"])
    eq(dict(x[0] for x in cinfo["subject"])["commonName"], "kube-eventer-test")


def test_list_pagination_is_consistent():
    with KubeAPI(PKI) as api:
        made = [api.add_event(reason=f"R{i}", ns=f"ns{i % 3}") for i in range(7)]
        c = Conn(api)
        r = c.get("/api/v1/events?limit=3")
        eq(r.status, 200)
        p1 = r.json()
        eq(p1["kind"], "EventList")
        eq(len(p1["items"]), 3)
        eq(p1["metadata"]["remainingItemCount"], 4)
        check("kind" not in p1["items"][0] and "apiVersion" not in p1["items"][0], "items as the real server")
        list_rv = p1["metadata"]["resourceVersion"]
        eq(list_rv, made[-1]["metadata"]["resourceVersion"])
        late = api.add_event(reason="Late", ns="ns0")              # after the first page
        api.delete_event(made[0]["metadata"]["namespace"], made[0]["metadata"]["name"])
        got = list(p1["items"])
        cont = p1["metadata"]["continue"]
        for _ in range(5):
            if not cont:
                break
            r = c.get(f"/api/v1/events?limit=3&continue={cont}")
            p = r.json()
            eq(p["metadata"]["resourceVersion"], list_rv, "every page at the list's version")
            got += p["items"]
            cont = p["metadata"].get("continue")
        eq(sorted(names(got)), sorted(names(made)), "the snapshot: no late event, the deleted one still there")
        check(late["metadata"]["name"] not in names(got))
        keys = [f'{i["metadata"]["namespace"]}/{i["metadata"]["name"]}' for i in got]
        eq(keys, sorted(keys), "etcd key order")
        full = c.get("/api/v1/events").json()
        eq(len(full["items"]), 7)
        check("continue" not in full["metadata"])
        ns = c.get("/api/v1/namespaces/ns1/events").json()
        check(ns["items"] and all(i["metadata"]["namespace"] == "ns1" for i in ns["items"]))
        bad = c.get("/api/v1/events?limit=2&continue=garbage")
        eq(bad.status, 400)
        eq(bad.json()["reason"], "BadRequest")
        c.close()
        eq([r["query"].get("limit") for r in api.list_requests()][:2], [["3"], ["3"]])


def test_field_selectors():
    with KubeAPI(PKI) as api:
        api.add_event(ns="a", obj="p1", reason="BackOff", kind="Pod")
        api.add_event(ns="a", obj="n1", reason="NodeNotReady", kind="Node")
        api.add_event(ns="b", obj="p2", reason="Pulled", type_="Normal")
        api.add_event(ns="b", obj="d1", reason="ScalingReplicaSet", kind="Deployment", type_="Normal",
                      shape="k8sio", component="deployment-controller")

        def sel(s):
            st, _, body = get(api, "/api/v1/events?fieldSelector=" + urllib.request.quote(s))
            eq(st, 200, s)
            return sorted(i["involvedObject"]["name"] for i in body["items"])
        eq(sel("involvedObject.kind=Pod"), ["p1", "p2"])
        eq(sel("involvedObject.kind!=Pod"), ["d1", "n1"])
        eq(sel("type=Warning,involvedObject.kind==Pod"), ["p1"])
        eq(sel("involvedObject.namespace=b"), ["d1", "p2"])
        eq(sel("reason=Pulled"), ["p2"])
        eq(sel("source=deployment-controller"), ["d1"], "source falls back to reportingComponent")
        eq(sel("type!=Normal,reason!=BackOff"), ["n1"])
        name = api.events[("a", next(k[1] for k in api.events if k[0] == "a" and k[1].startswith("p1")))]
        eq(sel("metadata.name=" + name["metadata"]["name"]), ["p1"])
        st, _, body = get(api, "/api/v1/events?fieldSelector=spec.foo%3Dbar")
        eq((st, body["reason"], body["message"]), (400, "BadRequest", "field label not supported: spec.foo"))


def test_watch_from_rv_in_order_exactly_once():
    with KubeAPI(PKI, bookmark_interval=None) as api:
        api.add_event(reason="Old")
        rv = get(api, "/api/v1/events?limit=1")[2]["metadata"]["resourceVersion"]
        before = [api.add_event(reason=f"Gap{i}") for i in range(3)]
        w = watch(api, f"/api/v1/events?watch=1&resourceVersion={rv}&timeoutSeconds=30")
        got = w.take(3)
        eq([e["type"] for e in got], ["ADDED"] * 3)
        eq([e["object"] for e in got], before, "history after the version, in order")
        e = api.add_event(reason="Live", shape="k8sio")
        b = api.bump_event(e["metadata"]["namespace"], e["metadata"]["name"])
        api.delete_event(e["metadata"]["namespace"], e["metadata"]["name"])
        live = w.take(3)
        eq([x["type"] for x in live], ["ADDED", "MODIFIED", "DELETED"])
        eq(live[0]["object"], e)
        eq(live[1]["object"], b)
        eq(b["series"]["count"], 2, "a first repeat of an events.k8s.io event")
        check(live[2]["object"]["metadata"]["resourceVersion"] == api.resource_version, "DELETED at its own rv")
        eq(api.watch_timeouts(), [30])
        w.close()
        # a second watch from the same version sees the same, once
        w2 = watch(api, f"/api/v1/events?watch=1&resourceVersion={rv}")
        eq([x["object"]["metadata"]["resourceVersion"] for x in w2.take(6)],
           [x["metadata"]["resourceVersion"] for x in before] + [x["object"]["metadata"]["resourceVersion"]
                                                                 for x in live])
        w2.close()


def test_watch_timeout_seconds_ends_cleanly_and_keeps_alive():
    with KubeAPI(PKI) as api:
        rv = api.resource_version
        c = Conn(api)
        t0 = time.monotonic()
        w = Watch(c, f"/api/v1/events?watch=true&resourceVersion={rv}&timeoutSeconds=1")
        eq(w.next(), None)
        eq(w.r.end, "clean")
        check(0.9 < time.monotonic() - t0 < 2.0, "ended after timeoutSeconds")
        r = c.get("/api/v1/events")                 # the connection is still usable
        eq(r.status, 200)
        r.body()
        eq(len({x["conn"] for x in api.requests}), 1, "keep-alive: one connection")
        c.close()


def test_watch_without_rv_and_send_initial_events():
    with KubeAPI(PKI) as api:
        old = [api.add_event(reason=f"E{i}") for i in range(2)]
        w = watch(api, "/api/v1/events?watch=1")
        eq(sorted(names(x["object"] for x in w.take(2))), sorted(names(old)), "synthetic ADDED")
        w.close()
        w = watch(api, "/api/v1/events?watch=1&sendInitialEvents=true&allowWatchBookmarks=true"
                       "&resourceVersionMatch=NotOlderThan&resourceVersion=0")
        got = w.take(3)
        eq([x["type"] for x in got], ["ADDED", "ADDED", "BOOKMARK"])
        eq(got[2]["object"]["metadata"]["annotations"], {"k8s.io/initial-events-end": "true"})
        w.close()


def test_bookmarks():
    with KubeAPI(PKI, bookmark_interval=0.2) as api:
        rv = api.resource_version
        w = watch(api, f"/api/v1/events?watch=1&resourceVersion={rv}&allowWatchBookmarks=true")
        api.add_event(ns="other", reason="X")
        e = w.next()
        eq(e["type"], "ADDED")
        b = w.next()
        eq(b["type"], "BOOKMARK")
        o = b["object"]
        eq(o["metadata"]["resourceVersion"], e["object"]["metadata"]["resourceVersion"])
        eq((o["kind"], o["apiVersion"]), ("Event", "v1"))
        eq(o["metadata"], {"resourceVersion": o["metadata"]["resourceVersion"], "creationTimestamp": None},
           "only the resourceVersion set")
        check(not o["involvedObject"] and o["lastTimestamp"] is None and o["reportingComponent"] == "")
        w.close()
        # a selector that filters everything out still gets bookmarks carrying the newest version
        w = watch(api, f"/api/v1/events?watch=1&resourceVersion={rv}&allowWatchBookmarks=true"
                       "&fieldSelector=involvedObject.kind%3DNothing")
        for _ in range(3):
            api.add_event(reason="Filtered")
        b = w.next()
        for _ in range(5):
            if b["object"]["metadata"]["resourceVersion"] == api.resource_version:
                break
            b = w.next()
        eq((b["type"], b["object"]["metadata"]["resourceVersion"]), ("BOOKMARK", api.resource_version))
        w.close()
        # no allowWatchBookmarks: none
        w = watch(api, f"/api/v1/events?watch=1&resourceVersion={api.resource_version}&timeoutSeconds=1")
        eq(w.next(), None, "no bookmark, then the timeout's clean end")


def test_410_in_stream_after_compaction():
    with KubeAPI(PKI) as api:
        api.add_event()
        old = api.resource_version
        api.add_event()
        api.compact()
        w = watch(api, f"/api/v1/events?watch=1&resourceVersion={old}&allowWatchBookmarks=true")
        e = w.next()
        eq(e["type"], "ERROR")
        s = e["object"]
        eq((s["kind"], s["status"], s["code"], s["reason"]), ("Status", "Failure", 410, "Expired"))
        eq(s["message"], f"too old resource version: {old} ({api.resource_version})")
        eq(w.next(), None)
        eq(w.r.end, "clean", "the stream ends after the ERROR")
        # the current version is not too old; send_error_410 on an open watch
        w = watch(api, f"/api/v1/events?watch=1&resourceVersion={api.resource_version}")
        api.wait_for(lambda: api.open_watch_count() == 1, 5)
        eq(api.send_error_410(), 1)
        e = w.next()
        eq((e["type"], e["object"]["code"]), ("ERROR", 410))
        eq(w.next(), None)


def test_bounded_history_like_a_watch_cache():
    with KubeAPI(PKI, history_limit=3) as api:
        made = [api.add_event(reason=f"R{i}") for i in range(6)]
        rvs = [e["metadata"]["resourceVersion"] for e in made]
        w = watch(api, f"/api/v1/events?watch=1&resourceVersion={rvs[2]}")
        eq([x["object"] for x in w.take(3)], made[3:], "still in the window")
        w.close()
        w = watch(api, f"/api/v1/events?watch=1&resourceVersion={rvs[1]}")
        e = w.next()
        eq((e["type"], e["object"]["code"], e["object"]["message"]),
           ("ERROR", 410, f"too old resource version: {rvs[1]} ({rvs[2]})"))
        w.close()


def test_410_over_http():
    with KubeAPI(PKI, watch_410="http") as api:
        api.add_event()
        old = api.resource_version
        api.add_event()
        api.compact()
        st, h, body = get(api, f"/api/v1/events?watch=1&resourceVersion={old}")
        eq(st, 410)
        eq(h["content-type"], "application/json")
        eq((body["reason"], body["code"]), ("Expired", 410))
        check(body["message"].startswith(f"too old resource version: {old} ("))


def test_continue_expires_with_compaction():
    with KubeAPI(PKI) as api:
        for i in range(5):
            api.add_event(reason=f"R{i}")
        c = Conn(api)
        p1 = c.get("/api/v1/events?limit=2").json()
        api.add_event(reason="New")
        api.compact()
        r = c.get(f"/api/v1/events?limit=2&continue={p1['metadata']['continue']}")
        eq(r.status, 410)
        s = r.json()
        eq((s["reason"], s["code"]), ("Expired", 410))
        check("too old to display a consistent list" in s["message"])
        cont = s["metadata"]["continue"]
        rest = []
        for _ in range(5):
            p = c.get(f"/api/v1/events?limit=2&continue={cont}").json()
            rest += p["items"]
            cont = p["metadata"].get("continue")
            if not cont:
                break
        key = lambda i: f'{i["metadata"]["namespace"]}/{i["metadata"]["name"]}'  # noqa: E731
        last = key(p1["items"][-1])
        eq([key(i) for i in rest], sorted(f"{k[0]}/{k[1]}" for k in api.events if f"{k[0]}/{k[1]}" > last),
           "the inconsistent continuation: the current state after the last key")
        c.close()


def test_exact_list_from_history():
    with KubeAPI(PKI) as api:
        a = api.add_event(reason="A")
        rv_a = api.resource_version
        api.bump_event(a["metadata"]["namespace"], a["metadata"]["name"])
        api.add_event(reason="B")
        st, _, body = get(api, f"/api/v1/events?resourceVersion={rv_a}&resourceVersionMatch=Exact")
        eq(st, 200)
        eq(body["metadata"]["resourceVersion"], rv_a)
        eq([(i["reason"], i["count"]) for i in body["items"]], [("A", 1)], "the state as of that version")
        st, _, body = get(api, f"/api/v1/events?resourceVersion={rv_a}")      # NotOlderThan: the current state
        eq(len(body["items"]), 2)
        api.compact()
        st, _, body = get(api, f"/api/v1/events?resourceVersion={rv_a}&resourceVersionMatch=Exact")
        eq((st, body["reason"]), (410, "Expired"))
        st, _, body = get(api, "/api/v1/events?resourceVersionMatch=Exact")
        eq(st, 422)


def test_opaque_resource_versions():
    with KubeAPI(PKI, opaque_rv=True) as api:
        made = [api.add_event(reason=f"R{i}") for i in range(12)]
        rvs = [e["metadata"]["resourceVersion"] for e in made]
        check(not any(r.isdigit() for r in rvs), rvs)
        check(sorted(rvs) != rvs, "they do not sort in creation order")
        eq(len(set(rvs)), 12)
        w = watch(api, f"/api/v1/events?watch=1&resourceVersion={rvs[5]}")
        eq([x["object"]["metadata"]["resourceVersion"] for x in w.take(6)], rvs[6:])
        w.close()
        st, _, body = get(api, "/api/v1/events?watch=1&resourceVersion=12345")
        eq((st, body["reason"]), (400, "BadRequest"), "a version it never issued")


def test_chunk_splitting_preserves_bytes():
    with KubeAPI(PKI, chunks=1234, chunk_max=7) as api:
        rv = api.resource_version
        w = watch(api, f"/api/v1/events?watch=1&resourceVersion={rv}")
        api.wait_for(lambda: api.open_watch_count() == 1, 5)
        made = [api.add_events([KubeAPI.make_event(reason="BackOff", message=f"容器重启 🚀 <{i}> & \"q\"\n\ttab")
                                for i in range(3)])]
        made = made[0] + [api.add_event(message="é" * 300)]
        lines = [w.raw_line() for _ in range(4)]
        eq(lines, [line_of("ADDED", e) for e in made], "byte-exact lines")
        check(b"\\u003c" in lines[0] and b"\\u0026" in lines[0], "Go escapes < > &")
        sizes = [len(c) for c in w.r.chunks]
        check(max(sizes) <= 7 and min(sizes) >= 1, sizes[:20])
        stream = b"".join(w.r.chunks)
        ends, pos = set(), 0
        for c in w.r.chunks:
            pos += len(c)
            ends.add(pos)
        nl = {i + 1 for i, b in enumerate(stream) if b == 10}
        check(nl - ends, "some line end falls inside a chunk")
        straddle = 0
        for c in w.r.chunks:
            try:
                c.decode("utf-8")
            except UnicodeDecodeError:
                straddle += 1
        check(straddle > 0, "some UTF-8 sequence straddles chunks")
        w.close()
        # lists are chunked the same way in this mode
        c = Conn(api)
        r = c.get("/api/v1/events")
        body = r.json()
        check(r.chunked and len(r.chunks) > 10 and max(len(x) for x in r.chunks) <= 7)
        eq(len(body["items"]), 4)
        c.close()


def test_cut_mid_line_and_resume():
    with KubeAPI(PKI) as api:
        first = api.add_event(reason="First")
        rv = first["metadata"]["resourceVersion"]
        w = watch(api, f"/api/v1/events?watch=1&resourceVersion={rv}")
        api.wait_for(lambda: api.open_watch_count() == 1, 5)
        api.stall_watches(5)                        # hold the next event in the queue
        nxt = api.add_event(reason="Second", message="x" * 400)
        eq(api.cut_watches(mid_line=True), 1)
        eq(api.open_watch_count(), 0, "cut_watches returns once they are closed")
        try:
            w.raw_line()
            raise AssertionError("the stream should end abruptly")
        except Abrupt:
            pass
        full = line_of("ADDED", nxt)
        check(0 < len(w.buf) < len(full) and full.startswith(w.buf), "half of the queued event's line")
        eq(w.r.end, "abrupt")
        w.close()
        w = watch(api, f"/api/v1/events?watch=1&resourceVersion={rv}")
        eq(w.next()["object"], nxt, "resumed: the cut event once")
        api.cut_watches()
        try:
            w.next()
            raise AssertionError("abrupt end expected")
        except Abrupt:
            eq(w.r.end, "abrupt")
        w = watch(api, f"/api/v1/events?watch=1&resourceVersion={rv}")
        w.next()
        api.cut_watches(reset=True)
        try:
            w.next()
            raise AssertionError("reset expected")
        except Abrupt:
            pass


def test_restart_on_the_same_port():
    with KubeAPI(PKI) as api:
        port = api.port
        a = api.add_event(reason="A")
        rv = a["metadata"]["resourceVersion"]
        w = watch(api, f"/api/v1/events?watch=1&resourceVersion={rv}")
        api.wait_for(lambda: api.open_watch_count() == 1, 5)
        th = threading.Thread(target=api.restart, kwargs={"downtime": 0.6}, daemon=True)
        th.start()
        api.wait_for(lambda: api.server is None, 5)
        try:
            w.next()
            raise AssertionError("the watch must break")
        except Abrupt:
            pass
        refused = False
        try:
            Conn(api).close()
        except OSError:
            refused = True
        check(refused, "connections refused while down")
        gap = api.add_event(reason="WhileDown")
        th.join(5)
        eq(api.port, port)
        w = watch(api, f"/api/v1/events?watch=1&resourceVersion={rv}")
        eq(w.next()["object"], gap, "history kept: resume without 410")
        w.close()
        api.restart(downtime=0.05, keep_history=False)
        eq(api.port, port)
        w = watch(api, f"/api/v1/events?watch=1&resourceVersion={rv}")
        e = w.next()
        eq((e["type"], e["object"]["code"]), ("ERROR", 410), "history dropped: 410")
        w.close()


def test_authentication_and_rotation():
    with KubeAPI(PKI, tokens={"t0"}) as api:
        st, h, body = get(api, "/api/v1/events", token="wrong")
        eq(st, 401)
        eq(body, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
        eq(get(api, "/api/v1/events", token="")[0], 401, "no credentials")
        eq(get(api, "/api/v1/events")[0], 200)
        api.set_tokens({"t1"})
        eq(get(api, "/api/v1/events")[0], 401, "the old token after rotation")
        eq(get(api, "/api/v1/events", token="t1")[0], 200)
        st, _, body = get(api, "/healthz", token="")
        eq((st, body), (200, b"ok"))
        st, _, body = get(api, "/version", token="t1")
        eq((st, body["major"]), (200, "1"))
        api.set_forbidden(["/api/v1/events"])
        st, _, body = get(api, "/api/v1/events", token="t1")
        eq((st, body["reason"]), (403, "Forbidden"))
        check("cannot list resource \"events\"" in body["message"], body["message"])
        eq(get(api, "/api/v1/namespaces/x/events", token="t1")[0], 200)
        eq([r["status"] for r in api.requests][:3], [401, 401, 200])


def test_injected_failures_429_retry_after():
    with KubeAPI(PKI) as api:
        api.fail_next(1, 429, retry_after=3, path="events")
        api.fail_next(1, 503, watch=True)
        st, h, body = get(api, "/api/v1/events?limit=1", token="")     # injected before authentication
        eq(st, 429)
        eq(h["retry-after"], "3")
        eq((body["reason"], body["details"]["retryAfterSeconds"]), ("TooManyRequests", 3))
        eq(get(api, "/api/v1/events?limit=1")[0], 200, "only once")
        st, _, body = get(api, "/api/v1/events?watch=1&resourceVersion=0&timeoutSeconds=1")
        eq((st, body["reason"]), (503, "ServiceUnavailable"))
        api.fail_next(1, 502, body="<html>Bad Gateway</html>")
        st, h, body = get(api, "/api/v1/events")
        eq((st, body, h["content-type"]), (502, b"<html>Bad Gateway</html>", "text/plain; charset=utf-8"))
        api.fail_next(1, None, delay=0.1)                              # hold, then drop without answering
        try:
            get(api, "/api/v1/events")
            raise AssertionError("no answer expected")
        except Abrupt:
            pass


def test_client_certificate_auth():
    with KubeAPI(PKI, tokens=(), require_client_cert=True) as api:
        st, _, body = get(api, "/api/v1/events", token="", cert=(PKI["client"], PKI["client_key"]))
        eq(st, 200)
        eq(api.requests[-1]["client_cert_cn"], "kube-eventer-test")
        check(api.requests[-1]["tls"] in ("TLSv1.2", "TLSv1.3"))
        for cert in (None, (PKI["other_client"], PKI["other_client_key"])):
            n = len(api.tls_errors)
            try:
                get(api, "/api/v1/events", token="", cert=cert)
                raise AssertionError(f"{cert}: refused expected")
            except (ssl.SSLError, OSError, Abrupt):
                pass
            api.wait_for(lambda: len(api.tls_errors) > n, 5, "the handshake failure recorded")
        eq(len(api.requests), 1, "nothing got past TLS")
    with KubeAPI(PKI) as api:                                           # optional: token or certificate
        eq(get(api, "/api/v1/events", token="", cert=(PKI["client"], PKI["client_key"]))[0], 200)
        eq(get(api, "/api/v1/events", token="")[0], 401)
        try:
            get(api, "/api/v1/events", ca=PKI["other_ca"])
            raise AssertionError("a client trusting another CA must fail")
        except ssl.SSLCertVerificationError:
            pass
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            eq(get(api, "/version", tls_max=v)[0], 200)
        eq([r["tls"] for r in api.requests[-2:]], ["TLSv1.2", "TLSv1.3"])


def test_ipv6_and_plain_http():
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
    except OSError:
        print("# IPv6 loopback unavailable: skipped")
        return
    with KubeAPI(PKI, host="::1") as api:
        check(api.url.startswith("https://[::1]:"), api.url)
        api.add_event()
        st, _, body = get(api, "/api/v1/events")
        eq((st, len(body["items"])), (200, 1))
    with KubeAPI(None, tls=False) as api:
        check(api.url.startswith("http://127.0.0.1:"))
        with urllib.request.urlopen(urllib.request.Request(api.url + "/api/v1/events",
                                                           headers={"Authorization": "Bearer t0"})) as r:
            eq(json.load(r)["kind"], "EventList")
        try:
            urllib.request.urlopen(api.url + "/api/v1/events")
            raise AssertionError("401 expected")
        except urllib.error.HTTPError as e:
            eq(e.code, 401)


def test_configmap_get_and_watch():
    with KubeAPI(PKI) as api:
        st, _, body = get(api, "/api/v1/namespaces/ops/configmaps/tmpl")
        eq((st, body["reason"], body["details"]), (404, "NotFound", {"name": "tmpl", "kind": "configmaps"}))
        w = watch(api, "/api/v1/namespaces/ops/configmaps?watch=1&allowWatchBookmarks=true"
                       "&fieldSelector=metadata.name%3Dtmpl")
        api.wait_for(lambda: api.open_watch_count("configmaps") == 1, 5)
        api.set_configmap("ops", "other", {"content": "x"})
        api.add_event()                                                 # other kinds are not seen
        api.set_configmap("ops", "tmpl", {"content": "v1"})
        api.set_configmap("ops", "tmpl", {"content": "v2"})
        api.delete_configmap("ops", "tmpl")
        got = w.take(3)
        eq([(e["type"], e["object"]["data"]["content"]) for e in got],
           [("ADDED", "v1"), ("MODIFIED", "v2"), ("DELETED", "v2")])
        eq(got[0]["object"]["kind"], "ConfigMap")
        api.set_configmap("ops", "tmpl", {"content": "v3"})
        st, _, body = get(api, "/api/v1/namespaces/ops/configmaps/tmpl")
        eq((st, body["data"], body["kind"]), (200, {"content": "v3"}, "ConfigMap"))
        st, _, body = get(api, "/api/v1/namespaces/ops/configmaps?fieldSelector=metadata.name%3Dtmpl")
        eq(len(body["items"]), 1)
        eq(body["kind"], "ConfigMapList")
        w.close()


def test_stall_then_deliver():
    with KubeAPI(PKI) as api:
        w = watch(api, f"/api/v1/events?watch=1&resourceVersion={api.resource_version}")
        api.wait_for(lambda: api.open_watch_count() == 1, 5)
        api.stall_watches(0.6)
        t0 = time.monotonic()
        e = api.add_event()
        eq(w.next()["object"], e)
        check(time.monotonic() - t0 >= 0.5, "nothing during the stall")
        w.close()


def test_raw_lines_in_order():
    with KubeAPI(PKI) as api:
        w = watch(api, f"/api/v1/events?watch=1&resourceVersion={api.resource_version}")
        api.wait_for(lambda: api.open_watch_count() == 1, 5)
        a = api.add_event()
        api.inject_raw_line(b'{"type":"ADDED","object":{"metadata":')
        api.inject_raw_line(b'{"type":"SURPRISE","object":{}}')
        big = b'{"type":"ADDED","object":{"metadata":{"name":"' + b"x" * (2 << 20) + b'"}}}'
        api.inject_raw_line(big)
        b = api.add_event()
        eq(w.raw_line(), line_of("ADDED", a))
        eq(w.raw_line(), b'{"type":"ADDED","object":{"metadata":')
        eq(w.raw_line(), b'{"type":"SURPRISE","object":{}}')
        eq(w.raw_line(), big)
        eq(w.raw_line(), line_of("ADDED", b))
        w.close()


def test_slow_consumer_is_terminated_and_resumes():
    with KubeAPI(PKI, watch_queue=5) as api:
        rv = api.resource_version
        w = watch(api, f"/api/v1/events?watch=1&resourceVersion={rv}")
        api.wait_for(lambda: api.open_watch_count() == 1, 5)
        api.stall_watches(0.3)
        made = [api.add_event(reason=f"R{i}") for i in range(9)]
        got = []
        for _ in range(20):
            e = w.next()
            if e is None:
                break
            got.append(e["object"])
        eq(got, made[:5], "what fitted in the queue, then a clean end")
        eq(w.r.end, "clean")
        w = watch(api, f"/api/v1/events?watch=1&resourceVersion={got[-1]['metadata']['resourceVersion']}")
        eq([x["object"] for x in w.take(4)], made[5:])
        eq(api.stats["watch_overflows"], 1)
        w.close()


def test_selector_transitions_and_too_large_rv():
    with KubeAPI(PKI, too_large_wait=0.3) as api:
        e = api.add_event(reason="Other")
        ns, name = e["metadata"]["namespace"], e["metadata"]["name"]
        w = watch(api, f"/api/v1/events?watch=1&resourceVersion={api.resource_version}&fieldSelector=reason%3DBackOff")
        api.modify_event(ns, name, lambda o: o.update(reason="BackOff"))
        api.modify_event(ns, name, lambda o: o.update(message="still"))
        api.modify_event(ns, name, lambda o: o.update(reason="Gone"))
        got = w.take(3)
        eq([x["type"] for x in got], ["ADDED", "MODIFIED", "DELETED"])
        eq(got[2]["object"]["reason"], "BackOff", "the previous content ...")
        eq(got[2]["object"]["metadata"]["resourceVersion"], api.resource_version, "... at the change's version")
        w.close()
        t0 = time.monotonic()
        st, h, body = get(api, f"/api/v1/events?watch=1&resourceVersion={int(api.resource_version) + 50}")
        eq((st, body["reason"], body["details"]["causes"][0]["reason"]), (504, "Timeout", "ResourceVersionTooLarge"))
        check(time.monotonic() - t0 >= 0.25)


def test_fixture_both_shapes_paginated():
    with KubeAPI(PKI) as api:
        path = os.path.join(FIX, "openshift-azure-events.json.gz")
        with gzip.open(path, "rt") as f:
            src = json.load(f)["items"]
        loaded = api.load_fixture(path)
        eq(len(loaded), 5302)
        eq(loaded[0]["metadata"]["uid"], src[0]["metadata"]["uid"], "content kept")
        check(loaded[0]["metadata"]["resourceVersion"] != src[0]["metadata"]["resourceVersion"], "fresh rv")
        k8sio = [e for e in loaded if e.get("lastTimestamp") is None and e.get("eventTime")]
        check(k8sio and any(e.get("series") for e in k8sio), "events.k8s.io-written ones")
        c = Conn(api)
        n, cont, pages = 0, "", 0
        for _ in range(20):
            p = c.get("/api/v1/events?limit=500" + (f"&continue={cont}" if cont else "")).json()
            n += len(p["items"])
            pages += 1
            cont = p["metadata"].get("continue")
            if not cont:
                break
        eq((n, pages), (5302, 11))
        s = next(e for e in loaded if e.get("series"))
        b = api.bump_event(s["metadata"]["namespace"], s["metadata"]["name"])
        eq(b["series"]["count"], s["series"]["count"] + 1)
        lg = next(e for e in loaded if e.get("count"))
        b = api.bump_event(lg["metadata"]["namespace"], lg["metadata"]["name"])
        eq(b["count"], lg["count"] + 1)
        again = api.load_fixture(os.path.join(FIX, "message-image-pull-fail.json"), fresh=True)
        check(all(e["metadata"]["uid"] != o["metadata"]["uid"] for e, o in
                  zip(again, json.load(open(os.path.join(FIX, "message-image-pull-fail.json")))["items"])))
        c.close()


def test_stop_is_fast():
    api = KubeAPI(PKI).start()
    ws = [watch(api, f"/api/v1/events?watch=1&resourceVersion={api.resource_version}") for _ in range(3)]
    idle = Conn(api)
    idle.get("/version").body()
    api.wait_for(lambda: api.open_watch_count() == 3, 5)
    t0 = time.monotonic()
    api.stop()
    dt = time.monotonic() - t0
    check(dt < 1.0, f"stop took {dt:.2f}s")
    eq(api.open_watch_count(), 0)
    check(not api._threads, "handler threads ended")
    for w in ws:
        try:
            w.next()
            raise AssertionError("closed expected")
        except Abrupt:
            pass
    idle.close()


def test_standalone():
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "kubeapi.py"), "--pki",
                          os.path.join(ROOT, "build", "test-pki"), "--token", "demo-t",
                          "--events", os.path.join(FIX, "message-image-pull-fail.json")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(p.stdout.readline())
        check(info["url"].startswith("https://127.0.0.1:"), info)
        ctx = ssl.create_default_context(cafile=info["ca"])
        req = urllib.request.Request(info["url"] + "/api/v1/events", headers={"Authorization": "Bearer demo-t"})
        with urllib.request.urlopen(req, context=ctx, timeout=5) as r:
            check(len(json.load(r)["items"]) > 0)
    finally:
        p.terminate()
        eq(p.wait(5), 0, "clean exit on SIGTERM")


# --- coordination.k8s.io/v1 Leases ------------------------------------------------------------------------------------
LP = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"


def lease_body(name="kube-eventer", holder="pod-a", duration=15, at=None, transitions=0, **meta):
    """A Lease as client-go's LeaseLock.Create sends it (LeaderElectionRecordToLeaseSpec)."""
    from kubeapi import micro_time
    t = micro_time(at)
    md = {"name": name, "namespace": "kube-system"}
    md.update(meta)
    return {"kind": "Lease", "apiVersion": "coordination.k8s.io/v1", "metadata": md,
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration, "acquireTime": t, "renewTime": t,
                     "leaseTransitions": transitions}}


def test_lease_create_get_404_409_422():
    with KubeAPI(PKI) as api:
        st, _, body = call(api, "GET", LP + "/kube-eventer")
        eq((st, body), (404, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": 'leases.coordination.k8s.io "kube-eventer" not found', "reason": "NotFound",
                              "details": {"name": "kube-eventer", "group": "coordination.k8s.io", "kind": "leases"},
                              "code": 404}))
        sent = lease_body(annotations={"a": "1"}, labels={"app": "kube-eventer"})
        st, h, obj = call(api, "POST", LP, sent)
        eq(st, 201)
        eq(list(obj), ["kind", "apiVersion", "metadata", "spec"])
        eq((obj["kind"], obj["apiVersion"]), ("Lease", "coordination.k8s.io/v1"))
        md = obj["metadata"]
        eq(list(md), ["name", "namespace", "uid", "resourceVersion", "creationTimestamp", "labels", "annotations",
                      "managedFields"], "ObjectMeta in Go field order")
        eq((md["name"], md["namespace"], md["labels"], md["annotations"]),
           ("kube-eventer", "kube-system", {"app": "kube-eventer"}, {"a": "1"}))
        eq(md["resourceVersion"], api.resource_version, "from the global counter")
        check(isinstance(md["resourceVersion"], str) and len(md["uid"]) == 36)
        check(md["creationTimestamp"].endswith("Z") and len(md["creationTimestamp"]) == 20)
        eq(md["managedFields"][0]["manager"], "kubeapi-selftest", "the User-Agent up to its first /")
        eq(md["managedFields"][0]["fieldsV1"]["f:spec"], {"f:acquireTime": {}, "f:holderIdentity": {},
                                                          "f:leaseDurationSeconds": {}, "f:leaseTransitions": {},
                                                          "f:renewTime": {}})
        eq(obj["spec"], sent["spec"])
        eq(list(obj["spec"]), ["holderIdentity", "leaseDurationSeconds", "acquireTime", "renewTime",
                               "leaseTransitions"])
        st, _, got = call(api, "GET", LP + "/kube-eventer")
        eq((st, got), (200, obj))
        eq(api.lease("kube-system", "kube-eventer"), obj)
        eq(api.lease_holder("kube-system", "kube-eventer"), "pod-a")
        st, _, body = call(api, "POST", LP, lease_body(holder="pod-b"))
        eq((st, body), (409, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": 'leases.coordination.k8s.io "kube-eventer" already exists',
                              "reason": "AlreadyExists", "details": {"name": "kube-eventer",
                                                                     "group": "coordination.k8s.io", "kind": "leases"},
                              "code": 409}))
        eq(api.lease_holder("kube-system", "kube-eventer"), "pod-a", "unchanged")
        nameless = lease_body()
        del nameless["metadata"]["name"]
        st, _, body = call(api, "POST", LP, nameless)
        eq((st, body), (422, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": 'Lease.coordination.k8s.io "" is invalid: metadata.name: Required value: '
                                         'name or generateName is required',
                              "reason": "Invalid",
                              "details": {"group": "coordination.k8s.io", "kind": "Lease", "causes": [
                                  {"reason": "FieldValueRequired",
                                   "message": "Required value: name or generateName is required",
                                   "field": "metadata.name"}]},
                              "code": 422}))
        st, _, body = call(api, "POST", LP, lease_body(name="neg", duration=-5, transitions=-1))
        eq((st, body["reason"], body["details"]["kind"]), (422, "Invalid", "Lease"))
        eq(body["message"], 'Lease.coordination.k8s.io "neg" is invalid: [spec.leaseDurationSeconds: Invalid value: '
                            '-5: must be greater than 0, spec.leaseTransitions: Invalid value: -1: must be greater '
                            'than or equal to 0]')
        eq([c["field"] for c in body["details"]["causes"]], ["spec.leaseDurationSeconds", "spec.leaseTransitions"])
        eq(call(api, "POST", LP, lease_body(name="zero", duration=0))[0], 422, "0 is not greater than 0")
        st, _, body = call(api, "POST", LP, lease_body(name="Bad_Name"))
        eq(st, 422)
        check("a lowercase RFC 1123 subdomain must consist of" in body["message"], body["message"])
        st, _, body = call(api, "POST", LP, lease_body(name="elsewhere", namespace="default"))
        eq((st, body["message"]), (400, "the namespace of the provided object does not match the namespace sent "
                                        "on the request"))
        st, _, body = call(api, "POST", LP, lease_body(name="", generateName="ke-"))
        check(st == 201 and body["metadata"]["name"].startswith("ke-") and len(body["metadata"]["name"]) == 8, body)
        st, _, body = call(api, "POST", LP, lease_body(name="with-rv", resourceVersion="7"))
        eq((st, body), (500, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": "resourceVersion should not be set on objects to be created", "code": 500}))
        st, _, body = call(api, "POST", LP, "{not json")
        eq(st, 400)
        check(body["message"].startswith("the object provided is unrecognized (must be of type Lease): couldn't "
                                         "get version/kind; json parse error: "), body["message"])
        bad = lease_body(name="typed")
        bad["spec"]["leaseDurationSeconds"] = "15"
        st, _, body = call(api, "POST", LP, bad)
        eq((st, body["message"]), (400, 'Lease in version "v1" cannot be handled as a Lease: json: cannot unmarshal '
                                        'string into Go struct field LeaseSpec.spec.leaseDurationSeconds of type '
                                        'int32'))
        bad["spec"]["leaseDurationSeconds"] = 1.5
        eq(call(api, "POST", LP, bad)[2]["message"].split(": ", 1)[1],
           "json: cannot unmarshal number 1.5 into Go struct field LeaseSpec.spec.leaseDurationSeconds of type int32")
        eq(call(api, "POST", LP, lease_body(name="txt"), ctype="text/plain")[0], 415)
        eq(call(api, "POST", LP + "/kube-eventer", lease_body())[0], 405, "POST on an object path")
        eq(call(api, "PUT", LP, lease_body())[0], 405, "PUT on the collection")
        eq(call(api, "DELETE", LP)[0], 405, "deletecollection is not emulated")
        eq([r["status"] for r in api.lease_requests()][:3], [404, 201, 200])
        eq(api.lease_requests(method="POST")[0]["body"], sent, "the body, parsed")


def test_lease_unknown_fields_warn_or_strict():
    with KubeAPI(PKI) as api:
        b = lease_body()
        b["spec"]["holder"] = "typo"
        b["status"] = {}
        c = Conn(api)
        r = c.request("POST", LP, b)
        obj = r.json()
        eq(r.status, 201)
        eq([v for k, v in r.header_list if k == "warning"],
           ['299 - "unknown field \\"spec.holder\\""', '299 - "unknown field \\"status\\""'])
        check("holder" not in obj["spec"] and "status" not in obj, "dropped")
        r = c.request("POST", LP + "?fieldValidation=Strict", lease_body(name="strict", x=1))
        eq((r.status, r.json()["message"]), (400, 'strict decoding error: unknown field "metadata.x"'))
        c.close()


def test_lease_update_optimistic_concurrency():
    with KubeAPI(PKI) as api:
        st, _, a = call(api, "POST", LP, lease_body(labels={"keep": "me"}))
        eq(st, 201)
        rv0 = a["metadata"]["resourceVersion"]
        api.add_event(reason="Unrelated")                       # the counter is global
        upd = json.loads(json.dumps(a))
        upd["spec"]["renewTime"] = "2031-05-06T07:08:09.000001Z"
        st, _, b = call(api, "PUT", LP + "/kube-eventer", upd)
        eq(st, 200)
        eq(b["metadata"]["resourceVersion"], api.resource_version)
        check(int(b["metadata"]["resourceVersion"]) > int(rv0) + 1, "a new revision of the global counter")
        eq((b["spec"]["renewTime"], b["metadata"]["uid"], b["metadata"]["creationTimestamp"]),
           ("2031-05-06T07:08:09.000001Z", a["metadata"]["uid"], a["metadata"]["creationTimestamp"]))
        st, _, body = call(api, "PUT", LP + "/kube-eventer", upd)   # upd still carries rv0: stale
        eq((st, body), (409, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": 'Operation cannot be fulfilled on leases.coordination.k8s.io '
                                         '"kube-eventer": the object has been modified; please apply your changes '
                                         'to the latest version and try again',
                              "reason": "Conflict",
                              "details": {"name": "kube-eventer", "group": "coordination.k8s.io", "kind": "leases"},
                              "code": 409}))
        no_rv = json.loads(json.dumps(b))
        del no_rv["metadata"]["resourceVersion"]
        st, _, body = call(api, "PUT", LP + "/kube-eventer", no_rv)
        eq((st, body), (422, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": 'leases.coordination.k8s.io "kube-eventer" is invalid: '
                                         'metadata.resourceVersion: Invalid value: 0x0: must be specified for an '
                                         'update',
                              "reason": "Invalid",
                              "details": {"name": "kube-eventer", "group": "coordination.k8s.io", "kind": "leases",
                                          "causes": [{"reason": "FieldValueInvalid",
                                                      "message": "Invalid value: 0x0: must be specified for an update",
                                                      "field": "metadata.resourceVersion"}]},
                              "code": 422}))
        no_rv["metadata"]["resourceVersion"] = "0"
        eq(call(api, "PUT", LP + "/kube-eventer", no_rv)[0], 422, '"0" is no resourceVersion either')
        same = call(api, "PUT", LP + "/kube-eventer", b)                 # changes nothing: no new revision
        eq((same[0], same[2]["metadata"]["resourceVersion"]), (200, b["metadata"]["resourceVersion"]))
        bare = {"metadata": {"name": "kube-eventer", "resourceVersion": b["metadata"]["resourceVersion"]},
                "spec": {"holderIdentity": "pod-a", "leaseDurationSeconds": 15}}
        st, _, c = call(api, "PUT", LP + "/kube-eventer", bare)          # an update replaces the whole object
        eq((st, c["spec"], c["metadata"].get("labels")),
           (200, {"holderIdentity": "pod-a", "leaseDurationSeconds": 15}, None))
        bad = json.loads(json.dumps(c))
        bad["spec"]["leaseDurationSeconds"] = -1
        st, _, body = call(api, "PUT", LP + "/kube-eventer", bad)
        eq((st, body["message"]), (422, 'Lease.coordination.k8s.io "kube-eventer" is invalid: '
                                        'spec.leaseDurationSeconds: Invalid value: -1: must be greater than 0'))
        bad["spec"]["leaseDurationSeconds"] = 5
        bad["metadata"]["resourceVersion"] = rv0
        eq(call(api, "PUT", LP + "/kube-eventer", bad)[0], 409, "a stale version is refused before validation")
        st, _, body = call(api, "PUT", LP + "/other", c)
        eq((st, body["message"]), (400, "the name of the object (kube-eventer) does not match the name on the URL "
                                        "(other)"))
        wrong_uid = json.loads(json.dumps(c))
        wrong_uid["metadata"]["uid"] = "00000000-0000-4000-8000-000000000000"
        st, _, body = call(api, "PUT", LP + "/kube-eventer", wrong_uid)
        eq((st, body["reason"]), (409, "Conflict"))
        eq(body["message"], 'Operation cannot be fulfilled on leases.coordination.k8s.io "kube-eventer": StorageError: '
                            'invalid object, Code: 4, Key: /registry/leases/kube-system/kube-eventer, '
                            'ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: '
                            f'00000000-0000-4000-8000-000000000000, UID in object meta: {c["metadata"]["uid"]}')
        # two candidates read the same version and both write: exactly one wins
        x, y = json.loads(json.dumps(c)), json.loads(json.dumps(c))
        x["spec"]["holderIdentity"], y["spec"]["holderIdentity"] = "pod-x", "pod-y"
        res = [call(api, "PUT", LP + "/kube-eventer", o)[0] for o in (x, y)]
        eq(res, [200, 409])
        eq(api.lease_holder("kube-system", "kube-eventer"), "pod-x")
        # PUT on an absent lease creates it (leaseStrategy.AllowCreateOnUpdate), whatever resourceVersion it carries
        st, _, n = call(api, "PUT", LP + "/fresh", lease_body(name="fresh", resourceVersion="12345"))
        eq((st, n["metadata"]["name"]), (201, "fresh"))
        check(n["metadata"]["resourceVersion"] != "12345")
        gone = json.loads(json.dumps(n))
        call(api, "DELETE", LP + "/fresh")
        st, _, body = call(api, "PUT", LP + "/fresh", gone)             # client-go's cached copy carries the uid
        eq((st, body["reason"]), (409, "Conflict"))
        check(body["message"].endswith(f'UID in precondition: {n["metadata"]["uid"]}, UID in object meta: '), body)
        api.lease_create_on_update = False                             # a resource without create-on-update
        st, _, body = call(api, "PUT", LP + "/other", lease_body(name="other", resourceVersion="1"))
        eq((st, body["reason"], body["message"]), (404, "NotFound", 'leases.coordination.k8s.io "other" not found'))


def test_lease_opaque_resource_versions():
    with KubeAPI(PKI, opaque_rv=True) as api:
        st, _, a = call(api, "POST", LP, lease_body())
        check(st == 201 and not a["metadata"]["resourceVersion"].isdigit(), a["metadata"])
        a["spec"]["holderIdentity"] = "pod-b"
        st, _, b = call(api, "PUT", LP + "/kube-eventer", a)
        eq((st, b["metadata"]["resourceVersion"]), (200, api.resource_version))
        eq(call(api, "PUT", LP + "/kube-eventer", a)[0], 409, "the version read before")
        a["metadata"]["resourceVersion"] = "not-one-of-ours"
        eq(call(api, "PUT", LP + "/kube-eventer", a)[0], 409)


def test_lease_forbidden():
    with KubeAPI(PKI, tokens={"t0": "system:serviceaccount:kube-system:kube-eventer",
                              "t1": "system:serviceaccount:kube-system:replica-b"}) as api:
        eq(call(api, "POST", LP, lease_body())[0], 201)
        api.set_forbidden([LP])
        st, _, body = call(api, "GET", LP + "/kube-eventer")
        eq((st, body), (403, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": 'leases.coordination.k8s.io "kube-eventer" is forbidden: User '
                                         '"system:serviceaccount:kube-system:kube-eventer" cannot get resource '
                                         '"leases" in API group "coordination.k8s.io" in the namespace "kube-system"',
                              "reason": "Forbidden",
                              "details": {"name": "kube-eventer", "group": "coordination.k8s.io", "kind": "leases"},
                              "code": 403}))
        st, _, body = call(api, "POST", LP, lease_body(name="n2"))
        eq((st, body["message"], body["details"]), (403, (
            'leases.coordination.k8s.io is forbidden: User "system:serviceaccount:kube-system:kube-eventer" cannot '
            'create resource "leases" in API group "coordination.k8s.io" in the namespace "kube-system"'),
            {"group": "coordination.k8s.io", "kind": "leases"}))
        api.set_forbidden([LP], verbs={"update"})                       # RBAC without update
        st, _, cur = call(api, "GET", LP + "/kube-eventer")
        eq(st, 200)
        st, _, body = call(api, "PUT", LP + "/kube-eventer", cur)
        eq(st, 403)
        eq(body["message"], 'leases.coordination.k8s.io "kube-eventer" is forbidden: User '
                            '"system:serviceaccount:kube-system:kube-eventer" cannot update resource "leases" in API '
                            'group "coordination.k8s.io" in the namespace "kube-system"')
        api.set_forbidden([LP], verbs={"update", "get"}, tokens={"t1"})   # only replica b's token
        eq(call(api, "GET", LP + "/kube-eventer")[0], 200)
        st, _, body = call(api, "GET", LP + "/kube-eventer", token="t1")
        eq(st, 403)
        check('User "system:serviceaccount:kube-system:replica-b" cannot get' in body["message"], body["message"])
        api.set_forbidden([LP], verbs={"create"})                       # PUT on an absent lease needs create too
        st, _, body = call(api, "PUT", LP + "/absent", lease_body(name="absent"))
        eq((st, body["message"], body["details"]["name"]),
           (403, 'leases.coordination.k8s.io "absent" is forbidden: ', "absent"))
        api.set_forbidden(["/api/v1/namespaces/x/events"])              # the old form still works
        eq(call(api, "GET", LP + "/kube-eventer")[0], 200)
        st, _, body = call(api, "GET", "/api/v1/namespaces/x/events/e1")
        eq(body["message"], 'events "e1" is forbidden: User "system:serviceaccount:kube-system:kube-eventer" cannot '
                            'get resource "events" in API group "" in the namespace "x"')
        eq(body["details"], {"name": "e1", "kind": "events"})


def test_lease_micro_time_round_trip():
    from kubeapi import micro_time, parse_micro_time, go_parse_time, format_micro_time
    t = 1717171717.123456
    eq(micro_time(t), "2024-05-31T16:08:37.123456Z")
    eq(parse_micro_time("2024-05-31T16:08:37.123456Z"), t)
    eq(micro_time(0), "1970-01-01T00:00:00.000000Z")
    eq(format_micro_time(go_parse_time("2024-02-29T23:59:59.999999-01:30")), "2024-03-01T01:29:59.999999Z")
    with KubeAPI(PKI) as api:
        def spec_times(acq, ren):
            b = lease_body(name="t%d" % next(seq))
            b["spec"]["acquireTime"], b["spec"]["renewTime"] = acq, ren
            st, _, body = call(api, "POST", LP, b)
            return st, (body["spec"] if st == 201 else body["message"].split("Lease: ", 1)[-1])
        import itertools
        seq = itertools.count()
        eq(spec_times("2024-03-05T07:08:09.000000Z", "2024-03-05T07:08:09.123456Z"),
           (201, {"holderIdentity": "pod-a", "leaseDurationSeconds": 15, "acquireTime": "2024-03-05T07:08:09.000000Z",
                  "renewTime": "2024-03-05T07:08:09.123456Z", "leaseTransitions": 0}), "kept to the microsecond")
        eq(spec_times("2024-03-05T09:08:09.5+02:00", None)[0], 400)
        st, spec = spec_times("2024-03-05T09:08:09.500000+02:00", None)
        eq((st, spec.get("acquireTime"), "renewTime" in spec), (201, "2024-03-05T07:08:09.500000Z", False),
           "an offset is written back in UTC; null is no time")
        eq(spec_times("0001-01-01T00:00:00.000000Z", "2024-03-05T07:08:09.000000Z")[1]["acquireTime"], None,
           "the zero time comes back as null")
        lay = '"2006-01-02T15:04:05.000000Z07:00"'
        for sent, err in [
                ("2024-03-05T07:08:09Z", f'parsing time "2024-03-05T07:08:09Z" as {lay}: cannot parse "Z" as '
                                         '".000000"'),
                ("2024-03-05T07:08:09.123Z", f'parsing time "2024-03-05T07:08:09.123Z" as {lay}: cannot parse '
                                             '".123Z" as ".000000"'),
                ("2024-03-05T07:08:09.123456789Z", f'parsing time "2024-03-05T07:08:09.123456789Z" as {lay}: cannot '
                                                   'parse "789Z" as "Z07:00"'),
                ("2024-03-05 07:08:09.123456Z", f'parsing time "2024-03-05 07:08:09.123456Z" as {lay}: cannot parse '
                                                '" 07:08:09.123456Z" as "T"'),
                ("2024-02-30T07:08:09.123456Z", 'parsing time "2024-02-30T07:08:09.123456Z": day out of range'),
                ("2024-13-05T07:08:09.123456Z", 'parsing time "2024-13-05T07:08:09.123456Z": month out of range'),
                ("2024-03-05T07:08:09.123456Zjunk", 'parsing time "2024-03-05T07:08:09.123456Zjunk": extra text: '
                                                    '"junk"')]:
            eq(spec_times("2024-03-05T07:08:09.000000Z", sent), (400, err), sent)
        b = lease_body(name="num")
        b["spec"]["renewTime"] = 1717171717
        eq(call(api, "POST", LP, b)[2]["message"], 'Lease in version "v1" cannot be handled as a Lease: json: cannot '
                                                    'unmarshal number into Go value of type string')
        got = api.set_lease("kube-system", "planted", {"holderIdentity": "other", "leaseDurationSeconds": 10,
                                                       "renewTime": t, "acquireTime": t - 60})
        eq((got["spec"]["renewTime"], got["spec"]["acquireTime"]),
           ("2024-05-31T16:08:37.123456Z", "2024-05-31T16:07:37.123456Z"))
        st, _, back = call(api, "GET", LP + "/planted")
        eq(parse_micro_time(back["spec"]["renewTime"]), t)


def test_lease_per_token_faults():
    with KubeAPI(PKI, tokens={"ta", "tb"}) as api:
        eq(call(api, "POST", LP, lease_body(), token="ta")[0], 201)
        api.fail_next(1, 500, path="leases", method="PUT")
        api.fail_token("tb", 503, retry_after=2)
        st, h, body = call(api, "GET", LP + "/kube-eventer", token="tb")
        eq((st, h.get("retry-after"), body["reason"]), (503, "2", "ServiceUnavailable"))
        eq(call(api, "GET", LP + "/kube-eventer", token="tb")[0], 503, "every request of that token")
        eq(call(api, "GET", "/api/v1/events", token="tb")[0], 503, "on every path")
        st, _, cur = call(api, "GET", LP + "/kube-eventer", token="ta")
        eq(st, 200, "the other token is served")
        eq(call(api, "PUT", LP + "/kube-eventer", cur, token="tb")[0], 503, "does not use up fail_next")
        eq(call(api, "PUT", LP + "/kube-eventer", cur, token="ta")[0], 500, "fail_next(path=leases, method=PUT)")
        eq(call(api, "PUT", LP + "/kube-eventer", cur, token="ta")[0], 200)
        api.heal_token("tb")
        eq(call(api, "GET", LP + "/kube-eventer", token="tb")[0], 200)
        # a partition for one client: its requests go unanswered and its open watch is cut; the other's stays
        wa = watch(api, LP + "?watch=1&resourceVersion=" + api.resource_version, token="ta")
        wb = watch(api, LP + "?watch=1&resourceVersion=" + api.resource_version, token="tb")
        api.wait_for(lambda: api.open_watch_count("leases") == 2, 5, "two lease watches")
        api.fail_token("tb", None, delay=0.05)
        try:
            wb.next()
            raise AssertionError("the watch of tb should have been cut")
        except Abrupt:
            pass
        try:
            call(api, "GET", LP + "/kube-eventer", token="tb")
            raise AssertionError("no answer expected")
        except Abrupt:
            pass
        api.set_lease("kube-system", "kube-eventer", {"holderIdentity": "pod-c", "leaseDurationSeconds": 15})
        e = wa.next()
        eq((e["type"], e["object"]["spec"]["holderIdentity"]), ("MODIFIED", "pod-c"))
        eq(e["object"]["apiVersion"], "coordination.k8s.io/v1")
        wa.close()
        wb.close()
        api.heal_token()
        api.drop_token("tb")
        eq(call(api, "GET", LP + "/kube-eventer", token="tb")[0], 401, "dropped")
        eq(call(api, "GET", LP + "/kube-eventer", token="ta")[0], 200)
        eq({r["token"] for r in api.lease_requests()}, {"ta", "tb"})
        eq(len(api.lease_requests(token="ta", method="PUT")), 2)


def test_lease_watch_list_patch_delete():
    with KubeAPI(PKI, bookmark_interval=None) as api:
        start = api.resource_version
        st, _, a = call(api, "POST", LP, lease_body())
        api.set_lease("other-ns", "x", {"holderIdentity": "z"})
        lst = call(api, "GET", LP)[2]
        eq((lst["kind"], lst["apiVersion"], [i["metadata"]["name"] for i in lst["items"]]),
           ("LeaseList", "coordination.k8s.io/v1", ["kube-eventer"]))
        check("kind" not in lst["items"][0])
        eq(len(call(api, "GET", "/apis/coordination.k8s.io/v1/leases")[2]["items"]), 2, "all namespaces")
        st, _, p = call(api, "PATCH", LP + "/kube-eventer", {"spec": {"holderIdentity": "pod-b"}},
                        ctype="application/merge-patch+json")
        eq((st, p["spec"]["holderIdentity"], p["spec"]["leaseDurationSeconds"]), (200, "pod-b", 15))
        st, _, p2 = call(api, "PATCH", LP + "/kube-eventer",
                         [{"op": "test", "path": "/spec/holderIdentity", "value": "pod-b"},
                          {"op": "replace", "path": "/spec/leaseTransitions", "value": 1}],
                         ctype="application/json-patch+json")
        eq((st, p2["spec"]["leaseTransitions"]), (200, 1))
        st, _, body = call(api, "PATCH", LP + "/kube-eventer", {"metadata": {"resourceVersion": start}},
                           ctype="application/strategic-merge-patch+json")
        eq((st, body["reason"]), (409, "Conflict"), "a resourceVersion in a patch is a precondition")
        eq(call(api, "PATCH", LP + "/absent", {"spec": {}}, ctype="application/merge-patch+json")[0], 404)
        eq(call(api, "PATCH", LP + "/kube-eventer", {"spec": {}})[0], 415, "application/json is no patch type")
        st, _, body = call(api, "DELETE", LP + "/kube-eventer", {"kind": "DeleteOptions", "apiVersion": "v1",
                                                                 "preconditions": {"resourceVersion": start}})
        eq((st, body["details"]["kind"]), (409, "Lease"))
        check("the ResourceVersion in the precondition" in body["message"], body["message"])
        st, _, body = call(api, "DELETE", LP + "/kube-eventer")
        eq((st, body), (200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                              "details": {"name": "kube-eventer", "group": "coordination.k8s.io", "kind": "leases",
                                          "uid": a["metadata"]["uid"]}}))
        eq(call(api, "DELETE", LP + "/kube-eventer")[0], 404)
        w = watch(api, LP + "?watch=1&resourceVersion=" + start)
        got = w.take(4)
        eq([e["type"] for e in got], ["ADDED", "MODIFIED", "MODIFIED", "DELETED"])
        eq({e["object"]["kind"] for e in got}, {"Lease"})
        eq(got[-1]["object"]["metadata"]["resourceVersion"], api.resource_version, "deleted at its own revision")
        w.close()
        eq(api.lease("kube-system", "kube-eventer"), None)
        api.delete_lease("other-ns", "x")
        eq(api.leases, {})


def test_lease_discovery():
    with KubeAPI(PKI) as api:
        eq(call(api, "GET", "/apis")[2]["groups"][0]["preferredVersion"],
           {"groupVersion": "coordination.k8s.io/v1", "version": "v1"})
        eq(call(api, "GET", "/apis/coordination.k8s.io")[2]["kind"], "APIGroup")
        r = call(api, "GET", "/apis/coordination.k8s.io/v1")[2]
        eq((r["kind"], r["groupVersion"], r["resources"][0]["name"], r["resources"][0]["kind"]),
           ("APIResourceList", "coordination.k8s.io/v1", "leases", "Lease"))
        eq(call(api, "GET", "/api/v1/namespaces/x/leases/y")[0], 404, "leases are not in the core group")
        eq(call(api, "GET", "/apis/coordination.k8s.io/v1/namespaces/x/events/y")[0], 404)
        kept = api.set_lease("kube-system", "kept", {"holderIdentity": "a", "leaseDurationSeconds": 15})
        api.restart(downtime=0.1)
        eq(call(api, "GET", LP + "/kept")[2], kept, "kept across a restart on the same port")


def test_lease_client_go_leader_election_sequence():
    """The requests client-go's LeaderElector makes through LeaseLock (tryAcquireOrRenew), for two candidates."""
    with KubeAPI(PKI, tokens={"ta", "tb"}) as api:
        name = LP + "/kube-eventer"

        def try_acquire_or_renew(token, ident, observed):
            st, _, cur = call(api, "GET", name, token=token)
            if st == 404:
                return call(api, "POST", LP, lease_body(holder=ident), token=token)[0] == 201, None
            spec = cur["spec"]
            if spec.get("holderIdentity") not in ("", None, ident) and observed == spec.get("renewTime"):
                pass                                    # observed unchanged for a whole leaseDuration: take over
            elif spec.get("holderIdentity") not in ("", None, ident):
                return False, spec.get("renewTime")     # held by someone else, not expired
            new = json.loads(json.dumps(cur))
            mine = spec.get("holderIdentity") == ident
            from kubeapi import micro_time
            new["spec"].update(holderIdentity=ident, renewTime=micro_time(),
                               acquireTime=spec["acquireTime"] if mine else micro_time(),
                               leaseTransitions=spec.get("leaseTransitions", 0) + (0 if mine else 1))
            return call(api, "PUT", name, new, token=token)[0] == 200, None

        ok, _ = try_acquire_or_renew("ta", "pod-a", None)
        check(ok, "a creates the lease")
        ok, seen_b = try_acquire_or_renew("tb", "pod-b", None)
        check(not ok and seen_b, "b sees a's lease")
        ok, _ = try_acquire_or_renew("ta", "pod-a", None)
        check(ok, "a renews")
        api.fail_token("ta", 503)                      # a cannot reach the API any more
        ok, seen_b = try_acquire_or_renew("tb", "pod-b", None)
        ok, _ = try_acquire_or_renew("tb", "pod-b", seen_b)
        check(ok, "b takes over once the record stopped changing")
        lease = api.lease("kube-system", "kube-eventer")
        eq((lease["spec"]["holderIdentity"], lease["spec"]["leaseTransitions"]), ("pod-b", 1))
        api.heal_token("ta")
        stale = json.loads(json.dumps(api.lease_requests(token="ta", method="PUT")[-1]["body"]))  # a's cache
        stale["spec"]["renewTime"] = lease["spec"]["renewTime"]
        eq(call(api, "PUT", name, stale, token="ta")[0], 409, "a's optimistic renewal with its old version")
        eq([(r["token"], r["method"], r["status"]) for r in api.lease_requests()][:4],
           [("ta", "GET", 404), ("ta", "POST", 201), ("tb", "GET", 200), ("ta", "GET", 200)])
        release = api.lease("kube-system", "kube-eventer")
        release["spec"].update(holderIdentity="", leaseDurationSeconds=1)
        st, _, body = call(api, "PUT", name, release, token="tb")
        eq((st, body["spec"]["holderIdentity"], body["spec"]["leaseDurationSeconds"]), (200, "", 1),
           'ReleaseOnCancel: an empty holder is kept as ""')


# --- runner -----------------------------------------------------------------------------------------------------------
def main():
    global PKI
    only = sys.argv[sys.argv.index("-k") + 1] if "-k" in sys.argv else ""
    PKI = certs.make_pki(os.path.join(ROOT, "build", "test-pki"))
    tests = [(k, v) for k, v in sorted(globals().items()) if k.startswith("test_") and callable(v) and only in k]
    passed = failed = 0
    t_all = time.monotonic()
    for i, (name, fn) in enumerate(tests, 1):
        t0 = time.monotonic()
        try:
            fn()
            passed += 1
            print(f"ok {i} - {name} ({time.monotonic() - t0:.2f}s)", flush=True)
        except Exception as e:  # a failed check or an unexpected error
            failed += 1
            print(f"not ok {i} - {name} ({time.monotonic() - t0:.2f}s)", flush=True)
            for line in "".join(traceback.format_exception(type(e), e, e.__traceback__)[-4:]).splitlines():
                print("#   " + line)
    live = [t.name for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive()]
    print(f"# {time.monotonic() - t_all:.1f}s, threads left: {len(live)}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
