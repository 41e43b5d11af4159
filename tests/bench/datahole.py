#!/usr/bin/env python3
"""datahole: a loopback sinkhole that speaks InfluxDB 1.x, Elasticsearch 7.x and Honeycomb, for benchmarks.

Python 3.11 standard library only.  HTTP/1.1 keep-alive on 127.0.0.1 (thread per
connection), Content-Length or chunked bodies, `Expect: 100-continue`,
`Content-Encoding: gzip`.  It counts the events (InfluxDB points = non-empty,
non-comment lines of a /write body; Elasticsearch bulk actions; the elements of a
Honeycomb batch array) and answers as the real server would, with no storage:

  InfluxDB       POST /write -> 204 (400 {"error":"database is required"} without db=)
                 GET|HEAD /ping -> 204        GET|POST /query -> 200 {"results":[{"statement_id":0}]}
  Elasticsearch  GET / -> 7.x root info       HEAD /<index> -> 200
                 PUT /<index> -> 200 {"acknowledged":true,"shards_acknowledged":true,"index":...}
                 GET /<index>/_alias -> {"<index>":{"aliases":{"heapster-events":{}}}}
                 POST /_aliases -> {"acknowledged":true}
                 POST|PUT /_bulk, /<index>/_bulk -> {"took":1,"errors":false,"items":[...]}, one item
                 per action, keyed by the action's own name: index/create 201, update/delete 200
                 (with filter_path= set: just {"errors":false,"items":[{"create":{"status":201}},...]})
  Honeycomb      POST /1/batch/<dataset> -> 200 [{"status":202},...], one per element of the
                 body's JSON array (any X-Honeycomb-Team; 400 {"error":"Request body is malformed
                 and cannot be read."} when the body is not a JSON array)
  anything else  404 {"error":"no handler"}

    python3 tests/bench/datahole.py [--port 0] [--expect N] [--timeout S] [--quiet]

Prints "listening 127.0.0.1 PORT" first, then after every request that carried events
"events TOTAL LAST_NS REQUESTS" (LAST_NS = time.time_ns() when that request's body was
complete), flushed; exits 0 when TOTAL >= N (--expect) or 1 at the deadline (--timeout,
default 300 s), and 0 on SIGTERM/SIGINT.  In-process: Datahole().start() ... .stop(),
with .port, .events, .last_ns, .wait_events(n, timeout).

    python3 tests/bench/datahole.py --measure [--events N]

measures the datahole itself: a server process pinned to CPU 1 and a client on CPU 0
sending N events (default 200000) as 1000-line /write bodies, 1000-action _bulk
bodies and 1000-event Honeycomb batches (sample_bodies(), sample_batch(): the OpenShift
fixture) over one keep-alive connection; prints events/s and the server's CPU µs per event.
"""
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import zlib

MAX_HEAD = 64 * 1024
MAX_BODY = 256 * 1024 * 1024

ES_ROOT = {
    "name": "datahole", "cluster_name": "datahole", "cluster_uuid": "dataholedataholedatah",
    "version": {"number": "7.17.0", "build_flavor": "default", "build_type": "deb",
                "build_hash": "bee86328705acaa9a6daede7140defd4d9ec56bd",
                "build_date": "2022-01-28T08:36:04.875279988Z",
                "build_snapshot": False, "lucene_version": "8.11.1",
                "minimum_wire_compatibility_version": "6.8.0", "minimum_index_compatibility_version": "6.0.0-beta1"},
    "tagline": "You Know, for Search",
}
_ITEM_STATUS = {b"index": 201, b"create": 201, b"update": 200, b"delete": 200}
_REASON = {100: "Continue", 200: "OK", 204: "No Content", 400: "Bad Request", 404: "Not Found",
           405: "Method Not Allowed", 413: "Content Too Large"}


_WS = b" \t\x00"          # what InfluxDB's skipWhitespace skips before a '#' comment
_AFTER = (b",", b" ", b"\n")
_ESCAPES = (b'\\"', b"\\\n", b"\\=", b"\\,", b"\\ ")


def _points(lines):
    return sum(1 for ln in lines if ln.lstrip(_WS) and not ln.lstrip(_WS).startswith(b"#"))


def _unescape_outside(b):
    for esc in _ESCAPES:
        if esc in b:
            b = b.replace(esc, b"__")
    return b


def influx_lines(body):
    """Points in a line-protocol body, as InfluxDB 1.6's scanner splits it.

    A raw newline inside a quoted string field value belongs to its line, a backslash
    escapes the next byte, blank lines and `#` comments are no points.  Fast path
    (C-speed bytes operations, a few Python steps per string value): turn the escape
    pairs backslash-backslash and backslash-quote into two neutral bytes, split at the
    remaining double quotes, neutralise the other structural escapes (backslash before
    newline, '=', ',' or space) in the text outside the strings, check that each quote
    opens a string where InfluxDB's scanner would (in the fields section of its line,
    after more '=' than ','), and count the lines of the text outside the strings.  A
    body that fails the check (a raw '"' in a measurement, tag or key) or has a
    backslash in its last two bytes goes through the exact byte-by-byte scanner."""
    if b"\\" in body:
        if b"\\" in body[-2:]:
            return _points(_split_lines(body))
        body = body.replace(b"\\\\", b"__").replace(b'\\"', b"__")
    if b'"' not in body:
        return _points(_unescape_outside(body).split(b"\n"))
    parts = body.split(b'"')
    if len(parts) % 2 == 0:                     # an unterminated string
        return _points(_split_lines(body))
    outside = b'"'.join(parts[0::2])            # small: keys, tags, numbers, timestamps
    if b"\\" in outside:
        parts = _unescape_outside(outside).split(b'"')
    else:
        parts = parts[0::2]
    fields = False
    eq = cm = 0
    for p in parts[:-1]:                        # a quote opens a string after each of these
        nl = p.rfind(b"\n")
        if nl >= 0:
            p = p[nl + 1:]
            fields = False
            eq = cm = 0
        if not fields:
            sp = p.find(b" ")
            if sp < 0:
                return _points(_split_lines(body))    # a quote in a key section
            fields = True
            p = p[sp:]
        eq += p.count(b"=")
        cm += p.count(b",")
        if eq <= cm:
            return _points(_split_lines(body))        # a literal quote
    return _points(b"".join(parts).split(b"\n"))


def _split_lines(body):
    """The lines of a line-protocol body exactly as InfluxDB 1.6's scanLine finds them:
    a backslash skips the next byte; after the first space (the fields section) a '"'
    toggles quoting when more '=' than ',' were seen outside quotes; a newline outside
    quotes ends the line.  Byte by byte: slow, only for odd bodies."""
    out = []
    i, n = 0, len(body)
    while i < n:
        fields = quoted = False
        equals = commas = 0
        k = i
        while k < n:
            c = body[k]
            if c == 0x5C and k + 2 < n:          # backslash: skip it and the next byte
                k += 2
                continue
            if c == 0x20:
                fields = True
            if fields:
                if not quoted and c == 0x3D:
                    equals += 1
                    k += 1
                    continue
                if not quoted and c == 0x2C:
                    commas += 1
                    k += 1
                    continue
                if c == 0x22 and equals > commas:
                    quoted = not quoted
                    k += 1
                    continue
            if c == 0x0A and not quoted:
                break
            k += 1
        out.append(body[i:k])
        i = k + 1
    return out


def bulk_actions(body):
    """-> [action name bytes] of an Elasticsearch _bulk body (NDJSON)."""
    lines = body.split(b"\n")
    acts = []
    i, n = 0, len(lines)
    while i < n:
        ln = lines[i]
        i += 1
        if not ln.strip():
            continue
        # {"index":{...}} / { "create" : ... }: the first key names the action
        q = ln.find(b'"')
        e = ln.find(b'"', q + 1)
        name = ln[q + 1:e] if q >= 0 and e > q else b""
        acts.append(name)
        if name != b"delete":
            i += 1                                  # the document line
    return acts


class _Closed(Exception):
    pass


class Datahole:
    def __init__(self, port=0, on_events=None):
        self.lock = threading.Lock()
        self.events = 0
        self.requests = 0            # requests that carried events
        self.all_requests = 0
        self.last_ns = 0
        self.first_ns = 0
        self.busy = 0                # requests being read or answered
        self.on_events = on_events
        self._cv = threading.Condition(self.lock)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = False
        self._conns = set()
        self._t = None

    # -- lifecycle --------------------------------------------------------------
    def start(self):
        self._t = threading.Thread(target=self._accept, daemon=True)
        self._t.start()
        return self

    def stop(self):
        self._stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in list(self._conns):
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._t:
            self._t.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()

    def wait_events(self, n, timeout):
        end = time.monotonic() + timeout
        with self._cv:
            while self.events < n:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
        return True

    def wait_idle(self, timeout):
        """Until no request is being read or answered (the last answer is sent)."""
        end = time.monotonic() + timeout
        with self._cv:
            while self.busy:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
        return True

    def _accept(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._conns.add(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _count(self, n):
        now = time.time_ns()
        with self._cv:
            if not self.first_ns:
                self.first_ns = now
            self.events += n
            self.requests += 1
            self.last_ns = now
            total, reqs = self.events, self.requests
            self._cv.notify_all()
        if self.on_events:
            self.on_events(total, now, reqs)

    # -- HTTP -------------------------------------------------------------------
    def _serve(self, c):
        buf = bytearray()
        busy = False
        try:
            while True:
                # head
                while True:
                    i = buf.find(b"\r\n\r\n")
                    if i >= 0:
                        break
                    if len(buf) > MAX_HEAD:
                        raise _Closed()
                    d = c.recv(262144)
                    if not d:
                        raise _Closed()
                    buf += d
                head = bytes(buf[:i]).decode("latin-1")
                del buf[:i + 4]
                with self.lock:
                    self.busy += 1
                busy = True
                lines = head.split("\r\n")
                parts = lines[0].split(" ")
                if len(parts) != 3:
                    raise _Closed()
                method, target, version = parts
                h = {}
                for ln in lines[1:]:
                    k, _, v = ln.partition(":")
                    h[k.strip().lower()] = v.strip()
                if h.get("expect", "").lower() == "100-continue":
                    c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                # body
                if "chunked" in h.get("transfer-encoding", "").lower():
                    body = bytearray()
                    while True:
                        while b"\r\n" not in buf:
                            d = c.recv(262144)
                            if not d:
                                raise _Closed()
                            buf += d
                        j = buf.find(b"\r\n")
                        size = int(bytes(buf[:j]).split(b";")[0].strip() or b"0", 16)
                        del buf[:j + 2]
                        if size == 0:
                            while True:           # trailers up to the blank line
                                while b"\r\n" not in buf:
                                    d = c.recv(65536)
                                    if not d:
                                        raise _Closed()
                                    buf += d
                                j = buf.find(b"\r\n")
                                t = bytes(buf[:j])
                                del buf[:j + 2]
                                if not t:
                                    break
                            break
                        while len(buf) < size + 2:
                            d = c.recv(262144)
                            if not d:
                                raise _Closed()
                            buf += d
                        body += buf[:size]
                        del buf[:size + 2]
                        if len(body) > MAX_BODY:
                            raise _Closed()
                    body = bytes(body)
                else:
                    n = int(h.get("content-length", "0") or 0)
                    if n > MAX_BODY:
                        raise _Closed()
                    while len(buf) < n:
                        d = c.recv(max(262144, n - len(buf)))
                        if not d:
                            raise _Closed()
                        buf += d
                    body = bytes(buf[:n])
                    del buf[:n]
                enc = h.get("content-encoding", "").lower()
                if enc == "gzip":
                    body = gzip.decompress(body)
                elif enc == "deflate":
                    body = zlib.decompress(body)
                status, ctype, out = self._handle(method, target, body)
                close = h.get("connection", "").lower() == "close" or version == "HTTP/1.0"
                hdr = (f"HTTP/1.1 {status} {_REASON.get(status, 'OK')}\r\n"
                       f"X-Influxdb-Version: 1.6.7-datahole\r\n"
                       + (f"Content-Type: {ctype}\r\n" if ctype else "")
                       + ("" if status == 204 else f"Content-Length: {len(out)}\r\n")
                       + ("Connection: close\r\n" if close else "") + "\r\n").encode()
                c.sendall(hdr + out if method != "HEAD" else hdr)
                with self._cv:
                    self.busy -= 1
                    busy = False
                    self._cv.notify_all()
                if close:
                    raise _Closed()
        except (_Closed, OSError, ValueError, EOFError, zlib.error):
            pass
        finally:
            if busy:
                with self._cv:
                    self.busy -= 1
                    self._cv.notify_all()
            self._conns.discard(c)
            try:
                c.close()
            except OSError:
                pass

    def _handle(self, method, target, body):
        with self.lock:
            self.all_requests += 1
        path, _, query = target.partition("?")
        J = "application/json"
        # InfluxDB
        if path == "/write":
            if method != "POST":
                return 405, "text/plain", b"Method Not Allowed\n"
            if "db=" not in query:
                return 400, J, b'{"error":"database is required"}\n'
            n = influx_lines(body)
            if n:
                self._count(n)
            return 204, J, b""
        if path == "/ping":
            return 204, J, b""
        if path == "/query":
            return 200, J, b'{"results":[{"statement_id":0}]}\n'
        # Elasticsearch
        if path == "/" and method in ("GET", "HEAD"):
            return 200, J, json.dumps(ES_ROOT).encode()
        if path == "/_bulk" or path.endswith("/_bulk"):
            if method not in ("POST", "PUT"):
                return 405, J, b'{"error":"Incorrect HTTP method"}'
            acts = bulk_actions(body)
            if acts:
                self._count(len(acts))
            filtered = "filter_path=" in query
            items = []
            for a in acts:
                name = a.decode("latin-1") or "index"
                st = _ITEM_STATUS.get(a, 201)
                if filtered:
                    items.append(f'{{"{name}":{{"status":{st}}}}}')
                else:
                    items.append(f'{{"{name}":{{"_index":"x","_id":"{len(items)}","_version":1,'
                                 f'"result":"created","_shards":{{"total":1,"successful":1,"failed":0}},'
                                 f'"_seq_no":{len(items)},"_primary_term":1,"status":{st}}}}}')
            head = '{"errors":false,"items":[' if filtered else '{"took":1,"errors":false,"items":['
            return 200, J, (head + ",".join(items) + "]}").encode()
        # Honeycomb
        if path.startswith("/1/batch/"):
            if method != "POST":
                return 405, J, b'{"error":"method not allowed"}'
            try:
                arr = json.loads(body)
            except ValueError:
                arr = None
            if not isinstance(arr, list):
                return 400, J, b'{"error":"Request body is malformed and cannot be read."}'
            if arr:
                self._count(len(arr))
            return 200, J, b"[" + b",".join([b'{"status":202}'] * len(arr)) + b"]"
        if path == "/_aliases":
            return 200, J, b'{"acknowledged":true}'
        segs = [urllib.parse.unquote(s) for s in path.strip("/").split("/")]
        if len(segs) == 1 and segs[0] and not segs[0].startswith("_"):
            idx = segs[0]
            if method == "HEAD":
                return 200, J, b""
            if method == "PUT":
                return 200, J, json.dumps({"acknowledged": True, "shards_acknowledged": True, "index": idx}).encode()
            if method == "GET":
                return 200, J, json.dumps({idx: {"aliases": {}, "mappings": {}, "settings": {}}}).encode()
        if len(segs) == 2 and segs[1] == "_alias" and method in ("GET", "HEAD"):
            return 200, J, json.dumps({segs[0]: {"aliases": {"heapster-events": {}}}}).encode()
        return 404, J, b'{"error":"no handler"}'


# -- measuring the datahole itself ---------------------------------------------------

def sample_bodies(per_req=1000):
    """Realistic request bodies from the OpenShift fixture: a /write body in upstream's
    default shape (measurement log/events, tags cluster_name/hostname/uid, field `value` =
    the event as indented JSON with raw newlines, escaped) and a _bulk body of `create`
    actions with compact documents."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with gzip.open(os.path.join(root, "tests", "fixtures", "events", "openshift-azure-events.json.gz"), "rt") as f:
        items = json.load(f)["items"]
    lines, bulk = [], []
    for i in range(per_req):
        e = items[i % len(items)]
        v = json.dumps(e, indent=1).replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'log/events,cluster_name=default,hostname=node-1,uid=uid-{i} value="{v}" '
                     f'{1700000000000000000 + i}')
        bulk.append('{"create":{"_index":"heapster-2024.03.05","_id":"uid-%d-1"}}' % i)
        bulk.append(json.dumps(e, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode(), ("\n".join(bulk) + "\n").encode()


def sample_batch(per_req=1000):
    """A Honeycomb batch body in this sink's shape, from the OpenShift fixture."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with gzip.open(os.path.join(root, "tests", "fixtures", "events", "openshift-azure-events.json.gz"), "rt") as f:
        items = json.load(f)["items"]
    out = []
    for i in range(per_req):
        e = items[i % len(items)]
        io, src = e.get("involvedObject", {}), e.get("source", {})
        out.append({"data": {"namespace": io.get("namespace", ""), "kind": io.get("kind", ""),
                             "name": io.get("name", ""), "subobject": io.get("fieldPath", ""),
                             "source.component": src.get("component", ""), "source.host": src.get("host", ""),
                             "count": e.get("count") or 1, "type": e.get("type", ""),
                             "reason": e.get("reason", ""), "message": e.get("message", "")},
                    "time": e.get("lastTimestamp") or "2024-03-05T07:08:09Z"})
    return json.dumps(out, separators=(",", ":")).encode()


def _client(port, kind, n, body):
    per_req = 1000
    if kind == "influxdb":
        head = (f"POST /write?db=k8s HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
    elif kind == "honeycomb":
        head = (f"POST /1/batch/heapster HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                f"X-Honeycomb-Team: bench\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    else:
        head = (f"POST /_bulk?filter_path=errors,items.*.status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: application/x-ndjson\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(30)
    f = s.makefile("rb")
    t0 = time.perf_counter()
    sent = 0
    while sent < n:
        s.sendall(head + body)
        status = f.readline()
        if b" 20" not in status:
            raise RuntimeError(f"datahole answered {status!r}")
        clen = 0
        while True:
            ln = f.readline()
            if ln in (b"\r\n", b""):
                break
            if ln.lower().startswith(b"content-length:"):
                clen = int(ln.split(b":")[1])
        if clen:
            f.read(clen)
        sent += per_req
    dt = time.perf_counter() - t0
    s.close()
    return sent, dt


def measure(n):
    """The datahole in its own process (CPU 1), a client here (CPU 0): events/s, server µs/event."""
    split = (os.cpu_count() or 1) >= 2
    bodies = dict(zip(("influxdb", "elasticsearch"), sample_bodies()))
    bodies["honeycomb"] = sample_batch()
    for kind, body in bodies.items():
        p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--timeout", "300"],
                             stdout=subprocess.PIPE, text=True,
                             preexec_fn=(lambda: os.sched_setaffinity(0, {1})) if split else None)
        port = int(p.stdout.readline().split()[2])
        counted = [0]
        reader = threading.Thread(target=lambda: [counted.__setitem__(0, int(ln.split()[1])) for ln in p.stdout],
                                  daemon=True)
        reader.start()
        if split:
            os.sched_setaffinity(0, {0})
        c0 = _proc_cpu(p.pid)
        sent, dt = _client(port, kind, n, body)
        c1 = _proc_cpu(p.pid)
        p.send_signal(signal.SIGTERM)
        p.wait(10)
        reader.join(5)
        print(f"{kind:13s}: {sent} events, 1000 per request ({len(body) / 1024:.0f} KiB): "
              f"{sent / dt:,.0f} events/s, datahole CPU {(c1 - c0) / sent * 1e6:.2f} µs/event "
              f"(= {sent / max(c1 - c0, 1e-9):,.0f} events per CPU-second); counted {counted[0]}", flush=True)
        if counted[0] != sent:
            raise SystemExit(f"datahole counted {counted[0]} of {sent}")


def _proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--expect", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--quiet", action="store_true", help="no per-request lines")
    ap.add_argument("--measure", action="store_true")
    ap.add_argument("--events", type=int, default=200000)
    a = ap.parse_args(argv)
    if a.measure:
        measure(a.events)
        return 0
    done = threading.Event()
    out_lock = threading.Lock()

    def report(total, ns, reqs):
        if not a.quiet:
            with out_lock:
                sys.stdout.write(f"events {total} {ns} {reqs}\n")
                sys.stdout.flush()
        if a.expect and total >= a.expect:
            done.set()

    d = Datahole(a.port, on_events=report).start()
    print(f"listening 127.0.0.1 {d.port}", flush=True)
    rc = [1]

    def on_sig(*_):
        rc[0] = 0
        done.set()
    signal.signal(signal.SIGTERM, on_sig)
    signal.signal(signal.SIGINT, on_sig)
    if done.wait(a.timeout) and (rc[0] == 0 or (a.expect and d.events >= a.expect)):
        rc[0] = 0
    d.wait_idle(2.0)             # the request that reached --expect gets its answer
    d.stop()
    return rc[0]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
