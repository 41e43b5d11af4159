"""Receiving-side emulators for kube-eventer's integration tests and benchmarks.

Python 3.11 standard library only; loopback only; every server binds port 0
(or a port you pass back in to restart on the same address) and reports it.

    Recorder     generic HTTP/1.1 webhook receiver: threaded, keep-alive, optional
                 TLS, records every request, scripted responses (status, headers,
                 body, delay, hang, close, reset, raw bytes).
    DingTalk     oapi.dingtalk.com/robot/send custom-robot emulator (token, HMAC
                 sign + timestamp, schema, 20000-byte body, 20/min rate limit).
    WeCom        qyapi.weixin.qq.com emulator: gettoken + message/send
                 (application messages) and webhook/send (group robots).
    ConnectProxy HTTP proxy: CONNECT tunnels and absolute-URI forwarding, records
                 every target, optional Proxy-Authorization.
    make_tls_files(dir)  CA + server certificate (IP SANs 127.0.0.1, ::1) via the
                 openssl CLI, for TLS receivers and CA-verification tests.

Error codes and limits, and where they come from (third-party reports are
quoted by the exact text the real services returned):

DingTalk custom robot (POST https://oapi.dingtalk.com/robot/send?access_token=T)
  0       "ok"
  300001  "token is not exist"          wrong access_token; seen verbatim in
          timonwong/prometheus-webhook-dingtalk#91, sdvdxl/falcon-message#7.
  310000  "sign not match, more: [...]" / "invalid timestamp, more: [...]" /
          "keywords not in content, more: [...]"  (jenkinsci/dingtalk-plugin#116,
          zhuifengshen/DingtalkChatbot#44, CatchZeng/dingtalk#2; DingTalk doc:
          timestamp in ms, within 1 hour of the server's clock).
  130101  "send too fast, exceed 20 times per minute" (HTTP 200; DingTalk doc
          "每个机器人每分钟最多发送20条消息到群里,如果超过20条,会限流10分钟" — the
          10-minute penalty is `penalty_seconds`, off by default for fast tests).
  460101  "message too long, exceed 20000 bytes" (SecCrawler#12,
          prometheus-webhook-dingtalk#30; newer wording "body 大小不合法 ... 20000bytes").
  40035   "缺少参数 json"  body not JSON / not a JSON object (nightingale#2704,
          easeprobe#467).  The emulator also uses it for a non-JSON Content-Type
          (that is why the real message names a "json" parameter) and for wrongly
          typed `at` fields — the latter is emulator strictness, not observed.
  400202  "miss param : text->content"   (prometheus-webhook-dingtalk fork issue #4)
  400402  markdown title missing         (cryozerolabs/n8n-nodes-dingtalk#10)
  400403  "miss param : markdown->text"  (feiyu563/PrometheusAlert#63)
  400105  unsupported msgtype — NOT verified against a source; chosen from the
          400xxx family above.  Wrong method → HTTP 405 (real behaviour unknown).

WeCom (https://qyapi.weixin.qq.com), errmsg format "<text>, hint: [...], from ip:
..., more info at https://open.work.weixin.qq.com/devtool/query?e=<code>" as the
service writes it (seen in watchvuln#146, Cloud189Checkin#175).  Codes from the
WeCom global error-code table (developer.work.weixin.qq.com/document/path/90313,
mirrored in binarywang/WxJava WxCpErrorMsgEnum):
  40001 invalid credential (wrong corpsecret), 40013 invalid corpid,
  41002 corpid missing, 41004 corpsecret missing (overtrue/laravel-wechat#235),
  41001 access_token missing, 40014 invalid access_token, 42001 access_token expired,
  41011 agentid missing, 40056 invalid agentid, 40008 invalid message type,
  82001 "All touser & toparty & totag invalid" (recipients all empty),
  81013 user & party & tag all invalid, 44004 empty content,
  40058 "<field> exceed max length N. invalid Request Parameter"
        (dromara/domain-admin#82, RayWangQvQ/BiliBiliTool#569),
  40033 invalid charset (non-UTF-8 / lone surrogate), 40035 invalid parameter
        (malformed JSON; WeCom says its errmsg then carries "Warning: wrong json format."),
  45009 "api freq out of limit" (WecomTeam/wecom-openclaw-plugin#48),
  93000 "invalid webhook url" (wrong robot key; watchvuln#146, qd-today/qd#586).
  gettoken: expires_in 7200, the same token is returned while it is valid
  (WeCom "获取access_token" doc).  Robot limits (doc 91770 "群机器人配置说明"):
  text.content <= 2048 bytes UTF-8, markdown.content <= 4096 bytes, 20 msgs/min.
  Application message text: the doc says <= 2048 bytes "超过将截断" (truncated),
  while a real rejection at 5120 was observed (JD_tencent_scf#278); this emulator
  rejects above `app_text_max` (default 2048, per the brief) — configurable.
"""
import base64
import collections
import hashlib
import hmac
import http.client
import itertools
import json
import os
import secrets
import select
import socket
import ssl
import struct
import subprocess
import threading
import time
import traceback
import urllib.parse

__all__ = ["Request", "Response", "Recorder", "DingTalk", "WeCom", "ConnectProxy",
           "ProxyRecord", "make_tls_files", "dingtalk_sign"]

_REASONS = {
    100: "Continue", 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
    301: "Moved Permanently", 302: "Found", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 407: "Proxy Authentication Required",
    408: "Request Timeout", 409: "Conflict", 410: "Gone", 413: "Content Too Large",
    429: "Too Many Requests", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
    501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}

MAX_HEAD = 64 * 1024            # request line + headers
MAX_CHUNK_LINE = 1024
_HOP_BY_HOP = {"connection", "proxy-connection", "keep-alive", "proxy-authorization",
               "proxy-authenticate", "te", "trailer", "transfer-encoding", "upgrade"}


class _Closed(Exception):
    """Peer closed, timed out or sent something we cannot parse (connection ends)."""


class _BadRequest(Exception):
    def __init__(self, status, why):
        super().__init__(why)
        self.status = status


class _Reader:
    """Minimal buffered reader over a (possibly TLS) socket."""

    __slots__ = ("sock", "buf")

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def _fill(self):
        try:
            data = self.sock.recv(65536)
        except (OSError, ValueError) as e:   # timeout, reset, shut down, closed
            raise _Closed(str(e))
        if not data:
            raise _Closed("eof")
        self.buf += data

    def head(self):
        """Bytes of the request line + headers (without the blank line)."""
        buf = self.buf
        while True:
            # RFC 9112 §2.2: ignore empty lines before the request line.
            while buf[:2] == b"\r\n":
                del buf[:2]
            i = buf.find(b"\r\n\r\n")
            if i >= 0:
                h = bytes(buf[:i])
                del buf[:i + 4]
                return h
            if len(buf) > MAX_HEAD:
                raise _BadRequest(431, "header section too large")
            self._fill()

    def line(self, limit):
        buf = self.buf
        while True:
            i = buf.find(b"\r\n")
            if i >= 0:
                ln = bytes(buf[:i])
                del buf[:i + 2]
                return ln
            if len(buf) > limit:
                raise _BadRequest(400, "line too long")
            self._fill()

    def exact(self, n):
        buf = self.buf
        while len(buf) < n:
            self._fill()
        data = bytes(buf[:n])
        del buf[:n]
        return data

    def chunked(self, limit):
        out = bytearray()
        for _ in range(1 << 20):            # bounded number of chunks
            size_line = self.line(MAX_CHUNK_LINE)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequest(400, "bad chunk size")
            if size == 0:
                for _ in range(1000):       # trailers
                    if not self.line(MAX_HEAD):
                        return bytes(out)
                raise _BadRequest(400, "too many trailers")
            if len(out) + size > limit:
                raise _BadRequest(413, "body too large")
            out += self.exact(size)
            if self.exact(2) != b"\r\n":
                raise _BadRequest(400, "bad chunk terminator")
        raise _BadRequest(400, "too many chunks")


def _parse_head(head):
    """-> (method, target, version, headers{lower: value}, header_list[(name, value)])."""
    text = head.decode("utf-8", "surrogateescape")
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise _BadRequest(400, "bad request line")
    headers = {}
    hlist = []
    for ln in lines[1:]:
        name, sep, value = ln.partition(":")
        if not sep or not name or name != name.strip():
            raise _BadRequest(400, "bad header line")
        value = value.strip()
        hlist.append((name, value))
        lk = name.lower()
        if lk in headers:
            headers[lk] = headers[lk] + ", " + value
        else:
            headers[lk] = value
    return parts[0], parts[1], parts[2], headers, hlist


def _split_target(target):
    """Origin path and raw query from an origin-form or absolute-form target."""
    if target.startswith(("http://", "https://")):
        rest = target.split("://", 1)[1]
        i = rest.find("/")
        target = rest[i:] if i >= 0 else "/"
    path, _, query = target.partition("?")
    path = path.partition("#")[0]
    return path, query.partition("#")[0]


def _json_bytes(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _first(params, key):
    v = params.get(key)
    return v[0] if v else None


class Request:
    """One recorded HTTP request.

    seq        0-based arrival order across the whole receiver
    t, wall    time.monotonic() / time.time() when the body was fully received
    conn       connection id (1, 2, ...): equal ids = the same TCP connection
    conn_seq   0-based index of this request on its connection (keep-alive reuse)
    peer       (ip, port) of the client; tls: True on a TLS receiver
    method, target (raw request-target), path (raw, not percent-decoded),
    query (raw string), params (parsed, multi-valued: {k: [v, ...]}), version
    headers    {lower-case name: value} (repeats joined with ", "); header_list raw
    body       bytes (chunked bodies de-chunked)
    status     HTTP status the receiver answered (None for hang/close/reset)
    errcode, errmsg, accepted   set by the chat emulators
    """

    __slots__ = ("seq", "t", "wall", "conn", "conn_seq", "peer", "tls", "method", "target",
                 "path", "query", "version", "headers", "header_list", "body", "status",
                 "errcode", "errmsg", "accepted", "_params", "_json")

    def __init__(self):
        self.status = self.errcode = self.errmsg = self.accepted = None
        self._params = self._json = None

    @property
    def params(self):
        if self._params is None:
            self._params = urllib.parse.parse_qs(self.query, keep_blank_values=True)
        return self._params

    def param(self, key, default=None):
        v = self.params.get(key)
        return v[0] if v else default

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    @property
    def text(self):
        return self.body.decode("utf-8")

    def json(self):
        if self._json is None:
            self._json = json.loads(self.body)
        return self._json

    def __repr__(self):
        return (f"<Request #{self.seq} conn={self.conn}.{self.conn_seq} {self.method} {self.target} "
                f"{len(self.body)}B status={self.status} errcode={self.errcode}>")


class Response:
    """A scripted answer.

    status, headers (dict or list of pairs; e.g. {"Retry-After": "2"}), body
    (bytes, str, or a dict/list sent as JSON with Content-Type application/json),
    delay (seconds before answering; interrupted by stop), action:
      None     answer normally
      "hang"   accept the request and answer only after release() (with this
               status/body); on stop(), after hang_max, or when the client goes
               away (plain TCP) the connection is closed without an answer
      "close"  close the connection without answering (FIN)
      "reset"  close with RST (SO_LINGER 0)
    raw: exact bytes to send instead of a generated response (malformed replies).
    keep_alive=False adds "Connection: close" and closes after answering.
    """

    __slots__ = ("status", "headers", "body", "delay", "action", "raw", "keep_alive")

    def __init__(self, status=200, body=b"", headers=None, delay=0.0, action=None, raw=None,
                 keep_alive=True):
        if action not in (None, "hang", "close", "reset"):
            raise ValueError(f"unknown action {action!r}")
        hdrs = list(headers.items()) if isinstance(headers, dict) else list(headers or ())
        if isinstance(body, (dict, list)):
            body = _json_bytes(body)
            if not any(k.lower() == "content-type" for k, _ in hdrs):
                hdrs.append(("Content-Type", "application/json"))
        elif isinstance(body, str):
            body = body.encode("utf-8")
        self.status, self.headers, self.body = int(status), hdrs, bytes(body or b"")
        self.delay, self.action, self.raw, self.keep_alive = float(delay), action, raw, keep_alive

    @classmethod
    def hang(cls, status=200, body=b"", **kw):
        return cls(status, body, action="hang", **kw)

    @classmethod
    def close(cls):
        return cls(action="close")

    @classmethod
    def reset(cls):
        return cls(action="reset")

    def encode(self, close, head_only=False):
        if self.raw is not None:
            return self.raw
        parts = [f"HTTP/1.1 {self.status} {_REASONS.get(self.status, 'Status')}\r\n"]
        for k, v in self.headers:
            parts.append(f"{k}: {v}\r\n")
        if not (100 <= self.status < 200 or self.status in (204, 304)):
            parts.append(f"Content-Length: {len(self.body)}\r\n")
        if close:
            parts.append("Connection: close\r\n")
        parts.append("\r\n")
        head = "".join(parts).encode("utf-8")
        return head if head_only else head + self.body

    def __repr__(self):
        return f"<Response {self.status} {self.action or ''} {len(self.body)}B delay={self.delay}>"


def _as_response(r):
    if isinstance(r, Response):
        return r
    if isinstance(r, int):
        return Response(r)
    if isinstance(r, dict):
        return Response(**r)
    if isinstance(r, tuple):
        return Response(*r)
    raise TypeError(f"cannot make a Response from {r!r}")


class _Server:
    """Threaded loopback TCP server: one daemon thread accepts, one per connection."""

    def __init__(self, host, port, certfile, keyfile, idle_timeout):
        self.host = host
        self.port = port
        self.idle_timeout = idle_timeout
        self._ctx = None
        if certfile:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(certfile, keyfile)
            self._ctx = ctx
        self._lsock = None
        self._accept_thread = None
        self._stopping = threading.Event()
        self._conns = set()
        self._conns_lock = threading.Lock()
        self._conn_ids = itertools.count(1)
        self.tls_failures = 0        # handshakes that failed (e.g. client rejected our cert)
        self.connections = 0         # accepted TCP connections

    @property
    def tls(self):
        return self._ctx is not None

    @property
    def url(self):
        h = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{h}:{self.port}"

    def url_for(self, path="/"):
        return self.url + path

    def start(self):
        """Bind (the same port again after a stop(), so outages can be simulated)."""
        if self._accept_thread is not None:
            return self
        fam = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        ls = socket.socket(fam, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((self.host, self.port))
        ls.listen(1024)
        ls.settimeout(0.1)
        self.port = ls.getsockname()[1]
        self._lsock = ls
        self._stopping = threading.Event()
        self._on_start()
        t = threading.Thread(target=self._accept_loop, args=(ls, self._stopping),
                             name=f"{type(self).__name__}-accept:{self.port}", daemon=True)
        self._accept_thread = t
        t.start()
        return self

    def _on_start(self):
        pass

    def stop(self):
        """Stop accepting, close every connection (hung ones included). Fast (< 1 s)."""
        t = self._accept_thread
        if t is None:
            return
        self._stopping.set()
        self._on_stop()
        with self._conns_lock:
            conns = list(self._conns)
            self._conns.clear()
        for s in conns:
            _hard_close(s, shutdown=True)
        t.join(1.0)
        try:
            self._lsock.close()
        except OSError:
            pass
        self._accept_thread = None

    def _on_stop(self):
        pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _accept_loop(self, ls, stopping):
        while not stopping.is_set():
            try:
                s, addr = ls.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            if stopping.is_set():
                s.close()
                break
            cid = next(self._conn_ids)
            self.connections += 1
            with self._conns_lock:
                self._conns.add(s)
            threading.Thread(target=self._conn_main, args=(s, addr, cid, stopping),
                             name=f"{type(self).__name__}-conn{cid}", daemon=True).start()

    def _conn_main(self, s, addr, cid, stopping):
        raw = s
        try:
            s.settimeout(self.idle_timeout)
            try:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            if self._ctx is not None:
                try:
                    s.settimeout(5.0)
                    s = self._ctx.wrap_socket(s, server_side=True)
                    s.settimeout(self.idle_timeout)
                except (OSError, ssl.SSLError):
                    with self._conns_lock:
                        self.tls_failures += 1
                    return
            self._serve(s, addr, cid, stopping)
        except Exception:   # never let a connection thread print a traceback
            pass
        finally:
            with self._conns_lock:
                self._conns.discard(raw)
            _hard_close(s)
            if s is not raw:
                _hard_close(raw)

    def _serve(self, s, addr, cid, stopping):
        raise NotImplementedError


def _peer_gone(s):
    """True if the client closed its side (plain TCP only; TLS sockets cannot peek)."""
    if isinstance(s, ssl.SSLSocket):
        return False
    try:
        r, _, _ = select.select([s], [], [], 0)
        return bool(r) and s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except (OSError, ValueError):
        return True


def _hard_close(s, shutdown=False, rst=False):
    try:
        if rst:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif shutdown:
            s.shutdown(socket.SHUT_RDWR)
    except (OSError, ValueError):
        pass
    try:
        s.close()
    except (OSError, ValueError):
        pass


class Recorder(_Server):
    """Generic HTTP/1.1 webhook receiver that records every request.

    Recorder(host="127.0.0.1", port=0, certfile=None, keyfile=None, default=None,
             keep_alive=True, idle_timeout=30, hang_max=120, max_body=64 MiB,
             record=True, max_records=None, max_requests_per_conn=1_000_000, start=True)

    host "::1" listens on IPv6.  With certfile/keyfile it serves TLS (see
    make_tls_files).  `default` is the Response used when nothing is scripted
    (200, {"errcode":0,"errmsg":"ok"}).  record=False keeps only the counter
    (`total`) — for benchmarks; max_records keeps the last N.

    Attributes: port, url, requests (copy of the list), total, connections,
    hanging, tls_failures, errors (tracebacks from handle(); answered 500).
    Methods: script(*responses), set_default(...),
    release(), wait_for(count, timeout), wait_quiet(quiet, timeout),
    bodies_json(), clear(), start(), stop() (then start() again binds the same
    port: a sink outage), context manager.
    """

    DEFAULT_BODY = {"errcode": 0, "errmsg": "ok"}

    def __init__(self, host="127.0.0.1", port=0, *, certfile=None, keyfile=None, default=None,
                 keep_alive=True, idle_timeout=30.0, hang_max=120.0, max_body=64 << 20,
                 record=True, max_records=None, max_requests_per_conn=1_000_000, start=True):
        super().__init__(host, port, certfile, keyfile, idle_timeout)
        self.keep_alive = keep_alive
        self.hang_max = hang_max
        self.max_body = max_body
        self.record = record
        self.max_requests_per_conn = max_requests_per_conn
        self._records = collections.deque(maxlen=max_records) if max_records else []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self.total = 0
        self._script = collections.deque()
        self._release_ev = threading.Event()
        self.hanging = 0
        self.errors = []            # tracebacks of exceptions raised by handle()
        self.set_default(default if default is not None else Response(200, self.DEFAULT_BODY))
        if start:
            self.start()

    # --- programming responses -------------------------------------------------
    def set_default(self, response=None, **kw):
        """Default answer: a Response / int status / dict of Response kwargs."""
        r = _as_response(response if response is not None else kw)
        self._default = r
        self._default_bytes = (r.encode(False), r.encode(True))
        return r

    def script(self, *responses):
        """Queue responses used, in order, by the next requests (before any emulation)."""
        for r in responses:
            self._script.append(_as_response(r))
        return self

    def pending_script(self):
        return len(self._script)

    def release(self):
        """Let every currently hung request answer (with its hang Response)."""
        ev, self._release_ev = self._release_ev, threading.Event()
        ev.set()

    def _on_start(self):
        self._release_ev = threading.Event()

    def _on_stop(self):
        self._release_ev.set()      # hung threads wake, see stopping, close without answer

    # --- reading what arrived --------------------------------------------------
    @property
    def requests(self):
        with self._cond:
            return list(self._records)

    def clear(self):
        """Forget recorded requests (scripts and emulator state are kept)."""
        with self._cond:
            self._records.clear()
            self.total = 0

    def wait_for(self, count, timeout=10.0):
        """Block until at least `count` requests arrived; returns the recorded list."""
        end = time.monotonic() + timeout
        with self._cond:
            while self.total < count:
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{type(self).__name__}: {self.total} request(s) "
                                         f"after {timeout}s, wanted {count}")
                self._cond.wait(min(left, 0.25))
            return list(self._records)

    def wait_quiet(self, quiet=0.3, timeout=10.0):
        """Wait until no request arrived for `quiet` seconds; returns total."""
        end = time.monotonic() + timeout
        last = self.total
        mark = time.monotonic()
        while True:
            now = time.monotonic()
            if self.total != last:
                last, mark = self.total, now
            elif now - mark >= quiet:
                return last
            if now > end:
                raise AssertionError(f"{type(self).__name__}: still receiving after {timeout}s")
            time.sleep(min(0.02, quiet / 4))

    def bodies_json(self):
        return [r.json() for r in self.requests]

    def bodies(self):
        return [r.body for r in self.requests]

    # --- emulation hook ----------------------------------------------------------
    def handle(self, req):
        """Subclasses answer here (return a Response); None = the default response."""
        return None

    # --- the connection loop -----------------------------------------------------
    def _record(self, req):
        with self._cond:
            req.seq = next(self._seq)
            if self.record:
                self._records.append(req)
            self.total += 1
            self._cond.notify_all()

    def _serve(self, s, addr, cid, stopping):
        rd = _Reader(s)
        tls = self.tls
        peer = addr[:2]
        for n in range(self.max_requests_per_conn):
            if stopping.is_set():
                return
            try:
                head = rd.head()
                method, target, version, headers, hlist = _parse_head(head)
                te = headers.get("transfer-encoding")
                if te is not None:
                    if te.lower() != "chunked":
                        raise _BadRequest(501, "unsupported transfer-encoding")
                    if headers.get("expect", "").lower() == "100-continue":
                        s.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                    body = rd.chunked(self.max_body)
                else:
                    cl = headers.get("content-length")
                    if cl:
                        if not cl.isdigit():
                            raise _BadRequest(400, "bad content-length")
                        n_body = int(cl)
                        if n_body > self.max_body:
                            raise _BadRequest(413, "body too large")
                        if n_body and headers.get("expect", "").lower() == "100-continue" \
                                and len(rd.buf) < n_body:
                            s.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                        body = rd.exact(n_body) if n_body else b""
                    else:
                        body = b""
            except _BadRequest as e:
                try:
                    s.sendall(Response(e.status, str(e)).encode(True))
                except OSError:
                    pass
                return
            except _Closed:
                return
            req = Request()
            req.t = time.monotonic()
            req.wall = time.time()
            req.conn, req.conn_seq, req.peer, req.tls = cid, n, peer, tls
            req.method, req.target, req.version = method, target, version
            req.path, req.query = _split_target(target)
            req.headers, req.header_list, req.body = headers, hlist, body

            conn_hdr = headers.get("connection", "").lower()
            close = (not self.keep_alive or "close" in conn_hdr
                     or (version == "HTTP/1.0" and "keep-alive" not in conn_hdr)
                     or n + 1 >= self.max_requests_per_conn)
            try:
                resp = self._script.popleft()
            except IndexError:
                try:
                    resp = self.handle(req)
                except Exception:   # an emulator bug: answer 500 and keep the traceback
                    tb = traceback.format_exc()
                    self.errors.append(tb)
                    resp = Response(500, tb, keep_alive=False)
            if resp is None:
                req.status = self._default.status
                self._record(req)
                if self._default.delay and stopping.wait(self._default.delay):
                    return
                data = self._default_bytes[1 if close else 0]
                if method == "HEAD":
                    data = self._default.encode(close, head_only=True)
                try:
                    s.sendall(data)
                except OSError:
                    return
                if close:
                    return
                continue
            if resp.action is None:
                req.status = resp.status
            self._record(req)
            if resp.action == "close":
                return
            if resp.action == "reset":
                _hard_close(s, rst=True)
                return
            if resp.delay and stopping.wait(resp.delay):
                return
            if resp.action == "hang":
                ev = self._release_ev
                with self._conns_lock:
                    self.hanging += 1
                try:
                    end = time.monotonic() + self.hang_max
                    while not ev.is_set() and not stopping.is_set() and time.monotonic() < end:
                        if ev.wait(0.05) or _peer_gone(s):
                            break
                finally:
                    with self._conns_lock:
                        self.hanging -= 1
                if stopping.is_set() or not ev.is_set():
                    return
                req.status = resp.status
            close = close or not resp.keep_alive
            try:
                s.sendall(resp.encode(close, head_only=(method == "HEAD")))
            except OSError:
                return
            if close:
                return


# ----------------------------------------------------------------------------------
# DingTalk custom robot
# ----------------------------------------------------------------------------------

def dingtalk_sign(secret, timestamp_ms):
    """base64(HMAC-SHA256(key=secret, msg=f"{ts}\\n{secret}")) — NOT URL-encoded.

    DingTalk doc ("自定义机器人安全设置 / 加签"); check value from KUBE-EVENTER.md:
    dingtalk_sign("SECabc", 1700000000000) == "jcUpW0QmtKduN03n4JqQ0PBosVjqnM8gU7fIIvsDmCM=".
    """
    key = secret.encode("utf-8")
    msg = f"{timestamp_ms}\n{secret}".encode("utf-8")
    return base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode("ascii")


class _RateWindow:
    """Rolling-window counter per key (accepted messages), optional penalty."""

    def __init__(self, limit, window, penalty=0.0):
        self.limit, self.window, self.penalty = limit, window, penalty
        self._hits = {}
        self._blocked_until = {}

    def check(self, key, now):
        """True if one more message may pass (and counts it)."""
        if self.limit is None:
            return True
        if self._blocked_until.get(key, 0) > now:
            return False
        q = self._hits.setdefault(key, collections.deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        if len(q) >= self.limit:
            if self.penalty:
                self._blocked_until[key] = now + self.penalty
            return False
        q.append(now)
        return True

    def reset(self):
        self._hits.clear()
        self._blocked_until.clear()


class DingTalk(Recorder):
    """oapi.dingtalk.com/robot/send emulator.

    DingTalk(token="T", secret=None, *, limit=20, window_seconds=60, penalty_seconds=0,
             max_body=20000, timestamp_tolerance_ms=3_600_000, keywords=None,
             strict_content_type=True, clock=time.time, path="/robot/send", **Recorder kwargs)

    token may be one string or several.  With `secret`, `timestamp` (ms, within
    the tolerance of clock()) and `sign` (URL-encoded in the query; compared
    after decoding, so an unencoded '+' fails as it does for real) are required.
    All errors are HTTP 200 + {"errcode": N, "errmsg": ...} like the real API.
    accepted / rejected: lists of Request (r.json() is the message; rejected ones
    carry r.errcode / r.errmsg).  messages() = accepted JSON bodies.
    """

    MORE = "more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"

    def __init__(self, token="T", secret=None, *, limit=20, window_seconds=60.0, penalty_seconds=0.0,
                 max_body=20000, timestamp_tolerance_ms=3_600_000, keywords=None,
                 strict_content_type=True, clock=time.time, path="/robot/send", start=True, **kw):
        super().__init__(start=False, **kw)
        self.tokens = {token} if isinstance(token, str) else set(token)
        self.secret = secret
        self.rate = _RateWindow(limit, window_seconds, penalty_seconds)
        self.max_message = max_body
        self.timestamp_tolerance_ms = timestamp_tolerance_ms
        self.keywords = list(keywords) if keywords else None
        self.strict_content_type = strict_content_type
        self.clock = clock
        self.robot_path = path
        self.accepted = []
        self.rejected = []
        self._emu_lock = threading.Lock()
        if start:
            self.start()

    sign = staticmethod(dingtalk_sign)

    def signed_query(self, timestamp_ms=None):
        """Query string a correct client would send (for tests of the emulator itself)."""
        tok = sorted(self.tokens)[0]
        q = {"access_token": tok}
        if self.secret is not None:
            ts = int(self.clock() * 1000) if timestamp_ms is None else timestamp_ms
            q["timestamp"] = str(ts)
            q["sign"] = dingtalk_sign(self.secret, ts)
        return urllib.parse.urlencode(q)

    def messages(self):
        with self._emu_lock:
            return [r.json() for r in self.accepted]

    def rejected_codes(self):
        with self._emu_lock:
            return [r.errcode for r in self.rejected]

    def wait_accepted(self, count, timeout=10.0):
        end = time.monotonic() + timeout
        while len(self.accepted) < count:
            if time.monotonic() > end:
                raise AssertionError(f"DingTalk: {len(self.accepted)} accepted after {timeout}s, wanted {count}"
                                     f" (rejected: {self.rejected_codes()})")
            time.sleep(0.01)
        return self.messages()

    def clear(self):
        super().clear()
        with self._emu_lock:
            self.accepted.clear()
            self.rejected.clear()
            self.rate.reset()

    def _err(self, req, code, msg):
        req.errcode, req.errmsg, req.accepted = code, msg, False
        with self._emu_lock:
            self.rejected.append(req)
        return Response(200, {"errcode": code, "errmsg": msg})

    def handle(self, req):
        if req.path != self.robot_path:
            return Response(404, {"errcode": 404, "errmsg": "请求的URI地址不存在"})
        if req.method != "POST":
            return Response(405, b"", {"Allow": "POST"})
        p = req.params
        if _first(p, "access_token") not in self.tokens:
            return self._err(req, 300001, "token is not exist")
        if self.secret is not None:
            ts = _first(p, "timestamp")
            now_ms = int(self.clock() * 1000)
            if not ts or not ts.isdigit() or abs(now_ms - int(ts)) > self.timestamp_tolerance_ms:
                return self._err(req, 310000, f"invalid timestamp, {self.MORE}")
            sign = _first(p, "sign")
            if sign is None or not hmac.compare_digest(sign.encode("utf-8", "surrogateescape"),
                                                       dingtalk_sign(self.secret, ts).encode()):
                return self._err(req, 310000, f"sign not match, {self.MORE}")
        ct = req.headers.get("content-type", "").lower()
        if self.strict_content_type and not ct.startswith("application/json"):
            return self._err(req, 40035, "缺少参数 json")
        if len(req.body) > self.max_message:
            return self._err(req, 460101, f"message too long, exceed {self.max_message} bytes")
        try:
            msg = json.loads(req.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return self._err(req, 40035, "缺少参数 json")
        if not isinstance(msg, dict):
            return self._err(req, 40035, "缺少参数 json")
        req._json = msg
        mt = msg.get("msgtype")
        if mt == "text":
            t = msg.get("text")
            if not isinstance(t, dict) or not isinstance(t.get("content"), str) or not t["content"]:
                return self._err(req, 400202, "miss param : text->content")
            content = t["content"]
        elif mt == "markdown":
            m = msg.get("markdown")
            if not isinstance(m, dict) or not isinstance(m.get("title"), str) or not m["title"]:
                return self._err(req, 400402,
                                 "错误描述:参数 markdown --》 title 缺失，或者参数格式不正确; 解决方案:请填充上对应参数;")
            if not isinstance(m.get("text"), str) or not m["text"]:
                return self._err(req, 400403, "miss param : markdown->text")
            content = m["title"] + "\n" + m["text"]
        else:
            return self._err(req, 400105, f"不支持的消息类型 (emulator supports text, markdown): {mt!r}")
        at = msg.get("at")
        if at is not None:
            bad = None
            if not isinstance(at, dict):
                bad = "at must be an object"
            else:
                for k in ("atMobiles", "atUserIds"):
                    v = at.get(k)
                    if v is not None and not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
                        bad = f"at.{k} must be a list of strings"
                if "isAtAll" in at and not isinstance(at["isAtAll"], bool):
                    bad = "at.isAtAll must be a boolean"
            if bad:
                return self._err(req, 40035, f"缺少参数 json (emulator: {bad})")
        try:
            content.encode("utf-8")
        except UnicodeEncodeError:
            return self._err(req, 40035, "缺少参数 json (emulator: lone surrogate, not UTF-8)")
        if self.keywords and not any(k in content for k in self.keywords):
            return self._err(req, 310000, f"keywords not in content, {self.MORE}")
        with self._emu_lock:
            ok = self.rate.check(_first(p, "access_token"), time.monotonic())
        if not ok:
            return self._err(req, 130101, "send too fast, exceed 20 times per minute")
        req.errcode, req.errmsg, req.accepted = 0, "ok", True
        with self._emu_lock:
            self.accepted.append(req)
        return Response(200, {"errcode": 0, "errmsg": "ok"})


# ----------------------------------------------------------------------------------
# WeCom (WeChat Work)
# ----------------------------------------------------------------------------------

class WeCom(Recorder):
    """qyapi.weixin.qq.com emulator: application messages and group robots.

    WeCom(corpid="wwcorp", corpsecret="S", agentid=1000002, keys=("K",), *,
          token_ttl=7200, users=None, app_limit=None, app_window=60,
          robot_limit=20, robot_window=60, robot_penalty=0,
          app_text_max=2048, app_markdown_max=4096, robot_text_max=2048,
          robot_markdown_max=4096, **Recorder kwargs)

    GET  /cgi-bin/gettoken?corpid=&corpsecret=   -> access_token, expires_in
    POST /cgi-bin/message/send?access_token=T    -> {"errcode":0,"errmsg":"ok","invaliduser":""}
    POST /cgi-bin/webhook/send?key=K             -> {"errcode":0,"errmsg":"ok"}
    All answers are HTTP 200 with an errcode, as the real service does.

    token_fetches (count), tokens_issued (list), expire_tokens(),
    app_messages / robot_messages (accepted Requests), rejected (Requests with
    errcode/errmsg), app_bodies(), robot_bodies(), rejected_codes().
    `users`: if given, touser entries not in it are reported in invaliduser.
    Lengths are UTF-8 bytes of the decoded JSON string; a body that is not UTF-8,
    or a \\ud83d-style lone surrogate (a character cut in half), is 40033.
    """

    MORE = "more info at https://open.work.weixin.qq.com/devtool/query?e="

    def __init__(self, corpid="wwcorp", corpsecret="S", agentid=1000002, keys=("K",), *, token_ttl=7200,
                 users=None, app_limit=None, app_window=60.0, robot_limit=20, robot_window=60.0,
                 robot_penalty=0.0, app_text_max=2048, app_markdown_max=4096, robot_text_max=2048,
                 robot_markdown_max=4096, start=True, **kw):
        super().__init__(start=False, **kw)
        self.corpid, self.corpsecret, self.agentid = corpid, corpsecret, agentid
        self.keys = {keys} if isinstance(keys, str) else set(keys)
        self.token_ttl = token_ttl
        self.users = set(users) if users is not None else None
        self.app_rate = _RateWindow(app_limit, app_window)
        self.robot_rate = _RateWindow(robot_limit, robot_window, robot_penalty)
        self.app_text_max, self.app_markdown_max = app_text_max, app_markdown_max
        self.robot_text_max, self.robot_markdown_max = robot_text_max, robot_markdown_max
        self._tokens = collections.OrderedDict()     # token -> monotonic expiry
        self._current = None
        self.token_fetches = 0
        self.tokens_issued = []
        self.app_messages = []
        self.robot_messages = []
        self.rejected = []
        self._emu_lock = threading.Lock()
        if start:
            self.start()

    # --- control / inspection -----------------------------------------------------
    def expire_tokens(self):
        """Every token issued so far answers 42001 from now on; gettoken issues a new one."""
        with self._emu_lock:
            past = time.monotonic() - 1
            for t in self._tokens:
                self._tokens[t] = past
            self._current = None

    def valid_token(self):
        with self._emu_lock:
            return self._current

    def app_bodies(self):
        with self._emu_lock:
            return [r.json() for r in self.app_messages]

    def robot_bodies(self):
        with self._emu_lock:
            return [r.json() for r in self.robot_messages]

    def rejected_codes(self):
        with self._emu_lock:
            return [r.errcode for r in self.rejected]

    def wait_messages(self, count, timeout=10.0, kind="any"):
        """Wait for `count` accepted messages (kind: "app", "robot" or "any")."""
        end = time.monotonic() + timeout
        while True:
            n = {"app": len(self.app_messages), "robot": len(self.robot_messages)}.get(
                kind, len(self.app_messages) + len(self.robot_messages))
            if n >= count:
                return n
            if time.monotonic() > end:
                raise AssertionError(f"WeCom: {n} {kind} message(s) after {timeout}s, wanted {count} "
                                     f"(rejected: {self.rejected_codes()})")
            time.sleep(0.01)

    def clear(self):
        super().clear()
        with self._emu_lock:
            self.app_messages.clear()
            self.robot_messages.clear()
            self.rejected.clear()
            self.app_rate.reset()
            self.robot_rate.reset()
            self.token_fetches = 0

    # --- emulation ----------------------------------------------------------------
    def _errmsg(self, req, code, text):
        hint = f"{int(time.time())}{secrets.token_hex(6)}"
        return f"{text}, hint: [{hint}], from ip: {req.peer[0]}, {self.MORE}{code}"

    def _err(self, req, code, text):
        msg = self._errmsg(req, code, text)
        req.errcode, req.errmsg, req.accepted = code, msg, False
        with self._emu_lock:
            self.rejected.append(req)
        return Response(200, {"errcode": code, "errmsg": msg})

    def handle(self, req):
        path = req.path
        if path == "/cgi-bin/gettoken":
            return self._gettoken(req)
        if path == "/cgi-bin/message/send":
            return self._app_send(req)
        if path == "/cgi-bin/webhook/send":
            return self._robot_send(req)
        return Response(404, {"errcode": 404, "errmsg": "not found (emulator)"})

    def _gettoken(self, req):
        p = req.params
        corpid, secret = _first(p, "corpid"), _first(p, "corpsecret")
        if not corpid:
            return self._err(req, 41002, "corpid missing")
        if not secret:
            return self._err(req, 41004, "corpsecret missing")
        if corpid != self.corpid:
            return self._err(req, 40013, "invalid corpid")
        if secret != self.corpsecret:
            return self._err(req, 40001, "invalid credential")
        now = time.monotonic()
        with self._emu_lock:
            self.token_fetches += 1
            tok = self._current
            if tok is None or self._tokens.get(tok, 0) <= now:
                tok = secrets.token_urlsafe(48)
                self._tokens[tok] = now + self.token_ttl
                while len(self._tokens) > 1000:
                    self._tokens.popitem(last=False)
                self._current = tok
                self.tokens_issued.append(tok)
            left = max(1, int(self._tokens[tok] - now + 0.5))
        req.errcode, req.errmsg, req.accepted = 0, "ok", True
        return Response(200, {"errcode": 0, "errmsg": "ok", "access_token": tok, "expires_in": left})

    def _decode(self, req):
        """-> (message dict, None) or (None, Response)."""
        try:
            text = req.body.decode("utf-8")
        except UnicodeDecodeError:
            return None, self._err(req, 40033, "invalid charset. please check your request, "
                                               "if include \\uxxxx will create fail!")
        try:
            msg = json.loads(text)
        except ValueError:
            return None, self._err(req, 40035, "invalid parameter, Warning: wrong json format.")
        if not isinstance(msg, dict):
            return None, self._err(req, 40035, "invalid parameter, Warning: wrong json format.")
        req._json = msg
        return msg, None

    def _content(self, req, msg, text_max, md_max):
        """Validate msgtype + content; -> Response on error, else None."""
        mt = msg.get("msgtype")
        if mt not in ("text", "markdown"):
            return self._err(req, 40008, "invalid message type")
        part = msg.get(mt)
        content = part.get("content") if isinstance(part, dict) else None
        if content is None or content == "":
            return self._err(req, 44004, "empty content")
        if not isinstance(content, str):
            return self._err(req, 40058, f"{mt}.content invalid. invalid Request Parameter")
        try:
            n = len(content.encode("utf-8"))
        except UnicodeEncodeError:
            return self._err(req, 40033, "invalid charset. please check your request, "
                                         "if include \\uxxxx will create fail!")
        limit = text_max if mt == "text" else md_max
        if limit is not None and n > limit:
            return self._err(req, 40058, f"{mt}.content exceed max length {limit}. invalid Request Parameter")
        return None

    def _app_send(self, req):
        if req.method != "POST":
            return Response(405, b"", {"Allow": "POST"})
        tok = _first(req.params, "access_token")
        if not tok:
            return self._err(req, 41001, "access_token missing")
        with self._emu_lock:
            exp = self._tokens.get(tok)
        if exp is None:
            return self._err(req, 40014, "invalid access_token")
        if exp <= time.monotonic():
            return self._err(req, 42001, "access_token expired")
        msg, err = self._decode(req)
        if err:
            return err
        if "agentid" not in msg:
            return self._err(req, 41011, "agentid missing")
        aid = msg["agentid"]
        if isinstance(aid, bool) or not isinstance(aid, int) or aid != self.agentid:
            return self._err(req, 40056, "invalid agentid")
        err = self._content(req, msg, self.app_text_max, self.app_markdown_max)
        if err:
            return err
        rcpt = {}
        for k in ("touser", "toparty", "totag"):
            v = msg.get(k)
            if v is not None and not isinstance(v, str):
                return self._err(req, 40035, f"invalid parameter {k}")
            rcpt[k] = [x for x in (v or "").split("|") if x.strip()]
        if not any(rcpt.values()):
            return self._err(req, 82001, "All touser & toparty & totag invalid")
        invalid = []
        if self.users is not None and "@all" not in rcpt["touser"]:
            invalid = [u for u in rcpt["touser"] if u not in self.users]
            if len(invalid) == len(rcpt["touser"]) and not rcpt["toparty"] and not rcpt["totag"]:
                return self._err(req, 81013, "user & party & tag all invalid")
        with self._emu_lock:
            ok = self.app_rate.check(self.agentid, time.monotonic())
        if not ok:
            return self._err(req, 45009, "api freq out of limit")
        req.errcode, req.errmsg, req.accepted = 0, "ok", True
        with self._emu_lock:
            self.app_messages.append(req)
        return Response(200, {"errcode": 0, "errmsg": "ok", "invaliduser": "|".join(invalid)})

    def _robot_send(self, req):
        key = _first(req.params, "key")
        if key not in self.keys:
            return self._err(req, 93000, "invalid webhook url")
        if req.method != "POST":
            return Response(405, b"", {"Allow": "POST"})
        msg, err = self._decode(req)
        if err:
            return err
        err = self._content(req, msg, self.robot_text_max, self.robot_markdown_max)
        if err:
            return err
        if msg["msgtype"] == "text":
            for k in ("mentioned_list", "mentioned_mobile_list"):
                v = msg["text"].get(k)
                if v is not None and not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
                    return self._err(req, 40058, f"text.{k} invalid. invalid Request Parameter")
        with self._emu_lock:
            ok = self.robot_rate.check(key, time.monotonic())
        if not ok:
            return self._err(req, 45009, "api freq out of limit")
        req.errcode, req.errmsg, req.accepted = 0, "ok", True
        with self._emu_lock:
            self.robot_messages.append(req)
        return Response(200, {"errcode": 0, "errmsg": "ok"})


# ----------------------------------------------------------------------------------
# HTTP proxy
# ----------------------------------------------------------------------------------

class ProxyRecord:
    """One request the proxy saw.

    seq, t (monotonic), wall, conn (client connection id), method ("CONNECT" or
    the forwarded method), target (as sent), host, port, authority ("host:port",
    IPv6 in brackets), url (absolute URI for forwarded requests), headers,
    authorized (bool), status (what the proxy answered: 200, 407, 502 ...),
    bytes_up / bytes_down (tunnel or forwarded payload sizes).
    """

    __slots__ = ("seq", "t", "wall", "conn", "method", "target", "host", "port", "authority", "url",
                 "headers", "authorized", "status", "bytes_up", "bytes_down")

    def __repr__(self):
        return f"<Proxy #{self.seq} {self.method} {self.authority} -> {self.status}>"


def _split_authority(auth, default_port):
    if auth.startswith("["):
        host, _, rest = auth[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif auth.count(":") > 1:
        raise _BadRequest(400, "an IPv6 authority needs brackets: [addr]:port")
    else:
        host, _, port = auth.rpartition(":")
    if not host:
        raise _BadRequest(400, "bad authority")
    try:
        p = int(port) if port else default_port
    except ValueError:
        raise _BadRequest(400, "bad port")
    if not 0 < p < 65536:
        raise _BadRequest(400, "bad port")
    return host, p


def _fmt_authority(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ConnectProxy(_Server):
    """Loopback HTTP proxy: CONNECT tunnels (HTTPS) and absolute-URI forwarding (HTTP).

    ConnectProxy(host="127.0.0.1", port=0, *, auth=None, idle_timeout=30,
                 connect_timeout=5, start=True, routes=None)

    auth="user:pass" requires `Proxy-Authorization: Basic ...` (else 407 with
    Proxy-Authenticate).  records (list of ProxyRecord), targets() -> ["host:port"],
    wait_for(count, timeout), clear(), url, url_with_auth.  Upstream failures
    answer 502.  Targets are not restricted: tests point it at loopback receivers.
    """

    def __init__(self, host="127.0.0.1", port=0, *, auth=None, idle_timeout=30.0, connect_timeout=5.0,
                 start=True, routes=None):
        super().__init__(host, port, None, None, idle_timeout)
        self.auth = auth
        # "name:port" -> (host, port): reach public names (qyapi.weixin.qq.com:443) on loopback
        self.routes = dict(routes or {})
        self._expect = ("Basic " + base64.b64encode(auth.encode()).decode()) if auth else None
        self.connect_timeout = connect_timeout
        self._records = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        if start:
            self.start()

    @property
    def url_with_auth(self):
        if not self.auth:
            return self.url
        user, _, pw = self.auth.partition(":")
        h = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(pw, safe='')}@{h}:{self.port}"

    @property
    def records(self):
        with self._cond:
            return list(self._records)

    def targets(self):
        return [r.authority for r in self.records]

    def clear(self):
        with self._cond:
            self._records.clear()

    def wait_for(self, count, timeout=10.0):
        end = time.monotonic() + timeout
        with self._cond:
            while len(self._records) < count:
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"ConnectProxy: {len(self._records)} request(s) after {timeout}s, "
                                         f"wanted {count}")
                self._cond.wait(min(left, 0.25))
            return list(self._records)

    def _add(self, rec):
        with self._cond:
            rec.seq = next(self._seq)
            self._records.append(rec)
            self._cond.notify_all()

    @staticmethod
    def _send(s, status, extra=(), body=b"", close=False):
        r = Response(status, body, list(extra))
        s.sendall(r.encode(close))

    def _serve(self, s, addr, cid, stopping):
        rd = _Reader(s)
        for _ in range(100_000):
            if stopping.is_set():
                return
            try:
                head = rd.head()
                method, target, version, headers, hlist = _parse_head(head)
            except _BadRequest as e:
                self._send(s, e.status, close=True)
                return
            except _Closed:
                return
            rec = ProxyRecord()
            rec.t, rec.wall, rec.conn = time.monotonic(), time.time(), cid
            rec.method, rec.target, rec.headers = method, target, headers
            rec.url, rec.bytes_up, rec.bytes_down = None, 0, 0
            rec.authorized = self._expect is None or headers.get("proxy-authorization") == self._expect
            try:
                if method == "CONNECT":
                    rec.host, rec.port = _split_authority(target, 443)
                else:
                    u = urllib.parse.urlsplit(target)
                    if u.scheme != "http" or not u.netloc:
                        raise _BadRequest(400, "proxy needs an absolute http:// URI")
                    rec.url = target
                    rec.host, rec.port = _split_authority(u.netloc.rpartition("@")[2], 80)
            except _BadRequest as e:
                rec.host, rec.port, rec.authority, rec.status = "", 0, target, e.status
                self._add(rec)
                self._send(s, e.status, close=True)
                return
            rec.authority = _fmt_authority(rec.host, rec.port)
            # Read a forwarded request's body before answering anything.
            body = b""
            if method != "CONNECT":
                try:
                    if headers.get("transfer-encoding", "").lower() == "chunked":
                        body = rd.chunked(64 << 20)
                    elif headers.get("content-length", "").isdigit():
                        body = rd.exact(int(headers["content-length"]))
                except (_BadRequest, _Closed):
                    return
            if not rec.authorized:
                rec.status = 407
                self._add(rec)
                self._send(s, 407, [("Proxy-Authenticate", 'Basic realm="emu"')])
                continue
            if method == "CONNECT":
                self._tunnel(s, rd, rec, stopping)
                return
            if not self._forward(s, rec, method, target, headers, hlist, body, version):
                return

    def _tunnel(self, s, rd, rec, stopping):
        try:
            up = socket.create_connection(self.routes.get(rec.authority, (rec.host, rec.port)),
                                          timeout=self.connect_timeout)
        except OSError:
            rec.status = 502
            self._add(rec)
            self._send(s, 502, close=True)
            return
        rec.status = 200
        self._add(rec)
        with self._conns_lock:
            self._conns.add(up)
        try:
            s.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rd.buf:
                up.sendall(bytes(rd.buf))
                rec.bytes_up += len(rd.buf)
                rd.buf.clear()
            s.setblocking(False)
            up.setblocking(False)
            idle_end = time.monotonic() + self.idle_timeout
            peers = {s: up, up: s}
            while not stopping.is_set() and time.monotonic() < idle_end:
                r, _, _ = select.select([s, up], [], [], 0.2)
                for src in r:
                    try:
                        data = src.recv(65536)
                    except (BlockingIOError, InterruptedError):
                        continue
                    if not data:
                        return
                    dst = peers[src]
                    dst.setblocking(True)
                    dst.settimeout(5.0)
                    dst.sendall(data)
                    dst.setblocking(False)
                    if src is s:
                        rec.bytes_up += len(data)
                    else:
                        rec.bytes_down += len(data)
                    idle_end = time.monotonic() + self.idle_timeout
        except OSError:
            return
        finally:
            with self._conns_lock:
                self._conns.discard(up)
            _hard_close(up)

    def _forward(self, s, rec, method, target, headers, hlist, body, version):
        u = urllib.parse.urlsplit(target)
        path = (u.path or "/") + (f"?{u.query}" if u.query else "")
        self._add(rec)
        try:
            host, port = self.routes.get(rec.authority, (rec.host, rec.port))
            conn = http.client.HTTPConnection(host, port, timeout=self.connect_timeout + 25)
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for k, v in hlist:
                if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length":
                    conn.putheader(k, v)
            if body or method in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(body)))
            conn.putheader("Connection", "close")
            conn.endheaders(body if body else None)
            resp = conn.getresponse()
            data = resp.read()
            status, rh = resp.status, resp.getheaders()
            conn.close()
        except (OSError, http.client.HTTPException):
            rec.status = 502
            self._send(s, 502, close=True)
            return False
        rec.status, rec.bytes_up, rec.bytes_down = status, len(body), len(data)
        conn_hdr = headers.get("connection", "").lower() + headers.get("proxy-connection", "").lower()
        close = "close" in conn_hdr or (version == "HTTP/1.0" and "keep-alive" not in conn_hdr)
        out = [(k, v) for k, v in rh if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length"]
        try:
            s.sendall(Response(status, data, out).encode(close, head_only=(method == "HEAD")))
        except OSError:
            return False
        return not close


# ----------------------------------------------------------------------------------
# TLS material
# ----------------------------------------------------------------------------------

def make_tls_files(directory, hosts=("127.0.0.1", "::1", "localhost"), days=2):
    """Create (or reuse) a test CA and a server certificate signed by it.

    Returns {"ca": ca.pem, "cert": server.pem, "key": server.key, "dir": directory}.
    RSA 2048 (the most widely accepted key type); SANs for every host (IPs as IP
    SANs).  Uses the openssl CLI; ~0.5 s the first time, reused afterwards.
    """
    os.makedirs(directory, exist_ok=True)
    p = {k: os.path.join(directory, f) for k, f in
         (("ca", "ca.pem"), ("ca_key", "ca.key"), ("cert", "server.pem"), ("key", "server.key"))}
    if all(os.path.exists(v) for v in p.values()):
        return dict(p, dir=directory)
    sans = ",".join((f"IP:{h}" if (h.replace(".", "").isdigit() or ":" in h) else f"DNS:{h}") for h in hosts)
    ext = os.path.join(directory, "server.ext")
    with open(ext, "w") as f:
        f.write(f"subjectAltName={sans}\nbasicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    csr = os.path.join(directory, "server.csr")

    def run(*args):
        subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=60)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p["ca_key"], "-out", p["ca"],
        "-days", str(days), "-subj", "/CN=kube-eventer test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", p["key"], "-out", csr, "-subj", "/CN=localhost")
    run("x509", "-req", "-in", csr, "-CA", p["ca"], "-CAkey", p["ca_key"], "-CAcreateserial",
        "-out", p["cert"], "-days", str(days), "-extfile", ext)
    return dict(p, dir=directory)
