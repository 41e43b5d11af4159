"""A Kubernetes API server emulator for kube-eventer's integration tests.

Serves, over HTTPS (or HTTP) on loopback, what kube-eventer uses of the real
kube-apiserver, with the same JSON shapes, headers and status codes:

  GET /api/v1/events, /api/v1/namespaces/{ns}/events
      list: limit, continue (snapshot pages; 410 "Expired" once compacted),
            fieldSelector (metadata.name, metadata.namespace, involvedObject.kind,
            involvedObject.namespace, involvedObject.name, type, reason; = and !=)
      watch=1: resourceVersion, allowWatchBookmarks, timeoutSeconds; chunked
            transfer, one {"type","object"} per line; a resourceVersion older than
            the compaction point gets an in-stream ERROR 410 (or HTTP 410 with
            watch_410="http")
  GET /api/v1/namespaces/{ns}/configmaps/{name}, and list/watch of configmaps
      with fieldSelector=metadata.name=...
  GET /version, /healthz

Authentication: "Authorization: Bearer <token>" with a token from the current
set (mutable: rotation), or a client certificate signed by the test CA.

Fault injection for tests: fail_next (5xx, 429 + Retry-After), cut_watches
(optionally mid-line), send_error_410, stall_watches, inject_raw_line,
compact, restart (same port, with or without history), chunk splitting at
random boundaries (chunks=seed). Every request is recorded in .requests.

Python standard library only. Used in-process by tests, or standalone:
    python3 kubeapi.py --pki DIR --token T [--events FILE] [--port N]
"""
import base64
import gzip
import http.server
import json
import os
import random
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))


def now_rfc3339(micro=False):
    t = time.time()
    if micro:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class _Watch:
    """One open watch connection."""

    def __init__(self, kind, ns, selector):
        self.kind = kind            # "events" or "configmaps"
        self.ns = ns
        self.selector = selector
        self.cut = None             # None, "clean", "abrupt", "midline"
        self.send_410 = False
        self.stall_until = 0.0
        self.raw = []               # raw lines to inject


class KubeAPI:
    def __init__(self, pki=None, tokens=("t0",), host="127.0.0.1", port=0, tls=True, opaque_rv=False,
                 bookmark_interval=None, chunks=None, watch_410="stream", require_client_cert=False):
        self.pki = pki
        self.tokens = set(tokens)
        self.host = host
        self.port = port
        self.tls = tls
        self.opaque_rv = opaque_rv
        self.bookmark_interval = bookmark_interval
        self.chunks = random.Random(chunks) if chunks is not None else None
        self.watch_410 = watch_410
        self.require_client_cert = require_client_cert
        self.cond = threading.Condition()
        self.rv = 100               # etcd-like global counter
        self.history = []           # (rv, type, kind, ns, name, object)
        self.compacted = 0          # history below this rv is gone
        self.events = {}            # (ns, name) -> object
        self.configmaps = {}
        self.snapshots = {}         # continue id -> (list_rv, items)
        self.watches = []
        self.requests = []
        self.fail = []              # [(status, retry_after, body, path_substring)]
        self.server = None
        self.thread = None
        self.conns = set()
        self._rv_names = {}

    # --- resourceVersions: decimal, or opaque strings that do not sort -----
    def rv_str(self, n):
        if not self.opaque_rv:
            return str(n)
        s = base64.b32encode(((n * 2654435761) % 4294967296).to_bytes(4, "big")).decode().rstrip("=").lower()
        s = f"{s}.{n % 7}"
        self._rv_names[s] = n
        return s

    def rv_int(self, s):
        if s is None or s == "":
            return None
        if self.opaque_rv:
            return self._rv_names.get(s, -1)
        try:
            return int(s)
        except ValueError:
            return -1

    # --- building events ------------------------------------------------------
    @staticmethod
    def make_event(ns="default", name=None, reason="BackOff", type_="Warning", message="Back-off restarting failed container",
                   kind="Pod", obj=None, count=1, shape="legacy", labels=None, host="node-1"):
        obj = obj or "web-" + uuid.uuid4().hex[:5]
        name = name or f"{obj}.{uuid.uuid4().hex[:16]}"
        meta = {"name": name, "namespace": ns, "creationTimestamp": now_rfc3339()}
        if labels:
            meta["labels"] = labels
        e = {"kind": "Event", "apiVersion": "v1", "metadata": meta,
             "involvedObject": {"kind": kind, "namespace": "" if kind == "Node" else ns, "name": obj,
                                "uid": str(uuid.uuid4()), "apiVersion": "v1"},
             "reason": reason, "message": message, "type": type_}
        if shape == "legacy":
            e.update({"source": {"component": "kubelet", "host": host}, "firstTimestamp": now_rfc3339(),
                      "lastTimestamp": now_rfc3339(), "count": count, "eventTime": None,
                      "reportingComponent": "", "reportingInstance": ""})
        else:  # written through events.k8s.io/v1
            e.update({"source": {}, "firstTimestamp": None, "lastTimestamp": None, "eventTime": now_rfc3339(True),
                      "action": "Binding", "reportingComponent": "default-scheduler",
                      "reportingInstance": "default-scheduler-node-1"})
            if count > 1:
                e["series"] = {"count": count, "lastObservedTime": now_rfc3339(True)}
        return e

    def _record(self, typ, kind, obj):
        """Under cond: bump rv, stamp the object, append to history, wake watches."""
        self.rv += 1
        obj["metadata"]["resourceVersion"] = self.rv_str(self.rv)
        md = obj["metadata"]
        self.history.append((self.rv, typ, kind, md.get("namespace", ""), md["name"], json.dumps(obj)))
        self.cond.notify_all()

    def add_event(self, event=None, **kw):
        """Add (or replace) an Event: a given object, or make_event(**kw)."""
        obj = json.loads(json.dumps(event if event is not None else self.make_event(**kw)))
        obj["metadata"].setdefault("uid", str(uuid.uuid4()))
        obj["metadata"].setdefault("creationTimestamp", now_rfc3339())
        with self.cond:
            key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            typ = "MODIFIED" if key in self.events else "ADDED"
            self._record(typ, "events", obj)
            self.events[key] = obj
        return json.loads(json.dumps(obj))

    def bump_event(self, ns, name):
        """The kubelet seeing the same thing again: count+1 (or series.count+1), new last time."""
        with self.cond:
            e = self.events[(ns, name)]
            if "series" in e or e.get("eventTime") and not e.get("lastTimestamp"):
                s = e.setdefault("series", {"count": 1})
                s["count"] += 1
                s["lastObservedTime"] = now_rfc3339(True)
            else:
                e["count"] = e.get("count", 1) + 1
                e["lastTimestamp"] = now_rfc3339()
            self._record("MODIFIED", "events", e)
            return json.loads(json.dumps(e))

    def delete_event(self, ns, name):
        with self.cond:
            e = self.events.pop((ns, name))
            self._record("DELETED", "events", e)

    def load_fixture(self, path, fresh=True):
        """Load an EventList (JSON or .gz). fresh: new uids, keeping the content."""
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            items = json.load(f)["items"]
        out = []
        for e in items:
            if fresh:
                e["metadata"]["uid"] = str(uuid.uuid4())
            out.append(self.add_event(e))
        return out

    def set_configmap(self, ns, name, data):
        with self.cond:
            key = (ns, name)
            cm = {"kind": "ConfigMap", "apiVersion": "v1",
                  "metadata": {"name": name, "namespace": ns, "uid": str(uuid.uuid4()),
                               "creationTimestamp": now_rfc3339()}, "data": data}
            typ = "MODIFIED" if key in self.configmaps else "ADDED"
            if typ == "MODIFIED":
                cm["metadata"]["uid"] = self.configmaps[key]["metadata"]["uid"]
            self._record(typ, "configmaps", cm)
            self.configmaps[key] = cm

    def delete_configmap(self, ns, name):
        with self.cond:
            cm = self.configmaps.pop((ns, name))
            self._record("DELETED", "configmaps", cm)

    # --- fault injection ------------------------------------------------------
    def compact(self):
        """Forget history: watches and continues from older versions get 410."""
        with self.cond:
            self.compacted = self.rv + 1
            self.history = []
            self.snapshots.clear()

    def cut_watches(self, mid_line=False):
        with self.cond:
            for w in self.watches:
                w.cut = "midline" if mid_line else "abrupt"
            self.cond.notify_all()

    def end_watches(self):
        """End watches cleanly, as timeoutSeconds does."""
        with self.cond:
            for w in self.watches:
                w.cut = "clean"
            self.cond.notify_all()

    def send_error_410(self):
        with self.cond:
            for w in self.watches:
                w.send_410 = True
            self.cond.notify_all()

    def stall_watches(self, seconds):
        with self.cond:
            for w in self.watches:
                w.stall_until = time.monotonic() + seconds
            self.cond.notify_all()

    def inject_raw_line(self, data):
        with self.cond:
            for w in self.watches:
                w.raw.append(data)
            self.cond.notify_all()

    def fail_next(self, n, status_code, retry_after=None, body=None, path=""):
        with self.cond:
            for _ in range(n):
                self.fail.append((status_code, retry_after, body, path))

    def set_tokens(self, tokens):
        with self.cond:
            self.tokens = set(tokens)

    def open_watch_count(self, kind="events"):
        with self.cond:
            return sum(1 for w in self.watches if w.kind == kind)

    def wait_for(self, pred, timeout=10.0, msg="condition"):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.cond:
                v = pred()
            if v:
                return v
            time.sleep(0.02)
        raise AssertionError(f"kubeapi: timed out waiting for {msg}")

    def watch_requests(self, kind="events"):
        return [r for r in self.requests if r["query"].get("watch", [""])[0] in ("1", "true") and kind in r["path"]]

    def list_requests(self, kind="events"):
        return [r for r in self.requests if "watch" not in r["query"] and r["path"].endswith(kind)]

    # --- lifecycle ------------------------------------------------------------
    @property
    def url(self):
        h = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{h}:{self.port}"

    def _context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.pki["server"], self.pki["server_key"])
        ctx.load_verify_locations(self.pki["ca"])
        ctx.verify_mode = ssl.CERT_REQUIRED if self.require_client_cert else ssl.CERT_OPTIONAL
        return ctx

    def start(self):
        api = self

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            address_family = socket.AF_INET6 if ":" in api.host else socket.AF_INET

            def get_request(self):
                sock, addr = self.socket.accept()
                if api.tls:
                    sock.settimeout(5)
                    try:
                        sock = api.ctx.wrap_socket(sock, server_side=True)
                    except (ssl.SSLError, OSError):
                        sock.close()
                        raise OSError("handshake failed")
                    sock.settimeout(None)
                return sock, addr

            def handle_error(self, request, client_address):
                pass

        if self.tls:
            self.ctx = self._context()
        self.server = Server((self.host, self.port), _Handler)
        self.server.api = self
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        with self.cond:
            for w in self.watches:
                w.cut = "abrupt"
            self.cond.notify_all()
        for c in list(self.conns):
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def restart(self, downtime=0.5, keep_history=True):
        """Stop (dropping every connection), wait, and listen again on the same port."""
        self.stop()
        if not keep_history:
            self.compact()
        time.sleep(downtime)
        self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()


def _selector_ok(sel, obj):
    for term in sel:
        field, op, val = term
        cur = obj
        for part in field.split("."):
            cur = cur.get(part, "") if isinstance(cur, dict) else ""
        cur = "" if cur is None else str(cur)
        if (op == "=" and cur != val) or (op == "!=" and cur == val):
            return False
    return True


def _parse_selector(s):
    out = []
    for term in filter(None, (s or "").split(",")):
        if "!=" in term:
            k, v = term.split("!=", 1)
            out.append((k.strip(), "!=", v.strip()))
        elif "==" in term:
            k, v = term.split("==", 1)
            out.append((k.strip(), "=", v.strip()))
        elif "=" in term:
            k, v = term.split("=", 1)
            out.append((k.strip(), "=", v.strip()))
        else:
            raise ValueError(term)
    return out


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def setup(self):
        super().setup()
        self.server.api.conns.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.api.conns.discard(self.connection)

    def _json(self, code, obj, headers=None):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _client_cn(self):
        try:
            cert = self.connection.getpeercert()
        except (AttributeError, ValueError):
            return None
        if not cert:
            return None
        for rdn in cert.get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    return v
        return None

    def do_GET(self):
        api = self.server.api
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        cn = self._client_cn() if api.tls else None
        with api.cond:
            api.requests.append({"time": time.monotonic(), "method": "GET", "path": u.path, "query": q,
                                 "headers": {k.lower(): v for k, v in self.headers.items()}, "client_cert_cn": cn})
            fail = None
            for i, f in enumerate(api.fail):
                if f[3] in u.path:
                    fail = api.fail.pop(i)
                    break
        if fail:
            code, retry_after, body, _ = fail
            hdr = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            return self._json(code, body if body is not None else status(code, "InternalError" if code >= 500 else
                                                                          "TooManyRequests", "injected failure"), hdr)
        auth = self.headers.get("Authorization", "")
        token_ok = auth.startswith("Bearer ") and auth[7:] in api.tokens
        if not token_ok and not cn:
            return self._json(401, status(401, "Unauthorized", "Unauthorized"))
        parts = u.path.strip("/").split("/")
        if u.path == "/version":
            return self._json(200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0-emulator"})
        if u.path in ("/healthz", "/readyz", "/livez"):
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            return self.wfile.write(body)
        # /api/v1/[namespaces/NS/]KIND[/NAME]
        if parts[:2] != ["api", "v1"]:
            return self._json(404, status(404, "NotFound", "the server could not find the requested resource"))
        rest = parts[2:]
        ns = None
        if len(rest) >= 2 and rest[0] == "namespaces":
            ns = rest[1]
            rest = rest[2:]
        if not rest or rest[0] not in ("events", "configmaps"):
            return self._json(404, status(404, "NotFound", "the server could not find the requested resource"))
        kind = rest[0]
        if len(rest) == 2:
            store = api.events if kind == "events" else api.configmaps
            with api.cond:
                obj = store.get((ns or "", rest[1]))
            if not obj:
                return self._json(404, status(404, "NotFound", f'{kind} "{rest[1]}" not found'))
            return self._json(200, obj)
        try:
            sel = _parse_selector(q.get("fieldSelector", [""])[0])
        except ValueError:
            return self._json(400, status(400, "BadRequest", "invalid field selector"))
        if q.get("watch", [""])[0] in ("1", "true"):
            return self._watch(kind, ns, sel, q)
        return self._list(kind, ns, sel, q)

    def _matches(self, obj, ns, sel):
        md = obj["metadata"]
        return (ns is None or md.get("namespace", "") == ns) and _selector_ok(sel, obj)

    def _list(self, kind, ns, sel, q):
        api = self.server.api
        limit = int(q.get("limit", ["0"])[0] or 0)
        cont = q.get("continue", [""])[0]
        with api.cond:
            if cont:
                try:
                    tok = json.loads(base64.b64decode(cont))
                    snap = api.snapshots[tok["id"]]
                    start = tok["start"]
                except (ValueError, KeyError):
                    return self._json(410, status(410, "Expired",
                                                  "The provided continue parameter is too old to display a "
                                                  "consistent list result."))
                list_rv, items = snap
            else:
                store = api.events if kind == "events" else api.configmaps
                items = [o for _, o in sorted(store.items()) if self._matches(o, ns, sel)]
                items = [json.loads(json.dumps(o)) for o in items]
                list_rv, start = api.rv, 0
            page = items[start:start + limit] if limit else items[start:]
            meta = {"resourceVersion": api.rv_str(list_rv)}
            if limit and start + limit < len(items):
                sid = uuid.uuid4().hex
                api.snapshots[sid] = (list_rv, items)
                meta["continue"] = base64.b64encode(json.dumps({"id": sid, "start": start + limit}).encode()).decode()
                meta["remainingItemCount"] = len(items) - start - limit
        self._json(200, {"kind": "EventList" if kind == "events" else "ConfigMapList", "apiVersion": "v1",
                         "metadata": meta, "items": page})

    def _write_chunk(self, data):
        api = self.server.api
        if api.chunks and len(data) > 1:
            i = 0
            while i < len(data):
                n = api.chunks.randint(1, max(1, min(len(data) - i, 97)))
                self._raw_chunk(data[i:i + n])
                i += n
        else:
            self._raw_chunk(data)

    def _raw_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _watch(self, kind, ns, sel, q):
        api = self.server.api
        rv = api.rv_int(q.get("resourceVersion", [None])[0])
        bookmarks = q.get("allowWatchBookmarks", [""])[0] in ("1", "true")
        timeout = float(q.get("timeoutSeconds", ["1800"])[0] or 1800)
        with api.cond:
            too_old = rv is not None and rv != 0 and (rv < 0 or rv < api.compacted - 1)
            if too_old and api.watch_410 == "http":
                msg = f"too old resource version: {q['resourceVersion'][0]} ({api.rv_str(api.compacted)})"
                return self._json(410, status(410, "Expired", msg))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        w = _Watch(kind, ns, sel)
        deadline = time.monotonic() + timeout
        last_bookmark = time.monotonic()
        with api.cond:
            api.watches.append(w)
            if rv is None or rv == 0:
                start_rv = api.rv  # "Any": from now (we send no synthetic ADDED for existing objects)
            else:
                start_rv = rv
            if too_old:
                w.send_410 = True
            idx = 0  # next history index to consider
        try:
            while True:
                out = []
                with api.cond:
                    while True:
                        now = time.monotonic()
                        if w.cut or w.send_410 or w.raw:
                            break
                        stalled = now < w.stall_until
                        if not stalled and any(h[0] > start_rv for h in api.history[idx:]):
                            break
                        if now >= deadline and not stalled:
                            break  # a stalled server does not even end the stream
                        if not stalled and bookmarks and api.bookmark_interval and now - last_bookmark >= api.bookmark_interval:
                            break
                        wait = deadline - now
                        if api.bookmark_interval:
                            wait = min(wait, api.bookmark_interval)
                        if stalled:
                            wait = min(wait, w.stall_until - now)
                        api.cond.wait(max(0.01, min(wait, 0.5)))
                    now = time.monotonic()
                    cut, w.cut = w.cut, None
                    if w.send_410:
                        w.send_410 = False
                        msg = f"too old resource version: {api.rv_str(start_rv)} ({api.rv_str(max(api.compacted, 1))})"
                        out.append(json.dumps({"type": "ERROR", "object": status(410, "Expired", msg)}).encode())
                        cut = "clean"
                    raw, w.raw = w.raw, []
                    if not cut and now < w.stall_until:
                        pass
                    else:
                        for h in api.history[idx:]:
                            idx += 1
                            hrv, typ, hkind, hns, name, objs = h
                            if hrv <= start_rv or hkind != kind:
                                continue
                            obj = json.loads(objs)
                            if not self._matches(obj, ns, sel):
                                continue
                            out.append(json.dumps({"type": typ, "object": obj}).encode())
                            start_rv = hrv
                        idx = len(api.history)
                        if (bookmarks and api.bookmark_interval and now - last_bookmark >= api.bookmark_interval
                                and now >= w.stall_until and not cut):
                            last_bookmark = now
                            bm = {"kind": "Event" if kind == "events" else "ConfigMap", "apiVersion": "v1",
                                  "metadata": {"resourceVersion": api.rv_str(api.rv),
                                               "annotations": {"k8s.io/initial-events-end": "false"}}}
                            out.append(json.dumps({"type": "BOOKMARK", "object": bm}).encode())
                            start_rv = max(start_rv, api.rv)
                for line in raw:
                    self._write_chunk(line + b"\n")
                for line in out:
                    self._write_chunk(line + b"\n")
                if cut == "midline":
                    self._raw_chunk(b'{"type":"ADDED","object":{"metadata":{"na')
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if cut == "abrupt":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if cut == "clean" or (time.monotonic() >= deadline and time.monotonic() >= w.stall_until):
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                    return
        except (BrokenPipeError, ConnectionResetError, OSError, ssl.SSLError):
            return
        finally:
            with api.cond:
                if w in api.watches:
                    api.watches.remove(w)
            self.close_connection = True


def main():
    import argparse
    import certs
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pki", default=os.path.join("build", "pki"))
    ap.add_argument("--token", default="demo-token")
    ap.add_argument("--events", help="an EventList to load first (JSON or .gz)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--http", action="store_true", help="plain HTTP instead of HTTPS")
    ap.add_argument("--bookmarks", type=float, default=None, help="bookmark interval in seconds")
    a = ap.parse_args()
    pki = certs.make_pki(a.pki)
    api = KubeAPI(pki, tokens={a.token}, port=a.port, tls=not a.http, bookmark_interval=a.bookmarks).start()
    if a.events:
        api.load_fixture(a.events)
    print(json.dumps({"url": api.url, "ca": pki["ca"], "token": a.token}), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        api.stop()


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main()
