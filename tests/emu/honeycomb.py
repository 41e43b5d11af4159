"""Honeycomb Events API emulator for kube-eventer's tests.

Python 3.11 standard library only, loopback only.  Built on receivers.Recorder
(threaded HTTP/1.1, keep-alive, optional TLS, scripted responses), so
`script(Response(503), Response(429, headers={"Retry-After": "1"}), Response.close(), ...)`
answers the next requests before any emulation.

    hc = Honeycomb(keys=("hc-key",), max_body=5_000_000, max_event=1_000_000,
                   certfile=None, keyfile=None, host="127.0.0.1", port=0, start=True)
    hc.url                          # http://127.0.0.1:PORT (the sink's apihost=)

Inspection (thread-safe; copies):
    hc.events(dataset=None)   [{"dataset", "data", "time" (datetime, UTC; µs), "time_raw" (as sent),
                               "time_given" (bool: the event carried a `time` Honeycomb reads),
                               "samplerate", "keys" (the event's top-level keys, in order),
                               "batch" (the seq of its batch request)}]
                               in arrival order; dataset names compare case-insensitively
    hc.event_count()          events accepted (status 202)
    hc.batches()              one dict per POST /1/batch that passed authentication:
                               seq (0, 1, ...), dataset, n (events in the array, None when unreadable), bytes (raw
                               body), encoding, status (HTTP), statuses (the reply's array or
                               None), headers (lower-case), t (monotonic)
    hc.wait_events(n, timeout=10)   block until event_count() >= n (AssertionError after)
    hc.wait_batches(n, timeout=10)  block until n batch requests were answered

Faults:
    h = hc.fail_events(pred, status=503, error=None, times=1)
        each event for which pred(dataset, data) is true gets `status` (and `error`) in the
        reply's array instead of 202, `times` times per distinct event (its JSON); None =
        always.  h.hits counts them; h.cancel() removes it.
    hc.script(...)            whole-request answers (receivers.Response), e.g. 429 or 503.
    hc.down() / hc.up()       stop listening (connections refused, open ones closed) and come
                              back on the SAME port; stored events are kept.
    hc.set_keys(keys)         the write keys that are accepted.

What it does, and where it comes from
-------------------------------------
POST /1/batch/<dataset> (docs.honeycomb.io/api/events, "Create Events"): the body is a JSON
array of events, each with its payload under `data` and optionally `time` ("RFC3339 high
precision format", or a Unix epoch in seconds or finer) and `samplerate`; "An empty 202
response indicates that the event has been queued": the answer is HTTP 200 with one
{"status":202} per event, in order, failed events as {"status":4xx/5xx,"error":"..."}.  The
documented error texts are used: "Request body should not be empty.", "Request body is
malformed and cannot be read.", "Event has too many columns." (more than 2000 fields, the
documented limit).  Unknown top-level keys of an event are ignored, as Honeycomb ignores
them: an event without `time` gets its arrival time (why upstream's `Timestamp` never took
effect), an event without a `data` object is stored with empty data.  Dataset names are
case-insensitive and may hold URL-encoded characters except an encoded slash.

Authentication: X-Honeycomb-Team must hold a known key, else HTTP 401
{"error":"unknown API key - check your credentials"} -- the API's wording as quoted by
honeycombio/refinery (route/errors.go, ErrAuthNeeded) and by client tests written against
the API (honeylixir, honeycomb CLI tests); newer deployments append ", region, and API URL"
(seen in an OpenTelemetry collector log).

Limits: a batch request body of at most 5 000 000 bytes (libhoney-go transmission.go
apiMaxBatchSize, "the max json payload size for /1/batch of 5MB defined by the API",
libhoney-go#37), raw (compressed) size; one event "less than 1 MB of uncompressed JSON"
(docs, "Create an Event", Limits).  How the API answers past them is NOT documented: this
emulator answers a body over the limit with HTTP 413 {"error":"request body too large"}
and an event over the limit with {"status":400,"error":"event too large"} in the array
(both unverified wordings).

Content-Encoding gzip is accepted (the docs: "compressing request bodies with gzip or zstd");
zstd is answered 400 here (no zstd in Python's standard library), any other encoding 400.

Not emulated: /1/events (single events), /1/auth, OTLP, rate limits and administrative
throttling (use script() or fail_events() for 429/403), dataset creation permissions (404),
field types, the 64 KB string field limit (Honeycomb cuts longer strings).

Standalone: `python3 tests/emu/honeycomb.py [KEY]` prints {"url", "key", "pid"} as one JSON line
and serves until SIGINT/SIGTERM.
"""
import collections
import copy
import datetime
import itertools
import gzip
import json
import os
import sys
import threading
import time
import urllib.parse
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from receivers import Recorder, Response  # noqa: E402

__all__ = ["Honeycomb", "EventFault", "BATCH_MAX", "EVENT_MAX", "UNKNOWN_KEY"]

BATCH_MAX = 5_000_000
EVENT_MAX = 1_000_000
MAX_COLUMNS = 2000
UNKNOWN_KEY = "unknown API key - check your credentials"
JSON_CT = "application/json; charset=utf-8"


class EventFault:
    """Handle returned by Honeycomb.fail_events()."""

    def __init__(self, owner, pred, status, error, times):
        self._owner, self.pred, self.status, self.error, self.times = owner, pred, status, error, times
        self.hits = 0
        self._per_event = collections.Counter()

    def cancel(self):
        with self._owner._lock:
            if self in self._owner._faults:
                self._owner._faults.remove(self)

    def __repr__(self):
        return f"<EventFault {self.status} hits={self.hits}>"


def parse_time(v):
    """Honeycomb's `time`: RFC 3339 (any precision, Z or offset) or a Unix epoch number/string
    in seconds or milliseconds or finer.  -> aware UTC datetime, or None when unreadable."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)) or (isinstance(v, str) and v.replace(".", "", 1).isdigit()):
        x = float(v)
        while x > 1e11:          # ms, µs, ns -> s
            x /= 1000
        return datetime.datetime.fromtimestamp(x, datetime.timezone.utc)
    if not isinstance(v, str):
        return None
    s = v.strip()
    if s.endswith("Z") or s.endswith("z"):
        s = s[:-1] + "+00:00"
    frac = ""
    if "." in s:                 # fromisoformat takes at most 6 fractional digits
        head, _, rest = s.partition(".")
        digits = rest[:len(rest) - len(rest.lstrip("0123456789"))]
        frac = digits[:6].ljust(6, "0") if digits else ""
        s = head + ("." + frac if frac else "") + rest[len(digits):]
    try:
        d = datetime.datetime.fromisoformat(s)
    except ValueError:
        return None
    if d.tzinfo is None:
        return None
    return d.astimezone(datetime.timezone.utc)


class Honeycomb(Recorder):
    """Honeycomb batch Events API emulator (see the module docstring)."""

    def __init__(self, keys=("hc-test-key",), *, max_body=BATCH_MAX, max_event=EVENT_MAX, host="127.0.0.1",
                 port=0, certfile=None, keyfile=None, start=True, **kw):
        kw.setdefault("max_body", 64 << 20)      # the transport's ceiling; the API's is below
        super().__init__(host, port, certfile=certfile, keyfile=keyfile, start=False, **kw)
        self.batch_max = int(max_body)
        self.event_max = int(max_event)
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._keys = set(keys)
        self._faults = []
        self._events = []
        self._batches = []
        self._batch_seq = itertools.count()
        if start:
            self.start()

    # --- configuration and faults --------------------------------------------------
    def set_keys(self, keys):
        with self._lock:
            self._keys = set(keys)

    def fail_events(self, pred, status=503, error=None, times=1):
        if error is None:
            error = {429: "rate limited", 503: "service unavailable"}.get(status, f"emulated failure ({status})")
        f = EventFault(self, pred, int(status), error, times)
        with self._lock:
            self._faults.append(f)
        return f

    def down(self):
        """Stop listening (new connections are refused) and close open ones; events stay."""
        self.stop()

    def up(self):
        """Listen again on the same port."""
        self.start()
        return self

    # --- inspection -----------------------------------------------------------------
    def events(self, dataset=None):
        with self._lock:
            return [copy.deepcopy(e) for e in self._events
                    if dataset is None or e["dataset"].lower() == dataset.lower()]

    def event_count(self):
        with self._lock:
            return len(self._events)

    def batches(self):
        with self._lock:
            return [dict(b) for b in self._batches]

    def wait_events(self, n, timeout=10.0):
        return self._wait(lambda: len(self._events) >= n, timeout,
                          lambda: f"Honeycomb: {len(self._events)} event(s) after {timeout}s, wanted {n}")

    def wait_batches(self, n, timeout=10.0):
        self._wait(lambda: len(self._batches) >= n, timeout,
                   lambda: f"Honeycomb: {len(self._batches)} batch request(s) after {timeout}s, wanted {n}")
        return self.batches()

    def _wait(self, pred, timeout, msg):
        end = time.monotonic() + timeout
        with self._cond:
            while not pred():
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(msg())
                self._cond.wait(min(left, 0.25))
            return len(self._events)

    # --- the API ----------------------------------------------------------------------
    @staticmethod
    def _json(status, obj, headers=()):
        return Response(status, json.dumps(obj, separators=(",", ":")), [("Content-Type", JSON_CT), *headers])

    def handle(self, req):
        path = req.path
        if not path.startswith("/1/batch/"):
            return self._json(404, {"error": "not found"})
        dataset = urllib.parse.unquote(path[len("/1/batch/"):])
        if not dataset or "/" in dataset:
            return self._json(404, {"error": "not found"})
        if req.method != "POST":
            return self._json(405, {"error": "method not allowed"})
        with self._lock:
            known = req.header("x-honeycomb-team", "") in self._keys
        if not known:
            return self._json(401, {"error": UNKNOWN_KEY})
        rec = {"seq": next(self._batch_seq), "dataset": dataset, "n": None, "bytes": len(req.body), "status": None, "statuses": None,
               "encoding": req.header("content-encoding", ""), "headers": dict(req.headers), "t": time.monotonic()}
        resp = self._batch(req, dataset, rec)
        with self._cond:
            rec["status"] = resp.status
            self._batches.append(rec)
            self._cond.notify_all()
        return resp

    def _decode(self, req):
        """The body as JSON text, or an error Response."""
        body = req.body
        if len(body) > self.batch_max:
            return None, self._json(413, {"error": "request body too large"})
        enc = req.header("content-encoding", "").strip().lower()
        if enc == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError, zlib.error):
                return None, self._json(400, {"error": "Request body is malformed and cannot be read."})
        elif enc not in ("", "identity"):
            return None, self._json(400, {"error": f"unsupported content encoding: {enc}"})
        if not body.strip():
            return None, self._json(400, {"error": "Request body should not be empty."})
        return body, None

    def _batch(self, req, dataset, rec):
        body, err = self._decode(req)
        if err:
            return err
        try:
            arr = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return self._json(400, {"error": "Request body is malformed and cannot be read."})
        if not isinstance(arr, list):
            return self._json(400, {"error": "Request body is malformed and cannot be read."})
        rec["n"] = len(arr)
        statuses = [self._one(req, dataset, ev, rec["seq"]) for ev in arr]
        rec["statuses"] = statuses
        return self._json(200, statuses)

    def _fault_for(self, dataset, data, raw):
        for f in self._faults:
            if f.times is not None and f._per_event[raw] >= f.times:
                continue
            try:
                hit = f.pred(dataset, data)
            except Exception:       # noqa: BLE001 -- a predicate that does not fit this event
                hit = False
            if hit:
                f._per_event[raw] += 1
                f.hits += 1
                return {"status": f.status, "error": f.error}
        return None

    def _one(self, req, dataset, ev, seq):
        """One event of a batch -> its status entry; stores it when accepted."""
        if not isinstance(ev, dict):
            return {"status": 400, "error": "Request body is malformed and cannot be read."}
        raw = json.dumps(ev, sort_keys=True, separators=(",", ":"))
        if len(raw.encode()) >= self.event_max:
            return {"status": 400, "error": "event too large"}
        data = ev.get("data") if isinstance(ev.get("data"), dict) else {}
        if len(data) > MAX_COLUMNS:
            return {"status": 400, "error": "Event has too many columns."}
        with self._cond:
            fault = self._fault_for(dataset, data, raw)
            if fault:
                return fault
            t = parse_time(ev["time"]) if "time" in ev else None
            self._events.append({
                "dataset": dataset, "data": data,
                "time": t or datetime.datetime.fromtimestamp(req.wall, datetime.timezone.utc),
                "time_raw": ev.get("time"), "time_given": t is not None,
                "samplerate": ev.get("samplerate", 1), "keys": list(ev), "batch": seq,
            })
            self._cond.notify_all()
        return {"status": 202}


if __name__ == "__main__":       # python3 tests/emu/honeycomb.py [KEY] : serve until Ctrl-C
    import signal
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    key = sys.argv[1] if len(sys.argv) > 1 else "hc-test-key"
    hc = Honeycomb(keys=(key,))
    print(json.dumps({"url": hc.url, "key": key, "pid": os.getpid()}), flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        hc.stop()
