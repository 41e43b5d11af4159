"""A Kubernetes API server emulator for kube-eventer's tests (Python standard library only).

Serves over HTTPS (TLS 1.2 + 1.3; or plain HTTP) on loopback, IPv4 or IPv6, one
thread per connection, HTTP/1.1 keep-alive, what kube-eventer uses of the real
kube-apiserver, with its JSON shapes (compact, Go-style escaping of < > &),
headers and status codes:

  GET /api/v1/events, /api/v1/namespaces/{ns}/events        (and configmaps)
      list   limit + continue (etcd-like: the list is consistent at its
             resourceVersion; a token older than the compaction point gets
             410 Expired with a fresh "inconsistent" token), fieldSelector and
             labelSelector (= == != , with \\ escapes; unsupported field -> 400),
             resourceVersion + resourceVersionMatch (Exact is served from history),
             items without kind/apiVersion as the real server sends them
      watch  watch=1|true: resourceVersion (unset/"0": synthetic ADDED of the
             current objects first), allowWatchBookmarks, timeoutSeconds,
             sendInitialEvents; chunked, one {"type","object"} per line; a
             resourceVersion older than the compaction point -> in-stream ERROR
             410 "too old resource version: X (Y)" then the end (or HTTP 410
             with watch_410="http"); a future one -> wait 3 s then 504
  GET /api/v1/namespaces/{ns}/{events|configmaps}/{name}
  GET /version, /healthz, /livez, /readyz, /api, /api/v1

Authentication: "Authorization: Bearer <token>" with a token from the current
(mutable) set, or a client certificate verified against the test CA.

Used in-process by tests:
    api = KubeAPI(pki, tokens={"t0"}).start()   # or: with KubeAPI(pki) as api:
    api.add_event(ns="default", reason="BackOff"); api.cut_watches(mid_line=True); ...
    api.stop()
or standalone (prints one JSON line with the URL, serves until SIGTERM/SIGINT):
    python3 tests/emu/kubeapi.py --pki DIR --token T [--events FILE]

See README.md next to this file for the control API.
"""
import base64
import collections
import email.utils
import gzip
import http.server
import itertools
import json
import os
import random
import re
import signal
import socket
import socketserver
import ssl
import struct
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))

MAX_REQUESTS_PER_CONN = 100000     # keep-alive requests on one connection
MAX_REQUEST_LOG = 200000           # api.requests entries kept
MAX_BODY = 1 << 20                 # request bodies read (and ignored)
GZIP_MIN = 128 * 1024              # the real server compresses responses above 128 KiB
KINDS = {"events": ("Event", "EventList"), "configmaps": ("ConfigMap", "ConfigMapList")}
EVENT_FIELDS = ("metadata.name", "metadata.namespace", "involvedObject.kind", "involvedObject.namespace",
                "involvedObject.name", "involvedObject.uid", "involvedObject.apiVersion",
                "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason", "reportingComponent",
                "source", "type")
REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
           409: "AlreadyExists", 410: "Expired", 413: "RequestEntityTooLarge", 422: "Invalid",
           429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}
MESSAGES = {429: "Too many requests, please try again later.",
            500: "Internal error occurred: injected failure",
            503: "the server is currently unable to handle the request",
            504: "the server was unable to return a response in the time allotted, but may still be processing "
                 "the request"}
CONTINUE_EXPIRED = ("The provided continue parameter is too old to display a consistent list result. You can start "
                    "a new list without the continue parameter, or use the continue token in this response to "
                    "retrieve the remainder of the results. Continuing with the provided token results in an "
                    "inconsistent list - objects that were created, modified, or deleted between the time the "
                    "first chunk was returned and now may show up in the list.")
_GO_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026", 0x2028: "\\u2028", 0x2029: "\\u2029"}
_name_seq = itertools.count(1)


# --- helpers -------------------------------------------------------------------------------------------------------
def go_json(obj):
    """JSON as Go's encoding/json writes it: compact, UTF-8, with < > & U+2028 U+2029 escaped."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).translate(_GO_ESCAPES).encode()


def rfc3339(t=None, micro=False):
    """metav1.Time ("2024-03-05T07:08:09Z") or, micro=True, metav1.MicroTime (6 fraction digits)."""
    t = time.time() if t is None else t
    s = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
    return s + (".%06dZ" % int(round((t % 1) * 1e6) % 1000000) if micro else "Z")


now_rfc3339 = rfc3339   # the old name


def status(code, reason=None, message=None, details=None, metadata=None):
    """A metav1.Status failure, fields in the real server's order."""
    s = {"kind": "Status", "apiVersion": "v1", "metadata": metadata or {}, "status": "Failure",
         "message": message if message is not None else MESSAGES.get(code, REASONS.get(code, "error")),
         "reason": reason or REASONS.get(code, "")}
    if details:
        s["details"] = details
    s["code"] = code
    return s


_rand = random.Random()        # private: tests seeding the global generator do not repeat uids


def _uuid():
    return str(uuid.UUID(int=_rand.getrandbits(128), version=4))


def _copy(obj):
    return json.loads(json.dumps(obj))


def _parse_bool(v):
    """Go's strconv.ParseBool."""
    if v in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if v in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(v)


def _split_unescaped(s, sep):
    """Split on sep where not preceded by a backslash escape (k8s fields.splitTerms)."""
    out, cur, i = [], [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            cur.append(s[i:i + 2])
            i += 2
            continue
        if c == sep:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    out.append("".join(cur))
    return out


def _unescape(v):
    out, i = [], 0
    while i < len(v):
        if v[i] == "\\":
            if i + 1 >= len(v) or v[i + 1] not in "\\,=":
                raise ValueError(f"invalid escape sequence in field selector value: {v!r}")
            out.append(v[i + 1])
            i += 2
        else:
            out.append(v[i])
            i += 1
    return "".join(out)


def parse_field_selector(s, kind="events"):
    """fieldSelector -> [(field, op, value)], op "=" or "!="; ValueError with the real server's message."""
    out = []
    if not s:
        return out
    allowed = EVENT_FIELDS if kind == "events" else ("metadata.name", "metadata.namespace")
    for term in _split_unescaped(s, ","):
        if not term:
            continue
        for i in range(len(term)):
            op = next((o for o in ("!=", "==", "=") if term.startswith(o, i)), None)
            if op:
                break
        else:
            raise ValueError(f"invalid selector: '{s}'; can't understand '{term}'")
        field, value = term[:i].strip(), _unescape(term[i + len(op):])
        if field not in allowed:
            raise ValueError(f"field label not supported: {field}")
        out.append((field, "!=" if op == "!=" else "=", value))
    return out


_LABEL_TERM = re.compile(r"^\s*(!?)\s*([A-Za-z0-9./_-]+)\s*"
                         r"(?:(==|=|!=)\s*([A-Za-z0-9._-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def parse_label_selector(s):
    """labelSelector (equality, existence, in/notin) -> [(key, op, values)]."""
    out = []
    if not s:
        return out
    terms, depth, cur = [], 0, ""
    for c in s:
        depth += c == "("
        depth -= c == ")"
        if c == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += c
    terms.append(cur)
    for t in terms:
        m = _LABEL_TERM.match(t)
        if not m or (m.group(1) and (m.group(3) or m.group(5))):
            raise ValueError(f"unable to parse requirement: {t!r}")
        neg, key, op, val, setop, vals = m.groups()
        if op:
            out.append((key, "!=" if op == "!=" else "=", {val}))
        elif setop:
            out.append((key, setop, {v.strip() for v in vals.split(",")}))
        else:
            out.append((key, "!exists" if neg else "exists", set()))
    return out


def event_field(obj, field):
    """The value the real server's field selectors see (core/v1 Event and ConfigMap)."""
    md = obj.get("metadata") or {}
    if field == "metadata.name":
        return md.get("name") or ""
    if field == "metadata.namespace":
        return md.get("namespace") or ""
    if field.startswith("involvedObject."):
        return str((obj.get("involvedObject") or {}).get(field.split(".", 1)[1]) or "")
    if field == "source":
        return (obj.get("source") or {}).get("component") or obj.get("reportingComponent") or ""
    v = obj.get(field)
    return "" if v is None else str(v)


def selector_matches(fsel, lsel, obj):
    for field, op, val in fsel:
        if (event_field(obj, field) == val) != (op == "="):
            return False
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for key, op, vals in lsel:
        has = key in labels
        if op == "=" and not (has and labels[key] in vals):
            return False
        if op == "!=" and has and labels[key] in vals:
            return False
        if op == "in" and not (has and labels[key] in vals):
            return False
        if op == "notin" and has and labels[key] in vals:
            return False
        if op == "exists" and not has:
            return False
        if op == "!exists" and has:
            return False
    return True


# kept for callers of the first version
def _parse_selector(s):
    return parse_field_selector(s)


def _selector_ok(sel, obj):
    return selector_matches(sel, [], obj)


class _Change:
    """One entry of the store's history, like an etcd revision."""
    __slots__ = ("rv", "type", "kind", "ns", "name", "data", "old_data")

    def __init__(self, rv, typ, kind, ns, name, data, old_data):
        self.rv, self.type, self.kind, self.ns, self.name = rv, typ, kind, ns, name
        self.data, self.old_data = data, old_data      # Go JSON of the new (or deleted) and previous object

    def obj(self):
        return json.loads(self.data)

    def old(self):
        return json.loads(self.old_data) if self.old_data is not None else None

    def __repr__(self):
        return f"<{self.type} {self.kind} {self.ns}/{self.name} rv={self.rv}>"


class _Watch:
    """One open watch connection and its bounded queue of lines."""

    def __init__(self, api, kind, ns, fsel, lsel, rec, limit):
        self.id = next(api._watch_seq)
        self.kind, self.ns, self.fsel, self.lsel = kind, ns, fsel, lsel
        self.rec = rec                      # the request's log entry
        self.queue = collections.deque()    # bytes lines, "\n"-terminated
        self.limit = limit
        self.start_rv = 0
        self.cut = None                     # None, "clean", "abrupt", "midline", "reset"
        self.error = None                   # a Status to send as an ERROR event, then end
        self.stall_until = 0.0
        self.overflow = False               # the queue was full: drain, then end (slow consumer)
        self.sent = 0                       # event lines written
        self.conn = None
        self.thread = threading.current_thread()

    def match(self, obj):
        if self.ns is not None and (obj.get("metadata") or {}).get("namespace", "") != self.ns:
            return False
        return selector_matches(self.fsel, self.lsel, obj)

    def offer(self, c, new, old, live=True):
        """Queue what this watcher sees of change c (new/old: the objects as dicts)."""
        if c.kind != self.kind or self.overflow or self.cut or self.error:
            return
        data = c.data
        if self.ns is None and not self.fsel and not self.lsel:
            typ = c.type
        elif c.type == "ADDED":
            typ = "ADDED" if self.match(new) else None
        elif c.type == "DELETED":
            typ = "DELETED" if self.match(new) else None
        else:  # a MODIFIED that enters or leaves the selector is an ADDED or a DELETED for this watcher
            nm, om = self.match(new), old is not None and self.match(old)
            typ = "MODIFIED" if nm and om else "ADDED" if nm else "DELETED" if om else None
            if typ == "DELETED":  # the previous content with the change's resourceVersion (as the cacher does)
                prev = json.loads(c.old_data)
                prev["metadata"]["resourceVersion"] = new["metadata"]["resourceVersion"]
                data = go_json(prev)
        if typ is None:
            return
        if live and len(self.queue) >= self.limit:
            self.overflow = True            # the real cacher terminates watchers that cannot keep up
            return
        self.queue.append(b'{"type":"' + typ.encode() + b'","object":' + data + b"}\n")


def _certs():
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    import certs
    return certs


def _rst(sock):
    """Close a socket with a TCP RST."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        socket.socket.close(sock)
    except OSError:
        pass


def _shut(sock):
    """shutdown(2) the TCP socket under a (TLS) socket from any thread: no close_notify, no TLS state touched."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


# --- the emulator --------------------------------------------------------------------------------------------------
class KubeAPI:
    """See the module docstring and README.md. Every public method is thread-safe."""

    _OPAQUE_MUL = 2654435761
    _OPAQUE_INV = pow(2654435761, -1, 1 << 32)

    def __init__(self, pki=None, tokens=("t0",), host="127.0.0.1", port=0, tls=True, opaque_rv=False,
                 bookmark_interval=60.0, chunks=None, chunk_max=97, watch_410="stream",
                 require_client_cert=False, ipv6=False, watch_queue=10000, history_limit=None,
                 anonymous=False, bookmark_shape="go", too_large_wait=3.0, min_request_timeout=1800,
                 rv0_ignores_limit=True, idle_timeout=90.0, tls_max=None, start_rv=100):
        if isinstance(pki, str):
            pki = _certs().make_pki(pki)
        if pki is None and tls:
            pki = _certs().make_pki(os.path.join(tempfile.gettempdir(), f"kubeapi-pki-{os.getuid()}"))
        self.pki = pki
        self.tokens = set(tokens or ())
        self.host = "::1" if ipv6 and host == "127.0.0.1" else host
        self.port = port
        self.tls = tls
        self.opaque_rv = opaque_rv
        self.bookmark_interval = bookmark_interval
        self.chunk_seed = chunks
        self.chunk_max = max(1, int(chunk_max))
        self.watch_410 = watch_410
        self.require_client_cert = require_client_cert
        self.watch_queue = watch_queue
        self.history_limit = history_limit
        self.anonymous = anonymous
        self.bookmark_shape = bookmark_shape
        self.too_large_wait = too_large_wait
        self.min_request_timeout = min_request_timeout
        self.rv0_ignores_limit = rv0_ignores_limit
        self.idle_timeout = idle_timeout
        self.tls_max = tls_max
        self.debug = bool(os.environ.get("KUBEAPI_DEBUG"))   # one stderr line per answered request
        self.cond = threading.Condition(threading.RLock())
        self.rv = start_rv                  # etcd-like global revision
        self.compacted = 0                  # revisions below this are gone
        self.history = []                   # [_Change], rv ascending, all > compacted
        self.events = {}                    # (ns, name) -> Event (current state)
        self.configmaps = {}                # (ns, name) -> ConfigMap
        self._store = {"events": self.events, "configmaps": self.configmaps}
        self._data = {"events": {}, "configmaps": {}}   # (ns, name) -> Go JSON of the current state
        self.watches = []
        self.requests = []
        self.tls_errors = []                # [{time, error}] failed TLS handshakes
        self.fail = []                      # [(status, retry_after, body, path, watch, delay, content_type)]
        self.forbidden = []                 # path prefixes answered 403
        self.stats = collections.Counter()
        self.server = None
        self.thread = None
        self.conns = set()
        self._threads = set()
        self._watch_seq = itertools.count(1)
        self._conn_seq = itertools.count(1)
        self._stall_new_until = 0.0
        self.ctx = None

    # --- resourceVersions: decimal, or opaque strings that do not sort ---------------------------------------------
    def rv_str(self, n):
        if not self.opaque_rv:
            return str(n)
        x = (n * self._OPAQUE_MUL) & 0xFFFFFFFF
        return base64.b32encode(x.to_bytes(4, "big")).decode().rstrip("=").lower() + f".{n % 7}"

    def rv_parse(self, s):
        """A resourceVersion string we issued -> int, else None."""
        if s is None:
            return None
        if not self.opaque_rv:
            return int(s) if s.isascii() and s.isdigit() else None
        try:
            head, check = s.split(".")
            x = int.from_bytes(base64.b32decode(head.upper() + "=" * (-len(head) % 8)), "big")
        except (ValueError, base64.binascii.Error):
            return None
        n = (x * self._OPAQUE_INV) & 0xFFFFFFFF
        return n if check == str(n % 7) and self.rv_str(n) == s else None

    def rv_int(self, s):
        """Old name: "" / None -> None, unknown -> -1."""
        if not s:
            return None
        n = self.rv_parse(s)
        return -1 if n is None else n

    @property
    def resource_version(self):
        """The current global resourceVersion, as sent to clients."""
        with self.cond:
            return self.rv_str(self.rv)

    # --- building events -------------------------------------------------------------------------------------------
    @staticmethod
    def make_event(ns="default", name=None, reason="BackOff", type_="Warning",
                   message="Back-off restarting failed container", kind="Pod", obj=None, count=1, shape="legacy",
                   labels=None, host="node-1", at=None, component=None, field_path=None, annotations=None,
                   action=None, api_version="v1", uid=None):
        """An Event as the real server stores it.

        shape="legacy": written by a core/v1 recorder (kubelet): source, firstTimestamp, lastTimestamp, count.
        shape="k8sio": written through events.k8s.io/v1 and read through core/v1: eventTime with microseconds,
        reportingComponent/Instance, action, firstTimestamp/lastTimestamp null, no count, series when count > 1.
        at: epoch seconds for the event's times (default now); creationTimestamp is "now" unless given.
        """
        t = time.time() if at is None else at
        obj = obj or "web-%05x" % _rand.getrandbits(20)
        name = name or "%s.%x" % (obj, time.time_ns() + next(_name_seq))
        meta = {"name": name, "namespace": ns, "creationTimestamp": rfc3339(t if at is not None else None)}
        if uid:
            meta["uid"] = uid
        if labels:
            meta["labels"] = dict(labels)
        if annotations:
            meta["annotations"] = dict(annotations)
        io = {"kind": kind, "namespace": "" if kind in ("Node", "Namespace", "PersistentVolume") else ns,
              "name": obj, "uid": _uuid(), "apiVersion": api_version}
        if kind == "Node":
            io.pop("namespace")
            io["uid"] = obj
        if field_path:
            io["fieldPath"] = field_path
        e = {"kind": "Event", "apiVersion": "v1", "metadata": meta, "involvedObject": io, "reason": reason,
             "message": message}
        if shape == "legacy":
            comp = component or "kubelet"
            e.update({"source": {"component": comp, "host": host}, "firstTimestamp": rfc3339(t),
                      "lastTimestamp": rfc3339(t), "count": count, "type": type_, "eventTime": None,
                      "reportingComponent": comp, "reportingInstance": host})
        else:
            comp = component or "default-scheduler"
            e.update({"source": {}, "firstTimestamp": None, "lastTimestamp": None, "type": type_,
                      "eventTime": rfc3339(t, micro=True), "action": action or "Scheduling",
                      "reportingComponent": comp, "reportingInstance": f"{comp}-{host}"})
            if count > 1:
                e["series"] = {"count": count, "lastObservedTime": rfc3339(t, micro=True)}
        return e

    @classmethod
    def legacy_event(cls, **kw):
        return cls.make_event(shape="legacy", **kw)

    @classmethod
    def k8sio_event(cls, **kw):
        return cls.make_event(shape="k8sio", **kw)

    # --- the store -------------------------------------------------------------------------------------------------
    def _change(self, typ, kind, obj, copy=False):
        """Under cond: a new revision. obj (a private dict) is stamped with it and becomes the current state.
        Returns obj, or (copy=True) a copy of it for the caller."""
        md = obj["metadata"]
        key = (md.get("namespace", ""), md["name"])
        self.rv += 1
        md["resourceVersion"] = self.rv_str(self.rv)
        data = go_json(obj)
        old_data = self._data[kind].get(key)
        old = None
        if old_data is not None and any(w.ns is not None or w.fsel or w.lsel for w in self.watches):
            old = json.loads(old_data)
        c = _Change(self.rv, typ, kind, key[0], key[1], data, old_data)
        self.history.append(c)
        if self.history_limit and len(self.history) > self.history_limit:   # a watch cache of bounded size
            drop = len(self.history) - self.history_limit
            self.compacted = self.history[drop - 1].rv
            del self.history[:drop]
        if typ == "DELETED":
            self._store[kind].pop(key, None)
            self._data[kind].pop(key, None)
        else:
            self._store[kind][key] = obj
            self._data[kind][key] = data
        for w in self.watches:
            w.offer(c, obj, old)
        self.cond.notify_all()
        return json.loads(data) if copy else obj

    def _prepare(self, event, kw, fresh_uid=False):
        obj = _copy(event) if event is not None else self.make_event(**kw)
        obj.setdefault("kind", "Event")
        obj.setdefault("apiVersion", "v1")
        md = obj.setdefault("metadata", {})
        if not md.get("name"):
            raise ValueError("an Event needs metadata.name")
        if fresh_uid or not md.get("uid"):
            md["uid"] = _uuid()
        if not md.get("creationTimestamp"):
            md["creationTimestamp"] = rfc3339()
        md.setdefault("namespace", "default")
        return obj

    def add_event(self, event=None, **kw):
        """Create (or replace: MODIFIED) an Event -- a given object, or make_event(**kw). Returns a copy as stored."""
        obj = self._prepare(event, kw)
        with self.cond:
            key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
            return self._change("MODIFIED" if key in self.events else "ADDED", "events", obj, copy=True)

    def add_events(self, events, fresh_uid=False):
        """Many at once (one lock hold); returns the stored copies."""
        objs = [self._prepare(e, None, fresh_uid) for e in events]
        out = []
        with self.cond:
            for obj in objs:
                key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
                out.append(self._change("MODIFIED" if key in self.events else "ADDED", "events", obj, copy=True))
            return out

    def modify_event(self, ns, name, fn):
        """Apply fn(obj) to a copy of the current Event and store it (MODIFIED)."""
        with self.cond:
            e = _copy(self.events[(ns, name)])
            fn(e)
            return self._change("MODIFIED", "events", e, copy=True)

    def bump_event(self, ns, name, at=None, message=None):
        """The recorder seeing the same thing again: count+1 and lastTimestamp (legacy), or series.count+1 and
        series.lastObservedTime (events.k8s.io shape; a first repeat creates series.count=2). MODIFIED."""
        t = time.time() if at is None else at

        def bump(e):
            if "series" in e or (e.get("eventTime") and not e.get("lastTimestamp")):
                s = e.get("series") or {"count": 1}
                s["count"] = (s.get("count") or 1) + 1
                s["lastObservedTime"] = rfc3339(t, micro=True)
                e["series"] = s
            else:
                e["count"] = (e.get("count") or 1) + 1
                e["lastTimestamp"] = rfc3339(t)
            if message is not None:
                e["message"] = message
        return self.modify_event(ns, name, bump)

    def delete_event(self, ns, name):
        """DELETED (the object as it was, with the deletion's resourceVersion)."""
        with self.cond:
            return self._change("DELETED", "events", _copy(self.events[(ns, name)]), copy=True)

    def load_fixture(self, path, fresh=False):
        """Load events from an EventList (JSON or .gz), a JSON array, or a watch stream (one {"type","object"}
        per line). The content is kept; resourceVersions are always assigned by the store (as the real server
        does), uids are renewed with fresh=True. Returns the stored copies."""
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            text = f.read()
        try:
            doc = json.loads(text)
            items = doc if isinstance(doc, list) else doc.get("items", [doc] if doc.get("kind") == "Event" else [])
        except ValueError:
            items = [json.loads(ln)["object"] for ln in text.splitlines() if ln.strip()]
            items = [o for o in items if (o.get("metadata") or {}).get("name") and o.get("kind", "Event") == "Event"]
        return self.add_events(items, fresh_uid=fresh)

    def set_configmap(self, ns, name, data, labels=None):
        """Create or replace a ConfigMap (ADDED / MODIFIED on watches)."""
        with self.cond:
            key = (ns, name)
            cur = self.configmaps.get(key)
            md = {"name": name, "namespace": ns,
                  "uid": cur["metadata"]["uid"] if cur else _uuid(),
                  "creationTimestamp": cur["metadata"]["creationTimestamp"] if cur else rfc3339()}
            if labels:
                md["labels"] = dict(labels)
            cm = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": md, "data": dict(data)}
            return self._change("MODIFIED" if cur else "ADDED", "configmaps", cm, copy=True)

    def delete_configmap(self, ns, name):
        with self.cond:
            return self._change("DELETED", "configmaps", _copy(self.configmaps[(ns, name)]), copy=True)

    def _state_at(self, kind, n):
        """Under cond: {(ns, name): obj} as of revision n (>= compacted), rewinding the history."""
        state = dict(self._store[kind])
        for c in reversed(self.history):
            if c.rv <= n:
                break
            if c.kind != kind:
                continue
            if c.type == "ADDED":
                state.pop((c.ns, c.name), None)
            else:
                state[(c.ns, c.name)] = c.old()
        return state

    # --- fault injection -------------------------------------------------------------------------------------------
    def compact(self):
        """etcd compaction at the current revision: watches and continue tokens from older revisions get 410."""
        with self.cond:
            self.compacted = self.rv
            self.history = []
            self.cond.notify_all()

    def _select(self, kind):
        return [w for w in self.watches if kind is None or w.kind == kind]

    def cut_watches(self, mid_line=False, reset=False, kind=None, wait=True):
        """Abruptly close open watch connections (no terminating chunk, no TLS close_notify). mid_line: first send
        half of a line (the next queued event's, else a made-up one) inside a chunk announced at full length.
        reset: close with a TCP RST. kind: "events" or "configmaps" only (default: every watch).
        wait: return once they are closed (<= 2 s)."""
        with self.cond:
            ws = self._select(kind)
            for w in ws:
                w.cut = "midline" if mid_line else "reset" if reset else "abrupt"
            self.stats["cuts"] += len(ws)
            self.cond.notify_all()
        if wait:
            self._wait_gone(ws)
        return len(ws)

    def end_watches(self, kind=None, wait=True):
        """End watches cleanly (terminating chunk), as timeoutSeconds does; what is queued is not sent."""
        with self.cond:
            ws = self._select(kind)
            for w in ws:
                w.cut = "clean"
            self.cond.notify_all()
        if wait:
            self._wait_gone(ws)
        return len(ws)

    def _wait_gone(self, ws, timeout=2.0):
        end = time.monotonic() + timeout
        with self.cond:
            while any(w in self.watches for w in ws):
                left = end - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(min(left, 0.1))
            stuck = [w for w in ws if w in self.watches]
        for w in stuck:                      # a handler blocked writing to a client that does not read
            if w.conn is not None:
                _shut(w.conn)

    def send_watch_error(self, code=410, reason=None, message=None, kind=None, details=None):
        """An ERROR event with a Status on open watches, then the stream ends (cleanly)."""
        with self.cond:
            ws = self._select(kind)
            for w in ws:
                if code == 410 and message is None:
                    w.error = status(410, reason or "Expired", "too old resource version: %s (%s)" % (
                        self.rv_str(w.start_rv), self.rv_str(max(self.compacted, 1))))
                else:
                    w.error = status(code, reason, message, details)
            self.cond.notify_all()
        return len(ws)

    def send_error_410(self, kind=None):
        """In-stream ERROR 410 Expired "too old resource version" on open watches, then the end."""
        return self.send_watch_error(410, kind=kind)

    def stall_watches(self, seconds, kind=None, new=False):
        """Keep connections open but send nothing (no events, bookmarks, or end) for seconds. new=True: watches
        opened during that time stall too."""
        with self.cond:
            until = time.monotonic() + seconds
            for w in self._select(kind):
                w.stall_until = until
            if new:
                self._stall_new_until = until
            self.cond.notify_all()

    def inject_raw_line(self, data, kind=None):
        """Write data + "\\n" into open watches, in order with events (malformed JSON, huge lines, odd types)."""
        if isinstance(data, str):
            data = data.encode()
        with self.cond:
            ws = self._select(kind)
            for w in ws:
                w.queue.append(data + b"\n")
            self.cond.notify_all()
        return len(ws)

    def fail_next(self, n, status_code, retry_after=None, body=None, path="", watch=None, delay=0.0,
                  content_type=None):
        """The next n requests (whose path contains `path`; watch=True/False: only watches / only the rest) are
        answered status_code with a Status body (or `body`: dict -> JSON, str/bytes -> raw) and Retry-After.
        status_code None: hold the request for `delay` seconds, then drop the connection without an answer."""
        with self.cond:
            for _ in range(n):
                self.fail.append((status_code, retry_after, body, path, watch, delay, content_type))

    def set_tokens(self, tokens):
        """Replace the accepted bearer tokens (rotation)."""
        with self.cond:
            self.tokens = set(tokens)

    def set_forbidden(self, prefixes):
        """Answer 403 (RBAC) to requests whose path starts with one of prefixes, e.g. "/api/v1/events"."""
        with self.cond:
            self.forbidden = list(prefixes)

    # --- inspection ------------------------------------------------------------------------------------------------
    def open_watch_count(self, kind="events"):
        with self.cond:
            return len(self._select(kind))

    def wait_for(self, pred, timeout=10.0, msg="condition"):
        """Wait until pred() is true (re-checked on every request, change and watch open/close, and every 50 ms);
        returns its value or raises AssertionError."""
        end = time.monotonic() + timeout
        for _ in range(10 ** 7):
            v = pred()
            if v:
                return v
            left = end - time.monotonic()
            if left <= 0:
                break
            with self.cond:
                self.cond.wait(min(left, 0.05))
        raise AssertionError(f"kubeapi: timed out after {timeout}s waiting for {msg}")

    def watch_requests(self, kind="events"):
        return [r for r in list(self.requests) if r.get("verb") == "watch" and r.get("resource") == kind]

    def list_requests(self, kind="events"):
        return [r for r in list(self.requests) if r.get("verb") == "list" and r.get("resource") == kind]

    def watch_timeouts(self, kind="events"):
        """timeoutSeconds of every watch request, as ints (None when absent)."""
        out = []
        for r in self.watch_requests(kind):
            v = r["query"].get("timeoutSeconds", [None])[0]
            out.append(int(v) if v and v.lstrip("-").isdigit() else None)
        return out

    # --- lifecycle -------------------------------------------------------------------------------------------------
    @property
    def url(self):
        h = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{h}:{self.port}"

    def _context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.tls_max == "1.2":
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.pki["server"], self.pki["server_key"])
        ctx.load_verify_locations(self.pki["ca"])
        ctx.verify_mode = ssl.CERT_REQUIRED if self.require_client_cert else ssl.CERT_OPTIONAL
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def start(self):
        """Listen (port 0: an ephemeral one, kept for later start()s) and serve in daemon threads."""
        if self.server:
            return self
        api = self

        class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
            daemon_threads = True
            block_on_close = False
            allow_reuse_address = True
            request_queue_size = 128
            address_family = socket.AF_INET6 if ":" in api.host else socket.AF_INET

            def handle_error(self, request, client_address):
                pass

        if self.tls:
            self.ctx = self._context()
        err = None
        for _ in range(40):       # a restart may race the old socket's release: bounded retries
            try:
                self.server = Server((self.host, self.port), _Handler)
                break
            except OSError as e:
                err = e
                if self.port == 0:
                    raise
                time.sleep(0.05)
        else:
            raise err
        self.server.api = self
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                       name=f"kubeapi-{self.port}", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        """Close the listener and every connection (watches end abruptly). Fast: < 1 s."""
        srv, self.server = self.server, None
        if srv:
            srv.shutdown()
            srv.server_close()
        with self.cond:
            for w in self.watches:
                w.cut = "abrupt"
            conns = list(self.conns)
            threads = list(self._threads)
            self.cond.notify_all()
        for c in conns:
            _shut(c)
        end = time.monotonic() + 0.6
        for t in threads:
            if t is not threading.current_thread():
                t.join(max(0.0, end - time.monotonic()))

    def restart(self, downtime=0.5, keep_history=True):
        """Stop (dropping every connection), stay down for downtime seconds (connections refused), and listen
        again on the same port. keep_history=False: the history is gone too (watches from before get 410)."""
        self.stop()
        if not keep_history:
            self.compact()
        time.sleep(downtime)
        return self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()

    # --- used by the handler ---------------------------------------------------------------------------------------
    def _record(self, rec):
        with self.cond:
            self.requests.append(rec)
            if len(self.requests) > MAX_REQUEST_LOG:
                del self.requests[:len(self.requests) - MAX_REQUEST_LOG]
            self.stats["requests"] += 1
            rec["seq"] = self.stats["requests"]
            fail = None
            for i, f in enumerate(self.fail):
                if f[3] in rec["path"] and (f[4] is None or f[4] == (rec["verb"] == "watch")):
                    fail = self.fail.pop(i)
                    break
            self.cond.notify_all()
            return fail

    def _bookmark(self, kind, initial_end=False):
        md = {"resourceVersion": self.rv_str(self.rv)}
        if initial_end:
            md["annotations"] = {"k8s.io/initial-events-end": "true"}
        if self.bookmark_shape == "minimal":
            obj = {"kind": KINDS[kind][0], "apiVersion": "v1", "metadata": md}
        else:  # the zero-valued Go object with only the resourceVersion set, as the real server encodes it
            md["creationTimestamp"] = None
            obj = {"kind": KINDS[kind][0], "apiVersion": "v1", "metadata": md}
            if kind == "events":
                obj.update({"involvedObject": {}, "source": {}, "firstTimestamp": None, "lastTimestamp": None,
                            "eventTime": None, "reportingComponent": "", "reportingInstance": ""})
        self.stats["bookmarks"] += 1
        return b'{"type":"BOOKMARK","object":' + go_json(obj) + b"}\n"


# --- HTTP ----------------------------------------------------------------------------------------------------------
def _route(path):
    """-> (verb hint, resource, namespace, name, watch_path) or None for non-resource paths."""
    parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
    if parts[:2] != ["api", "v1"] or len(parts) < 3:
        return None
    rest, watch_path = parts[2:], False
    if rest[0] == "watch":
        rest, watch_path = rest[1:], True
    ns = None
    if len(rest) >= 2 and rest[0] == "namespaces":
        ns, rest = rest[1], rest[2:]
    if not rest or rest[0] not in KINDS or len(rest) > 2 or (len(rest) == 2 and ns is None):
        return ("unknown", rest[0] if rest else "", ns, None, watch_path)
    return ("collection" if len(rest) == 1 else "object", rest[0], ns, rest[1] if len(rest) == 2 else None,
            watch_path)


class _Reply(Exception):
    """An error answer decided while holding the lock, written after releasing it."""

    def __init__(self, code, reason=None, message=None, details=None, headers=None, metadata=None):
        super().__init__(code, reason, message, details, headers, metadata)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-apiserver"
    sys_version = ""

    def log_message(self, *a):
        pass

    # --- connection ------------------------------------------------------------------------------------------------
    def setup(self):
        api = self.server.api
        self.api = api
        self.conn_id = next(api._conn_seq)
        self._rec = None
        self.rng = None
        sock = self.request
        if api.tls:
            sock.settimeout(10)
            try:
                sock = api.ctx.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError) as e:
                with api.cond:
                    api.tls_errors.append({"time": time.monotonic(), "error": str(e)})
                    api.stats["tls_errors"] += 1
                    api.cond.notify_all()
                raise
        sock.settimeout(api.idle_timeout)
        self.request = sock
        super().setup()
        with api.cond:
            api.conns.add(self.connection)
            api._threads.add(threading.current_thread())
            stale = api.server is not self.server
        if stale:                              # accepted while stopping
            self.close_connection = True
            _shut(self.connection)

    def handle(self):
        self.close_connection = True
        for _ in range(MAX_REQUESTS_PER_CONN):
            self.handle_one_request()
            if self.close_connection:
                break

    def finish(self):
        api = self.api
        try:
            super().finish()
        except OSError:
            pass
        with api.cond:
            api.conns.discard(self.connection)
            api._threads.discard(threading.current_thread())
            api.cond.notify_all()
        try:
            self.connection.close()
        except OSError:
            pass

    # --- responses -------------------------------------------------------------------------------------------------
    def send_response(self, code, message=None):
        if self._rec is not None:
            self._rec["status"] = code
        if self.api.debug:
            sys.stderr.write(f"kubeapi :{self.api.port} conn {self.conn_id}: {self.command} {self.path} -> {code}\n")
        self.send_response_only(code, message)
        self.send_header("Audit-Id", _uuid())
        self.send_header("Cache-Control", "no-cache, private")

    def _common_headers(self):
        self.send_header("X-Kubernetes-Pf-Flowschema-Uid", "e0d4a6f1-emulator")
        self.send_header("X-Kubernetes-Pf-Prioritylevel-Uid", "a3b1c2d4-emulator")
        self.send_header("Date", email.utils.formatdate(usegmt=True))

    def _body(self, code, body, ctype="application/json", headers=None):
        gz = (len(body) >= GZIP_MIN and "gzip" in self.headers.get("Accept-Encoding", "")
              and ctype == "application/json")
        if gz:
            body = gzip.compress(body, 1)
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self._common_headers()
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if gz:
            self.send_header("Content-Encoding", "gzip")
        if self.rng is not None and code == 200 and not gz:   # chunk mode: lists arrive in random chunks too
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._write_chunked(body)
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, code, obj, headers=None):
        self._body(code, go_json(obj), "application/json", headers)

    def _status(self, code, reason=None, message=None, details=None, headers=None, metadata=None):
        self._json(code, status(code, reason, message, details, metadata), headers)

    def _write_chunked(self, data):
        """One chunk, or (chunk mode) random 1..chunk_max-byte chunks, each its own write (and TLS record)."""
        if not data:
            return
        if self.rng is None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            return
        mv, n, i, hi = memoryview(data), len(data), 0, self.api.chunk_max
        while i < n:                          # bounded: at least one byte per round
            k = self.rng.randint(1, hi)
            part = mv[i:i + k]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            i += k

    # --- requests --------------------------------------------------------------------------------------------------
    def do_GET(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_POST

    def _client_cn(self):
        if not self.api.tls:
            return None
        try:
            cert = self.connection.getpeercert()
        except (AttributeError, ValueError):
            return None
        for rdn in (cert or {}).get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    return v
        return None

    def _dispatch(self):
        api = self.api
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        route = _route(u.path)
        verb = None
        if route and route[0] == "collection":
            w = route[4]
            try:
                w = w or _parse_bool(q.get("watch", ["false"])[0])
            except ValueError:
                w = False
            verb = "watch" if w else "list"
        elif route and route[0] == "object":
            verb = "watch" if route[4] or q.get("watch", [""])[0] in ("1", "true") else "get"
        headers = {}
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = headers[k] + ", " + v if k in headers else v
        cn = self._client_cn()
        rec = {"time": time.monotonic(), "wall": time.time(), "method": self.command, "path": u.path, "query": q,
               "headers": headers, "client_cert_cn": cn, "status": None, "verb": verb,
               "resource": route[1] if route else None, "namespace": route[2] if route else None,
               "name": route[3] if route else None, "conn": self.conn_id,
               "tls": self.connection.version() if api.tls else None}
        self._rec = rec
        # a request body is read (bounded) and ignored
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            return self._status(413, message="request entity too large")
        if length:
            self.rfile.read(length)
        fail = api._record(rec)
        if fail:
            code, retry_after, body, _, _, delay, ctype = fail
            if delay:
                time.sleep(min(delay, 600))
            if code is None:
                self.close_connection = True
                return _shut(self.connection)
            hdr = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            if isinstance(body, (str, bytes)):
                return self._body(code, body.encode() if isinstance(body, str) else body,
                                  ctype or "text/plain; charset=utf-8", hdr)
            if body is not None:
                return self._json(code, body, hdr)
            det = {"retryAfterSeconds": int(retry_after)} if retry_after is not None else None
            return self._status(code, details=det, headers=hdr)
        # authentication: a verified client certificate or an accepted bearer token
        auth = self.headers.get("Authorization", "").strip()
        parts = auth.split(" ")
        with api.cond:
            token_ok = len(parts) == 2 and parts[0].lower() == "bearer" and parts[1] in api.tokens
        rec["auth"] = "token" if token_ok else "cert" if cn else None
        public = u.path in ("/version", "/healthz", "/livez", "/readyz") or u.path.startswith("/healthz/")
        if not token_ok and not cn and (auth or not (public or api.anonymous)):
            return self._status(401, message="Unauthorized")
        user = cn or ("system:serviceaccount:kube-system:kube-eventer" if token_ok else "system:anonymous")
        anonymous_denied = user == "system:anonymous" and not public
        if self.command not in ("GET", "HEAD"):
            return self._status(405, message="the server does not allow this method on the requested resource")
        if u.path == "/version":
            return self._json(200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0-kubeapi-emulator",
                                    "gitCommit": "0" * 40, "gitTreeState": "clean",
                                    "buildDate": "2024-04-17T00:00:00Z", "goVersion": "go1.22.2", "compiler": "gc",
                                    "platform": "linux/amd64"})
        if public:
            return self._body(200, b"ok", "text/plain; charset=utf-8", {"X-Content-Type-Options": "nosniff"})
        if u.path.rstrip("/") == "/api":
            return self._json(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"{api.host}:{api.port}"}]})
        if u.path.rstrip("/") == "/api/v1":
            return self._json(200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                {"name": "events", "singularName": "event", "namespaced": True, "kind": "Event",
                 "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
                 "shortNames": ["ev"]},
                {"name": "configmaps", "singularName": "configmap", "namespaced": True, "kind": "ConfigMap",
                 "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
                 "shortNames": ["cm"]}]})
        if route is None:
            return self._body(404, b"404 page not found\n", "text/plain; charset=utf-8",
                              {"X-Content-Type-Options": "nosniff"})
        kind_, resource, ns, name, _ = route
        if kind_ == "unknown":
            return self._status(404, message="the server could not find the requested resource")
        with api.cond:
            denied = anonymous_denied or any(u.path.startswith(p) for p in api.forbidden)
        if denied:
            scope = f'in the namespace "{ns}"' if ns else "at the cluster scope"
            return self._status(403, message=f'{resource} is forbidden: User "{user}" cannot {verb} resource '
                                             f'"{resource}" in API group "" {scope}',
                                details={"kind": resource})
        if api.chunk_seed is not None:
            self.rng = random.Random(f"{api.chunk_seed}/{rec['seq']}")
        try:
            fsel = parse_field_selector(q.get("fieldSelector", [""])[0], resource)
            lsel = parse_label_selector(q.get("labelSelector", [""])[0])
        except ValueError as e:
            return self._status(400, message=str(e))
        if verb == "get":
            with api.cond:
                data = api._data[resource].get((ns, name))
            if data is None:
                return self._status(404, message=f'{resource} "{name}" not found',
                                    details={"name": name, "kind": resource})
            return self._body(200, data)
        if name is not None:                  # watch of one object: a metadata.name selector
            fsel = fsel + [("metadata.name", "=", name)]
        try:
            if verb == "watch":
                return self._watch(resource, ns, fsel, lsel, q, rec)
            return self._list(resource, ns, fsel, lsel, q)
        except _Reply as r:
            return self._status(*r.args)

    # --- list ------------------------------------------------------------------------------------------------------
    def _wait_rv(self, n):
        """Under cond: wait (bounded) for revision n; False if it never came (Too large resource version)."""
        api = self.api
        return api.cond.wait_for(lambda: api.rv >= n, timeout=api.too_large_wait)

    def _too_large(self, n):
        api = self.api
        return _Reply(504, "Timeout", f"Too large resource version: {n}, current: {api.rv}", {
            "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
            "retryAfterSeconds": 1}, headers={"Retry-After": "1"})

    def _list(self, kind, ns, fsel, lsel, q):
        api = self.api
        one = lambda k: q.get(k, [""])[0]   # noqa: E731
        try:
            limit = int(one("limit") or 0)
            if limit < 0:
                raise ValueError
        except ValueError:
            raise _Reply(400, message=f"invalid limit: {one('limit')!r}")
        cont, rv_s, match = one("continue"), one("resourceVersion"), one("resourceVersionMatch")
        if match and not rv_s:
            raise _Reply(422, "Invalid", "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden "
                                                "unless resourceVersion is provided")
        if match not in ("", "Exact", "NotOlderThan"):
            raise _Reply(422, "Invalid", f'resourceVersionMatch: Unsupported value: "{match}"')
        if cont and rv_s:
            raise _Reply(422, "Invalid", "resourceVersion: Forbidden: specifying resource version is not "
                                                "allowed when using continue")
        start_key = ""
        with api.cond:
            if cont:
                try:
                    tok = json.loads(base64.urlsafe_b64decode(cont + "=" * (-len(cont) % 4)))
                    at, start_key = int(tok["rv"]), str(tok["start"])
                    if tok.get("v") != "meta.k8s.io/v1":
                        raise ValueError("bad version")
                except (ValueError, KeyError, TypeError) as e:
                    raise _Reply(400, message=f"continue key is not valid: {e}")
                if at == -1:                          # an inconsistent continuation: the current state
                    at, state = api.rv, api._store[kind]
                elif at < api.compacted:
                    tok = self._token(-1, start_key)
                    raise _Reply(410, "Expired", CONTINUE_EXPIRED, metadata={"continue": tok})
                else:
                    state = api._state_at(kind, at)
            elif rv_s in ("", "0") or match != "Exact":
                if rv_s not in ("", "0"):
                    n = api.rv_parse(rv_s)
                    if n is None:
                        raise _Reply(400, message=f"invalid resource version: {rv_s!r}")
                    if n > api.rv and not self._wait_rv(n):
                        raise self._too_large(n)
                if rv_s == "0" and api.rv0_ignores_limit:
                    limit = 0                          # served from the watch cache: no pagination
                at, state = api.rv, api._store[kind]
            else:
                n = api.rv_parse(rv_s)
                if n is None:
                    raise _Reply(400, message=f"invalid resource version: {rv_s!r}")
                if n > api.rv and not self._wait_rv(n):
                    raise self._too_large(n)
                if n < api.compacted:
                    raise _Reply(410, "Expired", "too old resource version: %s (%s)" % (
                        rv_s, api.rv_str(api.compacted)))
                at, state = n, api._state_at(kind, n)
            keys = sorted((f"{k[0]}/{k[1]}", k) for k in state)
            items, more = [], 0
            for skey, k in keys:
                if start_key and skey < start_key:
                    continue
                o = state[k]
                if (ns is not None and k[0] != ns) or not selector_matches(fsel, lsel, o):
                    continue
                if limit and len(items) >= limit:
                    more += 1
                    continue
                items.append((skey, o))
            meta = {"resourceVersion": api.rv_str(at)}
            if more:
                meta["continue"] = self._token(at, items[-1][0] + "\x00")
                if not fsel and not lsel:
                    meta["remainingItemCount"] = more
            out = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for _, o in items]
            body = go_json({"kind": KINDS[kind][1], "apiVersion": "v1", "metadata": meta, "items": out})
        self._body(200, body)

    @staticmethod
    def _token(rv, start):
        raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    # --- watch -----------------------------------------------------------------------------------------------------
    def _watch(self, kind, ns, fsel, lsel, q, rec):
        api = self.api
        one = lambda k: q.get(k, [""])[0]   # noqa: E731
        rv_s = one("resourceVersion")
        try:
            bookmarks = bool(one("allowWatchBookmarks")) and _parse_bool(one("allowWatchBookmarks"))
            initial = bool(one("sendInitialEvents")) and _parse_bool(one("sendInitialEvents"))
            timeout = int(one("timeoutSeconds") or 0)
        except ValueError:
            raise _Reply(400, message="invalid watch parameters")
        if timeout <= 0:                      # the real server picks minRequestTimeout * [1, 2)
            timeout = api.min_request_timeout * (1 + random.random())
        w = _Watch(api, kind, ns, fsel, lsel, rec, api.watch_queue)
        w.conn = self.connection
        with api.cond:
            if rv_s in ("", "0") or initial:
                w.start_rv = api.rv
                if rv_s not in ("", "0"):     # sendInitialEvents with a version: not older than it
                    n = api.rv_parse(rv_s)
                    if n is None:
                        raise _Reply(400, message=f"invalid resource version: {rv_s!r}")
                    if n > api.rv and not self._wait_rv(n):
                        raise self._too_large(n)
                    w.start_rv = api.rv
                # "get state and start at most recent": synthetic ADDED for what exists
                for k in sorted(api._store[kind], key=lambda k: f"{k[0]}/{k[1]}"):
                    o = api._store[kind][k]
                    if w.match(o):
                        w.queue.append(b'{"type":"ADDED","object":' + api._data[kind][k] + b"}\n")
                if initial and bookmarks:
                    w.queue.append(api._bookmark(kind, initial_end=True))
            else:
                n = api.rv_parse(rv_s)
                if n is None:
                    raise _Reply(400, message=f"invalid resource version: {rv_s!r}")
                if n > api.rv and not self._wait_rv(n):
                    raise self._too_large(n)
                w.start_rv = n
                if n < api.compacted:
                    msg = "too old resource version: %s (%s)" % (rv_s, api.rv_str(api.compacted))
                    if api.watch_410 == "http":
                        raise _Reply(410, "Expired", msg)
                    w.error = status(410, "Expired", msg)
                else:
                    for c in api.history:                 # replay what happened after n
                        if c.rv > n:
                            w.offer(c, c.obj(), c.old(), live=False)
            if api._stall_new_until > time.monotonic():
                w.stall_until = api._stall_new_until
            api.watches.append(w)
            api.stats["watches"] += 1
            api.cond.notify_all()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self._common_headers()
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._stream(w, kind, time.monotonic() + timeout, bookmarks)
        except (OSError, ValueError, ssl.SSLError):
            self.close_connection = True
        finally:
            with api.cond:
                if w in api.watches:
                    api.watches.remove(w)
                api.cond.notify_all()

    def _next_bookmark(self, now, deadline):
        """Roughly every bookmark_interval, and 2 s before the deadline (as the real cacher does)."""
        iv = self.api.bookmark_interval
        if not iv:
            return None
        t = now + iv
        if now < deadline - 2.0 < t:
            t = deadline - 2.0
        return t if t < deadline else None

    def _stream(self, w, kind, deadline, bookmarks):
        api = self.api
        bm_next = self._next_bookmark(time.monotonic(), deadline) if bookmarks else None
        for _ in range(10 ** 8):              # bounded by the deadline in practice
            out, end, cut = [], False, None
            with api.cond:
                for _ in range(10 ** 6):
                    now = time.monotonic()
                    if w.cut:
                        break
                    if now >= w.stall_until:
                        if w.queue or w.error or w.overflow or now >= deadline:
                            break
                        if bm_next is not None and now >= bm_next:
                            break
                        wait = min(deadline, bm_next or deadline) - now
                    else:
                        wait = w.stall_until - now
                    api.cond.wait(max(0.001, min(wait, 1.0)))
                now = time.monotonic()
                cut = w.cut
                if cut == "midline":
                    out = [w.queue.popleft()] if w.queue else []
                elif cut:
                    pass
                elif now >= deadline:                      # timeoutSeconds: end; what is queued is not sent
                    end = True
                else:
                    while w.queue:
                        out.append(w.queue.popleft())
                    if w.error:
                        out.append(b'{"type":"ERROR","object":' + go_json(w.error) + b"}\n")
                        end = True
                    elif w.overflow:
                        end = True
                        api.stats["watch_overflows"] += 1
                    elif bm_next is not None and now >= bm_next:
                        out.append(api._bookmark(kind))
                        bm_next = self._next_bookmark(now, deadline)
            w.sent += len(out)
            if cut == "midline":
                line = out[0] if out else (b'{"type":"ADDED","object":{"kind":"Event","apiVersion":"v1",'
                                           b'"metadata":{"name":"cut-mid-line","namespace":"default"}}}\n')
                self.wfile.write(b"%x\r\n" % len(line) + line[:max(1, len(line) // 2)])
                self.close_connection = True
                return _shut(self.connection)
            if cut == "reset":
                self.close_connection = True
                return _rst(self.connection)
            if cut == "abrupt":
                self.close_connection = True
                return _shut(self.connection)
            if out:
                self._write_chunked(b"".join(out))
            if cut == "clean" or end:
                self.wfile.write(b"0\r\n\r\n")
                return


# --- standalone ----------------------------------------------------------------------------------------------------
def main(argv=None):
    import argparse
    sys.path.insert(0, HERE)
    import certs
    ap = argparse.ArgumentParser(description="Kubernetes API server emulator (events, configmaps)")
    ap.add_argument("--pki", default=os.path.join(HERE, "..", "..", "build", "test-pki"),
                    help="directory for the test PKI (made if missing)")
    ap.add_argument("--token", action="append", help="accepted bearer token (repeatable)")
    ap.add_argument("--events", action="append", default=[], help="EventList to load first (JSON or .gz)")
    ap.add_argument("--host", default="127.0.0.1", help="127.0.0.1 or ::1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--http", action="store_true", help="plain HTTP instead of HTTPS")
    ap.add_argument("--bookmarks", type=float, default=60.0, help="bookmark interval in seconds")
    ap.add_argument("--opaque-rv", action="store_true", help="opaque, unsortable resourceVersions")
    ap.add_argument("--chunks", type=int, default=None, help="random chunk sizes with this seed")
    ap.add_argument("--every", type=float, default=0, help="add a made-up Warning event every N seconds")
    a = ap.parse_args(argv)
    tokens = a.token or ["demo-token"]
    pki = certs.make_pki(a.pki) if not a.http else None
    api = KubeAPI(pki, tokens=tokens, host=a.host, port=a.port, tls=not a.http, bookmark_interval=a.bookmarks,
                  opaque_rv=a.opaque_rv, chunks=a.chunks).start()
    for f in a.events:
        api.load_fixture(f)
    info = {"url": api.url, "token": tokens[0], "pid": os.getpid()}
    if pki:
        info.update({"ca": pki["ca"], "client_cert": pki["client"], "client_key": pki["client_key"]})
    print(json.dumps(info), flush=True)
    stop = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: stop.set())
    reasons = ["BackOff", "Unhealthy", "FailedMount", "FailedScheduling", "OOMKilling"]
    i = 0
    while not stop.wait(a.every if a.every > 0 else None):
        i += 1
        api.add_event(ns=random.choice(["default", "team-a", "team-b"]), obj=f"demo-{i % 7}",
                      reason=random.choice(reasons), message=f"made-up event {i}")
    api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
