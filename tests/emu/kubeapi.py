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
  GET /version, /healthz, /livez, /readyz, /api, /api/v1, /apis, /apis/coordination.k8s.io[/v1]

coordination.k8s.io/v1 Leases (what client-go's leaderelection + resourcelock.LeaseLock use: GET, then POST
when 404, PUT with the resourceVersion read; see README.md for the sources of each behaviour):
  GET    /apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}   the Lease, or 404 NotFound
  GET    .../leases, /apis/coordination.k8s.io/v1/leases              LeaseList; ?watch=1 watches (as events)
  POST   .../namespaces/{ns}/leases        201; 409 AlreadyExists; 422 Invalid (Lease.coordination.k8s.io: name
                                           missing or not a DNS-1123 subdomain, leaseDurationSeconds <= 0,
                                           leaseTransitions < 0); 500 when metadata.resourceVersion is set;
                                           generateName
  PUT    .../leases/{name}                 200 (a new resourceVersion; none when nothing changed); metadata.uid is a
                                           precondition (409 "StorageError: invalid object ..."); absent lease:
                                           created, 201 (leaseStrategy.AllowCreateOnUpdate; lease_create_on_update=
                                           False: 404); no or "0" resourceVersion: 422 "metadata.resourceVersion:
                                           Invalid value: 0x0: must be specified for an update"; another one: 409
                                           Conflict "the object has been modified; ..."; then validation (422)
  PATCH  .../leases/{name}                 merge-patch+json, strategic-merge-patch+json, json-patch+json; 404
  DELETE .../leases/{name}                 200 Status Success {name, group, kind: leases, uid}; preconditions; 404
Bodies are decoded as the real server does: JSON only (415 otherwise), unknown/duplicate fields dropped with a
"Warning: 299 - ..." header (fieldValidation=Strict: 400), Go type errors and MicroTime parse errors as 400
('Lease in version "v1" cannot be handled as a Lease: ...'); MicroTime (acquireTime, renewTime) must have exactly
six fraction digits and is written back in UTC ("2024-03-05T07:08:09.123456Z"), the zero time as null. An update
replaces the whole object (labels/annotations not sent are gone). metadata.managedFields is kept per manager
(?fieldManager= or the User-Agent up to "/"). Objects, 404/409/422/403 Status bodies and their field order are the
real server's (tests/emu/README.md cites the kube-apiserver sources).

Authentication: "Authorization: Bearer <token>" with a token from the current
(mutable) set, or a client certificate verified against the test CA. RBAC: set_forbidden([prefix], verbs=None,
tokens=None) answers the real 403, e.g. 'leases.coordination.k8s.io "NAME" is forbidden: User "..." cannot update
resource "leases" in API group "coordination.k8s.io" in the namespace "NS"'.

Per-client faults (two kube-eventer replicas with different tokens): fail_token(token, status=503 | None) answers
every request of one token (None: unanswered, and its watches cut) until heal_token(token); drop_token(token): 401;
fail_next(..., path="leases", method="PUT", token=...) for single requests.

Used in-process by tests:
    api = KubeAPI(pki, tokens={"t0"}).start()   # or: with KubeAPI(pki) as api:
    api.add_event(ns="default", reason="BackOff"); api.cut_watches(mid_line=True); ...
    api.set_lease("kube-system", "kube-eventer", {"holderIdentity": "other", "leaseDurationSeconds": 15,
                                                  "renewTime": time.time() - 60})
    api.lease("kube-system", "kube-eventer"); api.lease_requests(); api.fail_token("t1", None)
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
KINDS = {"events": ("Event", "EventList"), "configmaps": ("ConfigMap", "ConfigMapList"),
         "leases": ("Lease", "LeaseList")}
GROUPS = {"events": "", "configmaps": "", "leases": "coordination.k8s.io"}          # resource -> API group
API_VERSIONS = {"events": "v1", "configmaps": "v1", "leases": "coordination.k8s.io/v1"}
EVENT_FIELDS = ("metadata.name", "metadata.namespace", "involvedObject.kind", "involvedObject.namespace",
                "involvedObject.name", "involvedObject.uid", "involvedObject.apiVersion",
                "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason", "reportingComponent",
                "source", "type")
REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
           409: "AlreadyExists", 410: "Expired", 413: "RequestEntityTooLarge", 415: "UnsupportedMediaType",
           422: "Invalid", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}
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
    """A metav1.Status failure, fields in the real server's order. reason None: the usual one for code; "": none
    (StatusReasonUnknown, left out as the real server does)."""
    s = {"kind": "Status", "apiVersion": "v1", "metadata": metadata or {}, "status": "Failure",
         "message": message if message is not None else MESSAGES.get(code, REASONS.get(code, "error")),
         "reason": REASONS.get(code, "") if reason is None else reason}
    if not s["reason"]:
        del s["reason"]
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


# --- coordination.k8s.io/v1 Leases: wire format, decoding, validation, Status bodies ----------------------------------
# Sources (see README.md): kubernetes/api coordination/v1/types.go (fields, JSON order), apimachinery meta/v1
# micro_time.go (RFC3339Micro, UTC on output), pkg/registry/coordination/lease/strategy.go (AllowCreateOnUpdate
# true, AllowUnconditionalUpdate false), pkg/apis/coordination/validation (spec rules), apiserver
# registry/generic/registry/store.go (Create/Update/Delete order, finalizeDelete), apimachinery api/errors/errors.go
# (NewNotFound/AlreadyExists/Conflict/Invalid/Forbidden), apiserver storage/errors.go + interfaces.go
# (Preconditions.Check, StorageError text), registry/rest/create.go, update.go, delete.go.
LEASE_GROUP = "coordination.k8s.io"
LEASE_GV = "coordination.k8s.io/v1"
LEASE_QR = "leases.coordination.k8s.io"      # schema.GroupResource{coordination.k8s.io, leases}.String()
LEASE_QK = "Lease.coordination.k8s.io"       # schema.GroupKind{coordination.k8s.io, Lease}.String()
RFC3339_MICRO = "2006-01-02T15:04:05.000000Z07:00"
RFC3339_GO = "2006-01-02T15:04:05Z07:00"
OPTIMISTIC_LOCK_MSG = "the object has been modified; please apply your changes to the latest version and try again"
DEFAULT_USER = "system:serviceaccount:kube-system:kube-eventer"
LEASE_SPEC_FIELDS = ("holderIdentity", "leaseDurationSeconds", "acquireTime", "renewTime", "leaseTransitions")
_META_OUT = ("name", "generateName", "namespace", "uid", "resourceVersion", "creationTimestamp", "labels",
             "annotations", "ownerReferences", "finalizers", "managedFields")
_META_RANK = {k: i for i, k in enumerate(_META_OUT)}
_META_TYPES = {"name": "string", "generateName": "string", "namespace": "string", "selfLink": "string",
               "uid": "string", "resourceVersion": "string", "generation": "int64", "creationTimestamp": "time",
               "deletionTimestamp": "time", "deletionGracePeriodSeconds": "int64", "labels": "map",
               "annotations": "map", "ownerReferences": "list", "finalizers": "strlist", "managedFields": "list"}
_SPEC_TYPES = {"holderIdentity": "string", "leaseDurationSeconds": "int32", "acquireTime": "micro",
               "renewTime": "micro", "leaseTransitions": "int32"}
_INPUT_TYPES = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json",
               "application/apply-patch+yaml")          # the order the real server lists them in its 415
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
                "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
                "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
_GEN_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"     # apiserver/pkg/storage/names: utilrand.String
_DIGITS = "0123456789"


def go_quote(s):
    """Go's %q for the strings we meet (printable text)."""
    return json.dumps(s, ensure_ascii=False)


def _days_from_civil(y, m, d):
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(z):
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (m <= 2), m, d


def _days_in(m, y):
    if m == 2:
        return 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28
    return 30 if m in (4, 6, 9, 11) else 31


GO_ZERO_US = _days_from_civil(1, 1, 1) * 86400 * 10 ** 6    # Go's zero time.Time: MicroTime encodes it as null


def _go_atoi(s):
    """Go time's internal atoi: optional sign, then digits (leadingInt); None when not all digits."""
    neg = s[:1] == "-"
    if s[:1] in ("-", "+"):
        s = s[1:]
    if any(c not in _DIGITS for c in s):
        return None
    n = int(s) if s else 0
    return -n if neg else n


def go_parse_time(value, micro=True):
    """time.Parse(RFC3339Micro) (micro=True, what metav1.MicroTime.UnmarshalJSON does) or time.Parse(RFC3339)
    (metav1.Time) as Go does it: epoch microseconds, or ValueError with Go's message. RFC3339Micro takes exactly six
    fraction digits and a "Z" or +hh:mm offset."""
    layout = RFC3339_MICRO if micro else RFC3339_GO
    v = value

    def bad(elem, layout_elem):
        return ValueError(f"parsing time {go_quote(value)} as {go_quote(layout)}: cannot parse {go_quote(elem)} as "
                          f"{go_quote(layout_elem)}")

    def rng(what):
        return ValueError(f"parsing time {go_quote(value)}: {what} out of range")

    def getnum(s, fixed):
        if not s or s[0] not in _DIGITS:
            return None, s
        if len(s) < 2 or s[1] not in _DIGITS:
            return (None, s) if fixed else (int(s[0]), s[1:])
        return int(s[:2]), s[2:]

    chunks = [("", "2006"), ("-", "01"), ("-", "02"), ("T", "15"), (":", "04"), (":", "05")]
    chunks += [("", ".000000"), ("", "Z07:00")] if micro else [("", "Z07:00")]
    year = month = day = hour = minute = sec = nsec = off = 0
    for prefix, std in chunks:
        for ch in prefix:
            if not v or v[0] != ch:
                raise bad(v, prefix)
            v = v[1:]
        hold = v
        if std == "2006":
            if len(v) < 4:
                raise bad(hold, std)
            year, v = _go_atoi(v[:4]), v[4:]
            if year is None:
                raise bad(hold, std)
        elif std in ("01", "02", "04", "05", "15"):
            n, v = getnum(v, std != "15")
            if n is None:
                raise bad(hold, std)
            if std == "01":
                month = n
                if not 1 <= n <= 12:
                    raise rng("month")
            elif std == "02":
                day = n
            elif std == "15":
                hour = n
                if n >= 24:
                    raise rng("hour")
            elif std == "04":
                minute = n
                if n >= 60:
                    raise rng("minute")
            else:
                sec = n
                if n >= 60:
                    raise rng("second")
                if not micro and len(v) >= 2 and v[0] in ".," and v[1] in _DIGITS:   # fraction not in the layout
                    k = 2
                    while k < len(v) and v[k] in _DIGITS:
                        k += 1
                    nsec, v = int(v[1:min(k, 10)].ljust(9, "0")), v[k:]
        elif std == ".000000":
            if len(v) < 7 or v[0] not in ".,":
                raise bad(hold, std)
            ns = _go_atoi(v[1:7])
            if ns is None:
                raise bad(hold, std)
            if ns < 0:
                raise rng("fractional second")
            nsec, v = ns * 1000, v[7:]
        else:  # Z07:00
            if v[:1] == "Z":
                v, off = v[1:], 0
                continue
            if len(v) < 6 or v[3] != ":":
                raise bad(hold, std)
            sign, hh, mm, v = v[0], v[1:3], v[4:6], v[6:]
            hr, _ = getnum(hh, True)
            mi, _ = getnum(mm, True) if hr is not None else (None, "")
            if hr is None or mi is None:
                raise bad(hold, std)
            if hr > 24:
                raise rng("time zone offset hour")
            if mi > 60:
                raise rng("time zone offset minute")
            off = (hr * 60 + mi) * 60
            if sign == "-":
                off = -off
            elif sign != "+":
                raise bad(hold, std)
    if v:
        raise ValueError(f"parsing time {go_quote(value)}: extra text: {go_quote(v)}")
    if day < 1 or day > _days_in(month, year):
        raise ValueError(f"parsing time {go_quote(value)}: day out of range")
    secs = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + sec - off
    return secs * 10 ** 6 + nsec // 1000


def format_micro_time(us):
    """Epoch microseconds -> metav1.MicroTime as the real server writes it (UTC, six fraction digits); the zero time
    is null."""
    if us == GO_ZERO_US:
        return None
    secs, frac = divmod(us, 10 ** 6)
    days, rem = divmod(secs, 86400)
    y, m, d = _civil_from_days(days)
    ys = "%04d" % y if y >= 0 else "-%04d" % -y
    return "%s-%02d-%02dT%02d:%02d:%02d.%06dZ" % (ys, m, d, rem // 3600, rem // 60 % 60, rem % 60, frac)


def micro_time(t=None):
    """Epoch seconds (float, default now) -> MicroTime string, exact to the microsecond."""
    return format_micro_time(round((time.time() if t is None else t) * 1e6))


def parse_micro_time(s):
    """A MicroTime string -> epoch seconds (float); ValueError as the real server's decoder."""
    return go_parse_time(s, micro=True) / 1e6


class _Lit(float):
    """A JSON number that had a fraction or exponent, with its literal text (Go reports it in type errors)."""

    def __new__(cls, text):
        obj = float.__new__(cls, float(text))
        obj.lit = text
        return obj


class _JObj(dict):
    """A decoded JSON object that remembers keys given twice (fieldValidation reports them)."""
    dups = ()


def _pairs(pairs):
    d = _JObj()
    dups = []
    for k, v in pairs:
        if k in d:
            dups.append(k)
        d[k] = v
    if dups:
        d.dups = dups
    return d


def _no_constant(name):
    raise ValueError(f"invalid character {name[0]!r} looking for beginning of value")


def go_json_loads(raw):
    """JSON as the real server's decoder reads it: numbers keep their literal, NaN/Infinity refused, duplicate keys
    remembered (the last one wins)."""
    text = raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else raw
    return json.loads(text, object_pairs_hook=_pairs, parse_float=_Lit, parse_constant=_no_constant)


def _summarize(raw):
    """apiserver handlers' summarizeData(body, 30)."""
    if not raw:
        return "<empty>"
    if raw[:1] == b"\x00":
        return f"<binary> len {len(raw)}"
    text = raw.decode("utf-8", "replace")
    return text[:30] + " ..." if len(raw) > 30 else text


def _json_kind(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    return "array" if isinstance(v, list) else "object"


def _num_text(v):
    return v.lit if isinstance(v, _Lit) else str(v)


class LeaseDecodeError(ValueError):
    """A body the real server's decoder refuses (400 BadRequest with this message)."""


def _type_err(v, struct, path, gotype):
    kind = _json_kind(v)
    if kind == "number" and gotype in ("int32", "int64"):
        kind = "number " + _num_text(v)
    return LeaseDecodeError(f"json: cannot unmarshal {kind} into Go struct field {struct}.{path} of type {gotype}")


def decode_lease(raw, field_validation="Warn"):
    """A request body -> (the Lease as stored: {metadata, spec} with typed, canonical values, [warnings]).
    Raises LeaseDecodeError with the real server's message (400). fieldValidation: Ignore, Warn (default), Strict."""
    try:
        doc = go_json_loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise LeaseDecodeError(f"the object provided is unrecognized (must be of type Lease): couldn't get "
                               f"version/kind; json parse error: {e} ({_summarize(raw)})")
    if not isinstance(doc, dict):
        raise LeaseDecodeError(
            "the object provided is unrecognized (must be of type Lease): couldn't get version/kind; json parse "
            f"error: json: cannot unmarshal {_json_kind(doc)} into Go value of type struct {{ APIVersion string "
            '"json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }} ' + f"({_summarize(raw)})")
    unknown, dups = [], []

    def note_dups(d, prefix):
        dups.extend(prefix + k for k in getattr(d, "dups", ()))

    note_dups(doc, "")
    av, kind = doc.get("apiVersion"), doc.get("kind")
    for k, v in (("apiVersion", av), ("kind", kind)):
        if v is not None and not isinstance(v, str):
            raise LeaseDecodeError(f"the object provided is unrecognized (must be of type Lease): couldn't get "
                                   f"version/kind; json parse error: json: cannot unmarshal {_json_kind(v)} into Go "
                                   f"struct field .{k} of type string ({_summarize(raw)})")
    av, kind = av or "", kind or ""
    version = av.rsplit("/", 1)[-1] if av else "v1"
    if kind and kind != "Lease":
        raise LeaseDecodeError(f'{kind} in version "{version}" cannot be handled as a Lease: no kind "{kind}" is '
                               f'registered for version "{av or LEASE_GV}" in scheme "pkg/api/legacyscheme/scheme.go:30"')
    if av and av != LEASE_GV:
        raise LeaseDecodeError(f"the API version in the data ({av}) does not match the expected API version "
                               f"({LEASE_GV})")
    prefix_err = 'Lease in version "v1" cannot be handled as a Lease: '
    meta, spec = {}, {}
    try:
        for key, v in doc.items():
            if key in ("apiVersion", "kind"):
                continue
            if key == "metadata":
                if v is None:
                    continue
                if not isinstance(v, dict):
                    raise _type_err(v, "Lease", "metadata", "v1.ObjectMeta")
                note_dups(v, "metadata.")
                for mk, mv in v.items():
                    t = _META_TYPES.get(mk)
                    if t is None:
                        unknown.append("metadata." + mk)
                        continue
                    if mv is None:
                        continue
                    if t == "string":
                        if not isinstance(mv, str):
                            raise _type_err(mv, "ObjectMeta", "metadata." + mk, "string")
                        meta[mk] = mv
                    elif t == "int64":
                        if isinstance(mv, bool) or not isinstance(mv, int) or isinstance(mv, _Lit) \
                                or not -2 ** 63 <= mv < 2 ** 63:
                            raise _type_err(mv, "ObjectMeta", "metadata." + mk, "int64")
                    elif t == "time":
                        if not isinstance(mv, str):
                            raise LeaseDecodeError(f"json: cannot unmarshal {_json_kind(mv)} into Go value of "
                                                   "type string")
                        go_parse_time(mv, micro=False)
                        meta[mk] = mv
                    elif t == "map":
                        if not isinstance(mv, dict):
                            raise _type_err(mv, "ObjectMeta", "metadata." + mk, "map[string]string")
                        for lk, lv in mv.items():
                            if lv is not None and not isinstance(lv, str):
                                raise _type_err(lv, "ObjectMeta", "metadata." + mk, "string")
                        meta[mk] = {lk: (lv or "") for lk, lv in mv.items()}
                    elif t == "strlist":
                        if not isinstance(mv, list):
                            raise _type_err(mv, "ObjectMeta", "metadata." + mk, "[]string")
                        for x in mv:
                            if x is not None and not isinstance(x, str):
                                raise _type_err(x, "ObjectMeta", "metadata." + mk, "string")
                        meta[mk] = [x or "" for x in mv]
                    else:
                        if not isinstance(mv, list):
                            raise _type_err(mv, "ObjectMeta", "metadata." + mk,
                                            "[]v1.OwnerReference" if mk == "ownerReferences"
                                            else "[]v1.ManagedFieldsEntry")
                        meta[mk] = _copy(mv)
            elif key == "spec":
                if v is None:
                    continue
                if not isinstance(v, dict):
                    raise _type_err(v, "Lease", "spec", "v1.LeaseSpec")
                note_dups(v, "spec.")
                for sk, sv in v.items():
                    t = _SPEC_TYPES.get(sk)
                    if t is None:
                        unknown.append("spec." + sk)
                        continue
                    if sv is None:
                        spec.pop(sk, None)      # a pointer field: null is nil
                        continue
                    if t == "string":
                        if not isinstance(sv, str):
                            raise _type_err(sv, "LeaseSpec", "spec." + sk, "string")
                        spec[sk] = sv
                    elif t == "int32":
                        if isinstance(sv, bool) or not isinstance(sv, int) or isinstance(sv, _Lit) \
                                or not -2 ** 31 <= sv < 2 ** 31:
                            raise _type_err(sv, "LeaseSpec", "spec." + sk, "int32")
                        spec[sk] = int(sv)
                    else:
                        if not isinstance(sv, str):
                            raise LeaseDecodeError(f"json: cannot unmarshal {_json_kind(sv)} into Go value of "
                                                   "type string")
                        spec[sk] = format_micro_time(go_parse_time(sv, micro=True))
            elif key == "status":
                unknown.append("status")
            else:
                unknown.append(key)
    except LeaseDecodeError as e:
        raise LeaseDecodeError(prefix_err + str(e))
    except ValueError as e:                     # a time the decoder cannot parse
        raise LeaseDecodeError(prefix_err + str(e))
    warnings = []
    if field_validation == "Strict" and (unknown or dups):
        raise LeaseDecodeError("strict decoding error: " + ", ".join(
            [f'unknown field "{u}"' for u in unknown] + [f'duplicate field "{d}"' for d in dups]))
    if field_validation != "Ignore":
        warnings = [f'unknown field "{u}"' for u in unknown] + [f'duplicate field "{d}"' for d in dups]
    return {"metadata": meta, "spec": {k: spec[k] for k in LEASE_SPEC_FIELDS if k in spec}}, warnings


def lease_object(meta, spec):
    """The Lease as the real server encodes it: kind, apiVersion, metadata and spec fields in Go struct order, empty
    values left out (omitempty), a zero MicroTime as null."""
    md = {k: meta[k] for k in _META_OUT if meta.get(k) not in (None, "", {}, [])}
    sp = {k: spec[k] for k in LEASE_SPEC_FIELDS if k in spec}
    return {"kind": "Lease", "apiVersion": LEASE_GV, "metadata": md, "spec": sp}


# field.Error: (type, field, body). Bodies as field.Error.ErrorBody() renders them.
def _fe_invalid(fld, value, detail):
    if isinstance(value, str):
        shown = go_quote(value)
    elif isinstance(value, tuple):            # ("uint64", n): %#v of a uint64
        shown = hex(value[1])
    else:
        shown = str(value)
    return ("FieldValueInvalid", fld, f"Invalid value: {shown}: {detail}")


def _fe_required(fld, detail):
    return ("FieldValueRequired", fld, "Required value" + (f": {detail}" if detail else ""))


def validate_lease(obj):
    """pkg/apis/coordination/validation.ValidateLease (ObjectMeta name + spec): [field errors]."""
    errs = []
    md, spec = obj["metadata"], obj["spec"]
    gen = md.get("generateName") or ""
    if gen:
        masked = gen[:-1] + "a" if gen.endswith("-") else gen        # NameIsDNSSubdomain(prefix=true)
        if len(masked) > 253:
            errs.append(_fe_invalid("metadata.generateName", gen, "must be no more than 253 characters"))
        if not _DNS1123_SUBDOMAIN.match(masked):
            errs.append(_fe_invalid("metadata.generateName", gen, _DNS1123_MSG))
    name = md.get("name") or ""
    if not name:
        errs.append(_fe_required("metadata.name", "name or generateName is required"))
    else:
        if len(name) > 253:
            errs.append(_fe_invalid("metadata.name", name, "must be no more than 253 characters"))
        if not _DNS1123_SUBDOMAIN.match(name):
            errs.append(_fe_invalid("metadata.name", name, _DNS1123_MSG))
    d = spec.get("leaseDurationSeconds")
    if d is not None and d <= 0:
        errs.append(_fe_invalid("spec.leaseDurationSeconds", d, "must be greater than 0"))
    t = spec.get("leaseTransitions")
    if t is not None and t < 0:
        errs.append(_fe_invalid("spec.leaseTransitions", t, "must be greater than or equal to 0"))
    return errs


def details(name="", group="", kind="", uid="", causes=None, retry_after=None):
    """metav1.StatusDetails, fields in Go order, empty ones left out."""
    d = {}
    for k, v in (("name", name), ("group", group), ("kind", kind), ("uid", uid), ("causes", causes),
                 ("retryAfterSeconds", retry_after)):
        if v:
            d[k] = v
    return d


def not_found_status(resource, name, group=""):
    qr = f"{resource}.{group}" if group else resource
    return status(404, "NotFound", f"{qr} {go_quote(name)} not found", details(name, group, resource))


def already_exists_status(resource, name, group=""):
    qr = f"{resource}.{group}" if group else resource
    return status(409, "AlreadyExists", f"{qr} {go_quote(name)} already exists", details(name, group, resource))


def conflict_status(resource, name, err, group=""):
    qr = f"{resource}.{group}" if group else resource
    return status(409, "Conflict", f"Operation cannot be fulfilled on {qr} {go_quote(name)}: {err}",
                  details(name, group, resource))


def invalid_status(qualified_kind, group, kind, name, errs):
    """apierrors.NewInvalid: one cause per field error; the message aggregates them ("[a, b]" for several)."""
    causes = [{"reason": t, "message": body, "field": f} for t, f, body in errs]
    texts = []
    for t, f, body in errs:
        s = f"{f}: {body}" if f else body
        if s not in texts:
            texts.append(s)
    agg = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return status(422, "Invalid", f"{qualified_kind} {go_quote(name)} is invalid: {agg}",
                  details(name, group, kind, causes=causes))


def forbidden_status(user, verb, resource, group, ns, name, reason=None):
    """The authorization filter's 403 (responsewriters.Forbidden + apierrors.NewForbidden); reason not None: the
    create-on-update authorization of an update handler (withAuthorization), whose message is the authorizer's
    reason alone ("" for RBAC's plain deny)."""
    qr = f"{resource}.{group}" if group else resource
    if reason is None:
        scope = f"in the namespace {go_quote(ns)}" if ns else "at the cluster scope"
        reason = (f"User {go_quote(user)} cannot {verb} resource {go_quote(resource)} in API group "
                  f"{go_quote(group)} {scope}")
    msg = f"{qr} {go_quote(name)} is forbidden: {reason}" if name else f"{qr} is forbidden: {reason}"
    return status(403, "Forbidden", msg, details(name, group, resource))


def storage_key(ns, name):
    return f"/registry/leases/{ns}/{name}"


def uid_precondition_conflict(ns, name, want, have):
    """A PUT whose metadata.uid is not the stored one's (rest.defaultUpdatedObjectInfo.Preconditions ->
    storage.Preconditions.Check -> NewInvalidObjError -> InterpretUpdateError: 409 Conflict)."""
    err = (f"StorageError: invalid object, Code: 4, Key: {storage_key(ns, name)}, ResourceVersion: 0, "
           f"AdditionalErrorMsg: Precondition failed: UID in precondition: {want}, UID in object meta: {have}")
    return conflict_status("leases", name, err, LEASE_GROUP)


def generate_name(prefix, rng=None):
    r = rng or _rand
    return prefix[:58] + "".join(r.choice(_GEN_ALPHABET) for _ in range(5))


# --- patches -----------------------------------------------------------------------------------------------------------
def merge_patch(target, patch):
    """RFC 7386 JSON merge patch (also what a strategic merge patch does to a Lease: no lists with merge keys)."""
    if not isinstance(patch, dict):
        return _copy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys") or k.startswith("$setElementOrder/"):
            continue
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


class PatchError(ValueError):
    pass


def _ptr(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"JSON pointer must be empty or start with a \"/\": {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(doc, ops):
    """RFC 6902 JSON patch (add, remove, replace, move, copy, test)."""
    if not isinstance(ops, list):
        raise PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = _copy(doc)

    def parent(d, parts, op):
        for p in parts[:-1]:
            if isinstance(d, dict) and p in d:
                d = d[p]
            elif isinstance(d, list) and p.isdigit() and int(p) < len(d):
                d = d[int(p)]
            else:
                raise PatchError(f"{op} operation does not apply: doc is missing path: \"/{'/'.join(parts)}\": "
                                 "missing value")
        return d

    def get(d, parts):
        for p in parts:
            if isinstance(d, dict) and p in d:
                d = d[p]
            elif isinstance(d, list) and p.isdigit() and int(p) < len(d):
                d = d[int(p)]
            else:
                raise PatchError(f"doc is missing path: \"/{'/'.join(parts)}\": missing value")
        return d

    def put(d, parts, val, op, replace=False):
        if not parts:
            return val
        par, last = parent(d, parts, op), parts[-1]
        if isinstance(par, dict):
            if replace and last not in par:
                raise PatchError(f"replace operation does not apply: doc is missing key: /{'/'.join(parts)}: "
                                 "missing value")
            par[last] = val
        elif isinstance(par, list):
            if last == "-":
                par.append(val)
            elif last.isdigit() and int(last) <= len(par):
                if replace:
                    par[int(last)] = val
                else:
                    par.insert(int(last), val)
            else:
                raise PatchError(f"{op} operation does not apply: doc is missing path: \"/{'/'.join(parts)}\"")
        else:
            raise PatchError(f"{op} operation does not apply: doc is missing path: \"/{'/'.join(parts)}\"")
        return d

    def remove(d, parts):
        par, last = parent(d, parts, "remove"), parts[-1]
        if isinstance(par, dict) and last in par:
            return par.pop(last)
        if isinstance(par, list) and last.isdigit() and int(last) < len(par):
            return par.pop(int(last))
        raise PatchError(f"remove operation does not apply: doc is missing path: \"/{'/'.join(parts)}\": "
                         "missing value")

    for op in ops:
        if not isinstance(op, dict):
            raise PatchError("json: cannot unmarshal into jsonpatch operation")
        kind, path = op.get("op"), _ptr(op.get("path", ""))
        if kind == "add":
            doc = put(doc, path, _copy(op.get("value")), "add")
        elif kind == "remove":
            remove(doc, path)
        elif kind == "replace":
            doc = put(doc, path, _copy(op.get("value")), "replace", replace=True)
        elif kind in ("move", "copy"):
            frm = _ptr(op.get("from", ""))
            val = remove(doc, frm) if kind == "move" else _copy(get(doc, frm))
            doc = put(doc, path, val, kind)
        elif kind == "test":
            try:
                cur = get(doc, path)
            except PatchError:
                cur = None
            if cur != op.get("value"):
                raise PatchError(f"testing value /{'/'.join(path)} failed: test failed")
        else:
            raise PatchError(f"Unexpected kind: {kind}")
    return doc


# --- managedFields (what an Update operation records) -----------------------------------------------------------------
def _lease_fields(obj):
    """{path: value} of the fields managedFields tracks for a Lease."""
    out = {}
    md = obj.get("metadata") or {}
    for m in ("labels", "annotations"):
        for k, v in (md.get(m) or {}).items():
            out[("metadata", m, k)] = v
    for k, v in (obj.get("spec") or {}).items():
        out[("spec", k)] = v
    return out


def _fields_v1(paths):
    root = {}
    for p in sorted(paths):
        if p[0] == "metadata":
            node = root.setdefault("f:metadata", {}).setdefault("f:" + p[1], {})
            node.setdefault(".", {})
            node["f:" + p[2]] = {}
        else:
            root.setdefault("f:spec", {})["f:" + p[1]] = {}

    def srt(d):
        return {k: srt(d[k]) for k in sorted(d)}
    return srt(root)


def _paths_of(fv1):
    out = set()
    if not isinstance(fv1, dict):
        return out
    md = fv1.get("f:metadata") or {}
    for m in ("labels", "annotations"):
        for k in (md.get("f:" + m) or {}):
            if k.startswith("f:"):
                out.add(("metadata", m, k[2:]))
    for k in (fv1.get("f:spec") or {}):
        if k.startswith("f:"):
            out.add(("spec", k[2:]))
    return out


def managed_fields_update(entries, old, new, manager, now=None):
    """managedFields after `manager` wrote `new` over `old` (None: a create) with an Update operation: the fields it
    set or changed become its own (and leave other managers), removed fields leave every manager, a manager left with
    nothing is dropped; its time is now when it changed something. Sorted by time, then manager."""
    owners = collections.OrderedDict()
    for e in entries or []:
        if isinstance(e, dict) and e.get("operation", "Update") == "Update":
            owners[e.get("manager", "")] = [_paths_of(e.get("fieldsV1")), e.get("time")]
    of = _lease_fields(old) if old else {}
    nf = _lease_fields(new)
    changed = {p for p, v in nf.items() if p not in of or of[p] != v}
    removed = set(of) - set(nf)
    if not changed and not removed:
        return list(entries or [])
    for m, o in owners.items():
        if m != manager:
            o[0] -= changed | removed
    mine = owners.setdefault(manager, [set(), None])
    mine[0] = (mine[0] - removed) | changed
    mine[1] = rfc3339(now)
    out = []
    for m, (paths, t) in owners.items():
        if not paths:
            continue
        e = {"manager": m, "operation": "Update", "apiVersion": LEASE_GV, "time": t, "fieldsType": "FieldsV1",
             "fieldsV1": _fields_v1(paths)}
        if not m:
            del e["manager"]
        out.append(e)
    out.sort(key=lambda e: (e.get("time") or "", e.get("manager", "")))
    return out


def field_manager(query_value, user_agent):
    """?fieldManager= or the User-Agent up to its first "/" (printable characters, at most 128 bytes)."""
    if query_value:
        return query_value
    out = ""
    for c in (user_agent or "").split("/")[0]:
        if not c.isprintable():
            continue
        if len((out + c).encode()) > 128:
            break
        out += c
    return out


# --- the emulator --------------------------------------------------------------------------------------------------
class KubeAPI:
    """See the module docstring and README.md. Every public method is thread-safe."""

    _OPAQUE_MUL = 2654435761
    _OPAQUE_INV = pow(2654435761, -1, 1 << 32)

    def __init__(self, pki=None, tokens=("t0",), host="127.0.0.1", port=0, tls=True, opaque_rv=False,
                 bookmark_interval=60.0, chunks=None, chunk_max=97, watch_410="stream",
                 require_client_cert=False, ipv6=False, watch_queue=10000, history_limit=None,
                 anonymous=False, bookmark_shape="go", too_large_wait=3.0, min_request_timeout=1800,
                 rv0_ignores_limit=True, idle_timeout=90.0, tls_max=None, start_rv=100, managed_fields=True,
                 lease_create_on_update=True):
        if isinstance(pki, str):
            pki = _certs().make_pki(pki)
        if pki is None and tls:
            pki = _certs().make_pki(os.path.join(tempfile.gettempdir(), f"kubeapi-pki-{os.getuid()}"))
        self.pki = pki
        self.tokens = set(tokens or ())
        self.token_users = dict(tokens) if isinstance(tokens, dict) else {}   # token -> user name (RBAC messages)
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
        self.managed_fields = managed_fields   # leases carry metadata.managedFields as the real server writes them
        self.lease_create_on_update = lease_create_on_update   # False: PUT on an absent lease -> 404
        self.debug = bool(os.environ.get("KUBEAPI_DEBUG"))   # one stderr line per answered request
        self.cond = threading.Condition(threading.RLock())
        self.rv = start_rv                  # etcd-like global revision
        self.compacted = 0                  # revisions below this are gone
        self.history = []                   # [_Change], rv ascending, all > compacted
        self.events = {}                    # (ns, name) -> Event (current state)
        self.configmaps = {}                # (ns, name) -> ConfigMap
        self.leases = {}                    # (ns, name) -> Lease (coordination.k8s.io/v1)
        self._store = {"events": self.events, "configmaps": self.configmaps, "leases": self.leases}
        self._data = {"events": {}, "configmaps": {}, "leases": {}}   # (ns, name) -> Go JSON of the current state
        self.watches = []
        self.requests = []
        self.tls_errors = []                # [{time, error}] failed TLS handshakes
        self.fail = []                      # [(status, retry_after, body, path, watch, delay, content_type,
        #                                        token, method)]
        self.forbidden = []                 # path prefixes answered 403, or (prefix, verbs, tokens) rules
        self.token_faults = {}              # token -> the fail tuple answering every request with that token
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
        if kind == "leases":                  # ObjectMeta field order (Go struct order), resourceVersion after uid
            md = obj["metadata"] = {k: md[k] for k in sorted(md, key=lambda k: _META_RANK.get(k, 99))}
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

    # --- Leases (coordination.k8s.io/v1) ----------------------------------------------------------------------------
    def lease(self, ns, name):
        """The current Lease (a copy) or None."""
        with self.cond:
            cur = self.leases.get((ns, name))
            return _copy(cur) if cur is not None else None

    def lease_holder(self, ns, name):
        """spec.holderIdentity of the current Lease (None when absent or unset)."""
        cur = self.lease(ns, name)
        return None if cur is None else cur["spec"].get("holderIdentity")

    @staticmethod
    def _spec_in(spec):
        """A test's spec -> stored form: acquireTime/renewTime may be epoch seconds (float) or strings (kept)."""
        out = {}
        for k in LEASE_SPEC_FIELDS:
            if k not in (spec or {}):
                continue
            v = spec[k]
            if k in ("acquireTime", "renewTime") and isinstance(v, (int, float)) and not isinstance(v, bool):
                v = micro_time(v)
            out[k] = v
        extra = set(spec or {}) - set(LEASE_SPEC_FIELDS)
        if extra:
            raise ValueError(f"not LeaseSpec fields: {sorted(extra)}")
        return out

    def set_lease(self, ns, name, spec, annotations=None, labels=None, manager="kubeapi-test"):
        """Create or replace a Lease as another client would (ADDED / MODIFIED on watches, a new resourceVersion, uid
        and creationTimestamp kept on replace), without validation: plant a foreign holder, an expired or an odd
        lease. spec: LeaseSpec fields; acquireTime/renewTime as epoch seconds or as strings (sent as given).
        Returns the stored copy."""
        sp = self._spec_in(spec)
        with self.cond:
            key = (ns, name)
            cur = self.leases.get(key)
            md = {"name": name, "namespace": ns, "uid": cur["metadata"]["uid"] if cur else _uuid(),
                  "creationTimestamp": cur["metadata"]["creationTimestamp"] if cur else rfc3339()}
            if labels:
                md["labels"] = dict(labels)
            if annotations:
                md["annotations"] = dict(annotations)
            new = lease_object(md, sp)
            if self.managed_fields:
                new["metadata"]["managedFields"] = managed_fields_update(
                    cur["metadata"].get("managedFields") if cur else None, cur, new, manager)
                new = lease_object(new["metadata"], sp)
            return self._change("MODIFIED" if cur else "ADDED", "leases", new, copy=True)

    def delete_lease(self, ns, name):
        """DELETED on watches; KeyError when absent."""
        with self.cond:
            return self._change("DELETED", "leases", _copy(self.leases[(ns, name)]), copy=True)

    def lease_requests(self, ns=None, name=None, token=None, method=None):
        """Recorded requests on lease paths (the api.requests entries: method, verb, path, query, headers, token,
        user, body (parsed JSON or None), raw_body, status, ...), optionally of one namespace, name, token, method."""
        out = []
        for r in list(self.requests):
            if r.get("resource") != "leases":
                continue
            if (ns is not None and r.get("namespace") != ns) or (name is not None and r.get("name") != name) or \
                    (token is not None and r.get("token") != token) or (method is not None and r["method"] != method):
                continue
            out.append(r)
        return out

    def _lease_op(self, verb, ns, name, raw, q, manager, allowed, ctype=""):
        """Under no lock: a create / update / patch / delete request on leases, as kube-apiserver's handlers and
        generic registry store do it. Returns (code, body dict, [warnings]); raises _Reply for errors. allowed(verb):
        the authorization of the create an update turns into (create-on-update)."""
        one = lambda k: q.get(k, [""])[0]   # noqa: E731
        fv = one("fieldValidation") or "Warn"
        if verb == "delete":
            return self._lease_delete(ns, name, raw)
        if verb == "patch":
            with self.cond:
                cur = self.leases.get((ns, name))
                if cur is None:
                    raise _Reply(404, details=None, message=None, status_body=not_found_status("leases", name,
                                                                                               LEASE_GROUP))
                cur = _copy(cur)
            raw = self._apply_patch(cur, raw, ctype)
        try:
            obj, warnings = decode_lease(raw, fv)
        except LeaseDecodeError as e:
            raise _Reply(400, message=str(e))
        md = obj["metadata"]
        if verb in ("update", "patch"):
            if md.get("name", "") != name:                                   # handlers.checkName
                raise _Reply(400, message=f"the name of the object ({md.get('name', '')}) does not match the name "
                                          f"on the URL ({name})")
            if md.get("namespace") and md["namespace"] != ns:
                raise _Reply(400, message=f"the namespace of the object ({md['namespace']}) does not match the "
                                          f"namespace on the request ({ns})")
        elif md.get("namespace") and md["namespace"] != ns:                  # EnsureObjectNamespaceMatches...
            raise _Reply(400, message="the namespace of the provided object does not match the namespace sent on "
                                      "the request")
        md["namespace"] = ns
        with self.cond:
            if verb == "create":
                code, out = self._lease_create(ns, obj, manager)
            else:
                code, out = self._lease_update(ns, name, obj, manager, allowed)
        return code, out, warnings

    @staticmethod
    def _apply_patch(cur, raw, ctype):
        ctype = (ctype or "").split(";")[0].strip().lower()
        try:
            patch = go_json_loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError) as e:
            raise _Reply(400, message=f"error decoding patch: {e}")
        if ctype == "application/json-patch+json":
            try:
                out = json_patch(cur, patch)
            except PatchError as e:
                raise _Reply(422, "Invalid", str(e))
        else:
            if not isinstance(patch, dict):
                raise _Reply(400, message="json: cannot unmarshal " + _json_kind(patch) + " into Go value of type "
                                          "map[string]interface {}")
            out = merge_patch(cur, patch)
        return go_json(out)

    def _lease_create(self, ns, obj, manager):
        """Under cond: registry Store.create (POST)."""
        md = obj["metadata"]
        if not md.get("name") and md.get("generateName"):
            md["name"] = generate_name(md["generateName"])
        errs = validate_lease(obj)
        if errs:
            raise _Reply(422, status_body=invalid_status(LEASE_QK, LEASE_GROUP, "Lease", md.get("name", ""), errs))
        rv = md.get("resourceVersion", "")
        if rv and rv.isascii() and rv.isdigit() and int(rv) != 0:    # etcd3 store.Create
            raise _Reply(500, "", "resourceVersion should not be set on objects to be created")
        name = md["name"]
        if (ns, name) in self.leases:
            raise _Reply(409, status_body=already_exists_status("leases", name, LEASE_GROUP))
        return 201, self._lease_store(ns, name, obj, None, manager)

    def _lease_store(self, ns, name, obj, cur, manager):
        """Under cond: write obj (decoded body) as the new state over cur (None: create). Returns the stored copy;
        an update that changes nothing stores nothing (no new resourceVersion, as etcd3 GuaranteedUpdate)."""
        md = obj["metadata"]
        keep = {"name": name, "namespace": ns}
        if cur is None:                                        # rest.FillObjectMetaSystemFields
            keep.update(uid=_uuid(), creationTimestamp=rfc3339())
        else:
            keep.update(uid=cur["metadata"]["uid"], creationTimestamp=cur["metadata"]["creationTimestamp"])
        for k in ("generateName", "labels", "annotations", "ownerReferences", "finalizers"):
            if md.get(k):
                keep[k] = md[k]
        new = lease_object(keep, obj["spec"])
        if self.managed_fields:
            base = cur["metadata"].get("managedFields") if cur else None
            sent = md.get("managedFields")
            if sent is not None and sent != base:               # the client reset or rewrote them
                base = sent
            new["metadata"]["managedFields"] = managed_fields_update(base, cur, new, manager)
            new = lease_object(new["metadata"], new["spec"])
        if cur is not None:
            old = _copy(cur)
            old["metadata"].pop("resourceVersion", None)
            if old == new:
                return _copy(cur)
        return self._change("MODIFIED" if cur else "ADDED", "leases", new, copy=True)

    def _lease_update(self, ns, name, obj, manager, allowed):
        """Under cond: registry Store.Update (PUT, and PATCH after the patch): UID precondition, create-on-update
        (AllowCreateOnUpdate is true for leases), else resourceVersion required (AllowUnconditionalUpdate false) and
        equal to the stored one, then validation."""
        md = obj["metadata"]
        cur = self.leases.get((ns, name))
        uid = md.get("uid", "")
        if uid and uid != (cur["metadata"]["uid"] if cur else ""):
            raise _Reply(409, status_body=uid_precondition_conflict(ns, name, uid,
                                                                    cur["metadata"]["uid"] if cur else ""))
        if cur is None:
            if not self.lease_create_on_update:
                raise _Reply(404, status_body=not_found_status("leases", name, LEASE_GROUP))
            if not allowed("create"):
                raise _Reply(403, status_body=forbidden_status("", "create", "leases", LEASE_GROUP, ns, name,
                                                               reason=""))
            errs = validate_lease(obj)
            if errs:
                raise _Reply(422, status_body=invalid_status(LEASE_QK, LEASE_GROUP, "Lease", name, errs))
            return 201, self._lease_store(ns, name, obj, None, manager)
        rv_s = md.get("resourceVersion", "")
        if self.opaque_rv:
            n = self.rv_parse(rv_s) if rv_s else 0
            if n is None:
                n = -1
        elif not rv_s:
            n = 0
        elif rv_s.isascii() and rv_s.isdigit():
            n = int(rv_s)
            if n >= 1 << 64:
                raise _Reply(500, "", f'strconv.ParseUint: parsing "{rv_s}": value out of range')
        else:
            raise _Reply(500, "", f'strconv.ParseUint: parsing "{rv_s}": invalid syntax')
        if n == 0:
            raise _Reply(422, status_body=invalid_status(
                LEASE_QR, LEASE_GROUP, "leases", name,
                [_fe_invalid("metadata.resourceVersion", ("uint64", 0), "must be specified for an update")]))
        if n != self.rv_parse(cur["metadata"]["resourceVersion"]):
            raise _Reply(409, status_body=conflict_status("leases", name, OPTIMISTIC_LOCK_MSG, LEASE_GROUP))
        errs = [e for e in validate_lease(obj) if e[1].startswith("spec.")]    # ValidateLeaseUpdate
        if errs:
            raise _Reply(422, status_body=invalid_status(LEASE_QK, LEASE_GROUP, "Lease", name, errs))
        return 200, self._lease_store(ns, name, obj, cur, manager)

    def _lease_delete(self, ns, name, raw):
        """registry Store.Delete: DeleteOptions preconditions (rest.BeforeDelete), then 200 with a Success Status."""
        pre = {}
        if raw and raw.strip():
            try:
                opts = go_json_loads(raw)
            except (ValueError, UnicodeDecodeError) as e:
                raise _Reply(400, message=f"couldn't get version/kind; json parse error: {e}")
            if isinstance(opts, dict) and isinstance(opts.get("preconditions"), dict):
                pre = opts["preconditions"]
        with self.cond:
            cur = self.leases.get((ns, name))
            if cur is None:
                raise _Reply(404, status_body=not_found_status("leases", name, LEASE_GROUP))
            md = cur["metadata"]
            if pre.get("uid") is not None and pre["uid"] != md["uid"]:
                raise _Reply(409, status_body=status(409, "Conflict", (
                    f"Operation cannot be fulfilled on {LEASE_QK} {go_quote(name)}: the UID in the precondition "
                    f"({pre['uid']}) does not match the UID in record ({md['uid']}). The object might have been "
                    "deleted and then recreated"), details(name, LEASE_GROUP, "Lease")))
            if pre.get("resourceVersion") is not None and pre["resourceVersion"] != md["resourceVersion"]:
                raise _Reply(409, status_body=status(409, "Conflict", (
                    f"Operation cannot be fulfilled on {LEASE_QK} {go_quote(name)}: the ResourceVersion in the "
                    f"precondition ({pre['resourceVersion']}) does not match the ResourceVersion in record "
                    f"({md['resourceVersion']}). The object might have been modified"),
                    details(name, LEASE_GROUP, "Lease")))
            self._change("DELETED", "leases", _copy(cur))
        return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                     "details": details(name, LEASE_GROUP, "leases", md["uid"])}, []

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

    def _select(self, kind, token=None):
        return [w for w in self.watches if (kind is None or w.kind == kind) and
                (token is None or w.rec.get("token") == token)]

    def cut_watches(self, mid_line=False, reset=False, kind=None, wait=True, token=None):
        """Abruptly close open watch connections (no terminating chunk, no TLS close_notify). mid_line: first send
        half of a line (the next queued event's, else a made-up one) inside a chunk announced at full length.
        reset: close with a TCP RST. kind: "events", "configmaps" or "leases" only (default: every watch).
        token: only the watches opened with that bearer token. wait: return once they are closed (<= 2 s)."""
        with self.cond:
            ws = self._select(kind, token)
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
                  content_type=None, token=None, method=None):
        """The next n requests (whose path contains `path`; watch=True/False: only watches / only the rest; token:
        only those with that bearer token; method: only that HTTP method, e.g. "PUT") are answered status_code with
        a Status body (or `body`: dict -> JSON, str/bytes -> raw) and Retry-After, before authentication.
        status_code None: hold the request for `delay` seconds, then drop the connection without an answer."""
        with self.cond:
            for _ in range(n):
                self.fail.append((status_code, retry_after, body, path, watch, delay, content_type, token,
                                  method.upper() if method else None))

    def fail_token(self, token, status=503, retry_after=None, body=None, delay=0.0, content_type=None, cut=None):
        """Every request bearing `token` is answered `status` (a Status body like fail_next's, or `body`) until
        heal_token(token): the API failing for one client while others go on. status None: hold each request
        `delay` seconds, then drop its connection unanswered (unreachable, a partition). cut: also close that
        token's open watches abruptly now (default: when status is None). Checked before fail_next, whose entries
        such requests do not use up."""
        with self.cond:
            self.token_faults[token] = (status, retry_after, body, "", None, delay, content_type, token, None)
        if cut if cut is not None else status is None:
            self.cut_watches(token=token)

    def heal_token(self, token=None):
        """End fail_token for token (None: for every token)."""
        with self.cond:
            if token is None:
                self.token_faults.clear()
            else:
                self.token_faults.pop(token, None)
            self.cond.notify_all()

    def drop_token(self, token, cut=False):
        """Stop accepting token (401 Unauthorized from now on; other tokens unchanged). cut: also close its open
        watches (the real server does not re-authenticate open watches)."""
        with self.cond:
            self.tokens.discard(token)
        if cut:
            self.cut_watches(token=token)

    def set_tokens(self, tokens):
        """Replace the accepted bearer tokens (rotation); a dict maps each token to its user name (for 403
        messages; default system:serviceaccount:kube-system:kube-eventer)."""
        with self.cond:
            self.tokens = set(tokens)
            if isinstance(tokens, dict):
                self.token_users = dict(tokens)

    def user_of(self, token):
        return self.token_users.get(token, DEFAULT_USER)

    def set_forbidden(self, prefixes, verbs=None, tokens=None):
        """Answer 403 (RBAC, the real Status) to requests whose path starts with one of prefixes, e.g.
        "/api/v1/events" or "/apis/coordination.k8s.io/v1/namespaces/ns/leases"; verbs: only those RBAC verbs
        (get, list, watch, create, update, patch, delete), tokens: only those bearer tokens. Replaces every rule."""
        with self.cond:
            if verbs is None and tokens is None:
                self.forbidden = list(prefixes)
            else:
                self.forbidden = [(p, set(verbs) if verbs else None, set(tokens) if tokens else None)
                                  for p in prefixes]

    def add_forbidden(self, prefix, verbs=None, tokens=None):
        """One more 403 rule (see set_forbidden)."""
        with self.cond:
            self.forbidden.append((prefix, set(verbs) if verbs else None, set(tokens) if tokens else None))

    def _denied(self, path, verb, token):
        with self.cond:
            for r in self.forbidden:
                prefix, verbs, toks = (r, None, None) if isinstance(r, str) else r
                if path.startswith(prefix) and (verbs is None or verb in verbs) and (toks is None or token in toks):
                    return True
        return False

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
            fail = self.token_faults.get(rec.get("token")) if rec.get("token") else None
            for i, f in enumerate(self.fail if fail is None else ()):
                if f[3] in rec["path"] and (f[4] is None or f[4] == (rec["verb"] == "watch")) and \
                        (f[7] is None or f[7] == rec.get("token")) and (f[8] is None or f[8] == rec["method"]):
                    fail = self.fail.pop(i)
                    break
            self.cond.notify_all()
            return fail

    def _bookmark(self, kind, initial_end=False):
        md = {"resourceVersion": self.rv_str(self.rv)}
        if initial_end:
            md["annotations"] = {"k8s.io/initial-events-end": "true"}
        if self.bookmark_shape == "minimal":
            obj = {"kind": KINDS[kind][0], "apiVersion": API_VERSIONS[kind], "metadata": md}
        else:  # the zero-valued Go object with only the resourceVersion set, as the real server encodes it
            md["creationTimestamp"] = None
            obj = {"kind": KINDS[kind][0], "apiVersion": API_VERSIONS[kind], "metadata": md}
            if kind == "leases":
                obj["spec"] = {}
            if kind == "events":
                obj.update({"involvedObject": {}, "source": {}, "firstTimestamp": None, "lastTimestamp": None,
                            "eventTime": None, "reportingComponent": "", "reportingInstance": ""})
        self.stats["bookmarks"] += 1
        return b'{"type":"BOOKMARK","object":' + go_json(obj) + b"}\n"


# --- HTTP ----------------------------------------------------------------------------------------------------------
def _route(path):
    """-> (verb hint, resource, namespace, name, watch_path) or None for non-resource paths. /api/v1 serves events
    and configmaps, /apis/coordination.k8s.io/v1 leases."""
    parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
    if parts[:2] == ["api", "v1"] and len(parts) >= 3:
        group, rest = "", parts[2:]
    elif parts[:3] == ["apis", LEASE_GROUP, "v1"] and len(parts) >= 4:
        group, rest = LEASE_GROUP, parts[3:]
    else:
        return None
    watch_path = False
    if rest[0] == "watch":
        rest, watch_path = rest[1:], True
    ns = None
    if len(rest) >= 2 and rest[0] == "namespaces":
        ns, rest = rest[1], rest[2:]
    if not rest or GROUPS.get(rest[0]) != group or len(rest) > 2 or (len(rest) == 2 and ns is None):
        return ("unknown", rest[0] if rest else "", ns, None, watch_path)
    return ("collection" if len(rest) == 1 else "object", rest[0], ns, rest[1] if len(rest) == 2 else None,
            watch_path)


class _Reply(Exception):
    """An error answer decided while holding the lock, written after releasing it. status_body: a complete Status
    (built by not_found_status and the like) instead of one made from the other arguments."""

    def __init__(self, code, reason=None, message=None, details=None, headers=None, metadata=None, status_body=None):
        super().__init__(code, reason, message, details, headers, metadata)
        self.status_body = status_body


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
        for k, v in (headers.items() if isinstance(headers, dict) else headers or ()):
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

    def _read_body(self):
        """The request body (Content-Length or chunked), at most MAX_BODY bytes: None when larger."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = bytearray()
            for _ in range(MAX_BODY + 1):
                line = self.rfile.readline(1024)
                if not line:
                    raise ValueError("EOF inside a chunked request body")
                n = int(line.split(b";")[0].strip() or b"x", 16)
                if n == 0:
                    for _ in range(100):                  # trailers
                        if self.rfile.readline(65537) in (b"\r\n", b"\n", b""):
                            break
                    return bytes(out)
                if len(out) + n > MAX_BODY:
                    return None
                out += self.rfile.read(n)
                self.rfile.readline(3)
            raise ValueError("unbounded chunked body")
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0:
            raise ValueError("negative Content-Length")
        if n > MAX_BODY:
            return None
        return self.rfile.read(n) if n else b""

    @staticmethod
    def _verb(method, route, q):
        """The authorization verb (apiserver RequestInfo) of a resource request."""
        if not route or route[0] == "unknown":
            return None
        if method in ("GET", "HEAD"):
            if route[0] == "collection":
                try:
                    w = route[4] or _parse_bool(q.get("watch", ["false"])[0])
                except ValueError:
                    w = False
                return "watch" if w else "list"
            return "watch" if route[4] or q.get("watch", [""])[0] in ("1", "true") else "get"
        return {"POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "deletecollection" if route[0] == "collection" else "delete"}.get(method, method.lower())

    def _dispatch(self):
        api = self.api
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        route = _route(u.path)
        verb = self._verb(self.command, route, q)
        headers = {}
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = headers[k] + ", " + v if k in headers else v
        cn = self._client_cn()
        auth = self.headers.get("Authorization", "").strip()
        parts = auth.split(" ")
        token = parts[1] if len(parts) == 2 and parts[0].lower() == "bearer" else None
        rec = {"time": time.monotonic(), "wall": time.time(), "method": self.command, "path": u.path, "query": q,
               "headers": headers, "client_cert_cn": cn, "status": None, "verb": verb,
               "resource": route[1] if route else None, "namespace": route[2] if route else None,
               "name": route[3] if route else None, "conn": self.conn_id,
               "tls": self.connection.version() if api.tls else None, "token": token, "body": None,
               "raw_body": b""}
        self._rec = rec
        try:
            raw = self._read_body()
        except ValueError as e:
            self.close_connection = True
            return self._status(400, message=f"reading the request body: {e}")
        if raw is None:
            self.close_connection = True
            return self._status(413, message="request entity too large")
        rec["raw_body"] = raw
        if raw:
            try:
                rec["body"] = json.loads(raw)
            except ValueError:
                pass
        fail = api._record(rec)
        if fail:
            code, retry_after, body, delay, ctype = fail[0], fail[1], fail[2], fail[5], fail[6]
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
        with api.cond:
            token_ok = token is not None and token in api.tokens
        rec["auth"] = "token" if token_ok else "cert" if cn else None
        public = u.path in ("/version", "/healthz", "/livez", "/readyz") or u.path.startswith("/healthz/")
        if not token_ok and not cn and (auth or not (public or api.anonymous)):
            return self._status(401, message="Unauthorized")
        user = cn or (api.user_of(token) if token_ok else "system:anonymous")
        rec["user"] = user
        anonymous_denied = user == "system:anonymous" and not public
        lease_path = bool(route) and route[0] != "unknown" and route[1] == "leases"
        if self.command not in ("GET", "HEAD") and not lease_path:
            return self._status(405, message="the server does not allow this method on the requested resource")
        if u.path == "/version":
            return self._json(200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0-kubeapi-emulator",
                                    "gitCommit": "0" * 40, "gitTreeState": "clean",
                                    "buildDate": "2024-04-17T00:00:00Z", "goVersion": "go1.22.2", "compiler": "gc",
                                    "platform": "linux/amd64"})
        if public:
            return self._body(200, b"ok", "text/plain; charset=utf-8", {"X-Content-Type-Options": "nosniff"})
        path = u.path.rstrip("/")
        if path == "/api":
            return self._json(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"{api.host}:{api.port}"}]})
        verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
        if path == "/api/v1":
            return self._json(200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                {"name": "events", "singularName": "event", "namespaced": True, "kind": "Event", "verbs": verbs,
                 "shortNames": ["ev"]},
                {"name": "configmaps", "singularName": "configmap", "namespaced": True, "kind": "ConfigMap",
                 "verbs": verbs, "shortNames": ["cm"]}]})
        group_doc = {"name": LEASE_GROUP, "versions": [{"groupVersion": LEASE_GV, "version": "v1"}],
                     "preferredVersion": {"groupVersion": LEASE_GV, "version": "v1"}}
        if path == "/apis":
            return self._json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [group_doc]})
        if path == "/apis/" + LEASE_GROUP:
            return self._json(200, dict({"kind": "APIGroup", "apiVersion": "v1"}, **group_doc))
        if path == "/apis/" + LEASE_GV:
            return self._json(200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": LEASE_GV,
                                    "resources": [{"name": "leases", "singularName": "lease", "namespaced": True,
                                                   "kind": "Lease", "verbs": verbs}]})
        if route is None:
            return self._body(404, b"404 page not found\n", "text/plain; charset=utf-8",
                              {"X-Content-Type-Options": "nosniff"})
        kind_, resource, ns, name, _ = route
        if kind_ == "unknown":
            return self._status(404, message="the server could not find the requested resource")
        group = GROUPS[resource]
        if anonymous_denied or api._denied(u.path, verb, token):
            return self._json(403, forbidden_status(user, verb, resource, group, ns, name))
        if api.chunk_seed is not None:
            self.rng = random.Random(f"{api.chunk_seed}/{rec['seq']}")
        if verb not in ("get", "list", "watch", "create", "update", "patch", "delete") or \
                (verb == "create" and (kind_ != "collection" or ns is None)) or \
                (verb in ("update", "patch", "delete") and kind_ != "object"):
            return self._status(405, message="the server does not allow this method on the requested resource")
        if verb in ("create", "update", "patch", "delete"):
            return self._lease_write(verb, ns, name, q, raw, token, u.path)
        try:
            fsel = parse_field_selector(q.get("fieldSelector", [""])[0], resource)
            lsel = parse_label_selector(q.get("labelSelector", [""])[0])
        except ValueError as e:
            return self._status(400, message=str(e))
        if verb == "get":
            with api.cond:
                data = api._data[resource].get((ns, name))
            if data is None:
                return self._json(404, not_found_status(resource, name, group))
            return self._body(200, data)
        if name is not None:                  # watch of one object: a metadata.name selector
            fsel = fsel + [("metadata.name", "=", name)]
        try:
            if verb == "watch":
                return self._watch(resource, ns, fsel, lsel, q, rec)
            return self._list(resource, ns, fsel, lsel, q)
        except _Reply as r:
            return self._reply(r)

    def _reply(self, r):
        if r.status_body is not None:
            return self._json(r.args[0], r.status_body, r.args[4])
        return self._status(*r.args)

    def _lease_write(self, verb, ns, name, q, raw, token, path):
        """POST / PUT / PATCH / DELETE on leases."""
        api = self.api
        ctype = self.headers.get("Content-Type", "")
        mt = ctype.split(";")[0].strip().lower()
        if verb in ("create", "update") and mt not in ("", "*/*", "application/json"):
            return self._status(415, message="the body of the request was in an unknown format - accepted media "
                                             "types include: " + ", ".join(_INPUT_TYPES))
        if verb == "patch" and mt not in PATCH_TYPES[:3]:
            return self._status(415, message="the body of the request was in an unknown format - accepted media "
                                             "types include: " + ", ".join(PATCH_TYPES))
        manager = field_manager(q.get("fieldManager", [""])[0], self.headers.get("User-Agent", ""))
        try:
            code, body, warnings = api._lease_op(verb, ns, name, raw, q, manager,
                                                 lambda v: not api._denied(path, v, token), ctype)
        except _Reply as r:
            return self._reply(r)
        hdr = [("Warning", '299 - "%s"' % w.replace("\\", "\\\\").replace('"', '\\"')) for w in warnings]
        return self._json(code, body, hdr)

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
            body = go_json({"kind": KINDS[kind][1], "apiVersion": API_VERSIONS[kind], "metadata": meta,
                            "items": out})
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
    ap = argparse.ArgumentParser(description="Kubernetes API server emulator (events, configmaps, leases)")
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
