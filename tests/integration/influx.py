r"""A real InfluxDB 1.x (Debian's `influxdb`, 1.6.x) as a throwaway peer on loopback.

Python 3.11 standard library only.  Nothing here listens anywhere but 127.0.0.1.

    import influx
    with influx.InfluxDB() as db:                # or InfluxDB(auth=True, tls=True)
        db.url                                   # http://127.0.0.1:PORT (https://... with tls)
        db.write('m,t=a v=1i 1700000000000000000', db="k8s")       # -> (status, body)
        db.query('CREATE DATABASE "k8s"')       # parsed JSON; QueryError on an `error`
        db.points("log/events", "k8s")          # [{"time": ns, "tags": {...}, "fields": {...}}]
        db.databases(), db.retention_policies("k8s"), db.create_user("u", "p", admin=False)
        db.stop(); time.sleep(10); db.start()   # same port, same data dir, data kept
    # leaving the block stops the server (SIGTERM, SIGKILL after a deadline) and removes its dir
    db = influx.for_case(t, auth=True)          # in an integration test: closed by t's cleanup

API
---
find_influxd() -> path           $INFLUXD, then `influxd` on PATH, then /usr/bin/influxd;
                                 raises InfluxMissing (install Debian's `influxdb`, see
                                 scripts/test-deps.sh) when none is executable.
InfluxDB(auth=False, user="admin", password=..., tls=False, port=0, rpc_port=0, base_dir=None,
         start_timeout=30.0, config_extra="")
    auth       http auth-enabled; an admin `user`/`password` is created through the API
               right after start (InfluxDB allows the first admin user without credentials).
    tls        False; True = the project's test PKI (certs.make_pki under build/test-pki:
               server cert with IP SAN 127.0.0.1, signed by pki["ca"]); or a dict with
               "cert"/"key"/"ca" (receivers.make_tls_files) or "server"/"server_key"/"ca"
               (certs.make_pki).  `db.ca` is the CA file a client must trust.
    port, rpc_port   0 = free loopback ports picked at the first start (retried if taken),
               then kept for every restart.
    .start(timeout=None) -> self     (re)start on the same ports and data dir; waits for /ping
    .stop(timeout=10.0) -> exit code SIGTERM, SIGKILL after `timeout`; keeps the data dir
    .restart(down=0.0)               stop, sleep `down` seconds, start
    .close()                         stop and remove the directory (also __exit__)
    .running, .url, .host, .port, .rpc_port, .dir, .log_path, .log_tail(n), .ca (tls), .user/.password
    A server left open is closed at interpreter exit (atexit), and influxd gets SIGKILL if
    the test process dies (PR_SET_PDEATHSIG, when started from the main thread).
    .request(method, path, params=None, body=None, headers=None, auth=True|False|(u, p),
             timeout=10) -> (status, {lower header: value}, body bytes)   never raises on HTTP status
    .query(q, db=None, method=None, epoch=None, params=None, auth=True) -> parsed JSON
               GET for SHOW/SELECT, POST otherwise (method= overrides); raises QueryError on
               an HTTP error status or an `error` anywhere in the answer (top level or a result)
    .write(body, db, rp=None, precision=None, auth=True, params=None) -> (status, body str)
               raw line protocol (str or bytes) to POST /write; never raises on HTTP status
    .points(measurement, db, rp=None, where=None) -> [{"time": ns, "tags": {}, "fields": {}}]
               SELECT * ... GROUP BY * with epoch=ns, sorted by time; empty tag values omitted
               (InfluxDB treats an empty tag as absent), null fields omitted
    .databases() -> [names]   .retention_policies(db) -> [{"name", "duration", "shardGroupDuration",
               "replicaN", "default"}]   .users() -> [{"user", "admin"}]
    .create_database(name, duration=None, rp_name=None)   .create_user(name, password, admin=False)
    .grant(privilege, db, user)
for_case(case, **kw) -> started InfluxDB whose close() is registered with case.cleanup
quote_ident(s) -> '"..."' (InfluxQL identifier)   quote_str(s) -> "'...'" (InfluxQL string)

Facts about InfluxDB 1.6's line protocol, measured
--------------------------------------------------
Measured on influxd 1.6.7~rc0 (Debian 12).  Every row of LP_CASES below is re-checked by
tests/emu/test_influx_selftest.py (`--facts` prints them as a table: what was sent, what
/write answered, what SELECT read back); the HTTP answers are checked there too.  Every
backslash below is one byte on the wire.

Escaping rules that follow (what a writer must do):
  measurement      escape ',' and ' ' with '\' ('=' and '/' are fine raw: `log/events`).
  tag key/value,   escape ',' ' ' '=' with '\'.  That is all: a backslash is never
  field key        unescaped ("a\\b" is stored with both backslashes), so leave every
                   other backslash as it is -- "a\" + "=b" sent as `a\\=b` reads back
                   a\=b exactly.  NOT representable: a value or key ENDING in a backslash
                   (400 "invalid tag format" / "invalid field format", also with `\\`);
                   an EMPTY tag value (400 "missing tag value": omit the tag); a raw
                   newline (it ends the line: 400 "partial write: unable to parse
                   '<first half>': missing fields" and the second half is parsed as a
                   point of its own!  `\`+newline is accepted but stores the backslash
                   too).  Raw CR, tab, '"', UTF-8 (CJK, emoji, U+2028) and invalid UTF-8
                   pass as they are; "\n" is two characters, not a newline.  Tag/field key `time`
                   is refused (400 "partial write: invalid tag key/field name ...").
  string field     "..." with '\' -> '\\' and '"' -> '\"'; nothing else: raw newline, CR LF,
  value            tab, NUL, ',', ' ', '=', U+2028, emoji, invalid UTF-8 are all stored
                   as sent (a raw newline inside the quotes does not end the line, even
                   when the next text looks like a point).  Only `\\` and `\"` are
                   unescaped; any other backslash pair is kept literally, and a lone
                   backslash before the closing quote is 400 "unbalanced quotes".
  size             no string-field limit of its own: 64 KiB, 64 KiB+1, 1 MiB (and, measured
                   once by hand, 10 MiB and 20 MB) are stored and read back whole; the
                   limit is the request body, [http] max-body-size = 25 000 000 bytes by
                   default: 413 {"error":"Request Entity Too Large"} + Connection: close,
                   answered before the body is read (the client may see EPIPE).
                   Series key (measurement + tags, escaped) + "#!~#" + field key must be
                   <= 65535 bytes: `x,t=<65526 bytes> v=1` is 204, 65527 bytes gives
                   400 "unable to parse '...': max key length exceeded: 65536 > 65535".
  timestamp        integer ns by default (precision= n|u|ms|s|m|h; an unknown precision
                   is taken as ns); 0 and negatives fine; |t| <= 9223372036854775806;
                   "1700000000.5" is 400 "bad timestamp"; no timestamp = server's now.
  line ends        LF only: CRLF makes every line 400 "bad timestamp" (the CR is part of
                   the number).  Blank lines, `#` comment lines, no final newline, a
                   trailing space after the timestamp are all fine.  Tags need not be sorted.
  same point       same measurement + tag set + timestamp = ONE point: fields merged,
                   the last write wins (two events in one series must differ in time or tags).
  types            a field's type is fixed per shard: a string after a float is 400
                   "partial write: field type conflict: input field \"v\" on measurement
                   \"m\" is type string, already exists as type float dropped=1".

HTTP answers of /write (1.6.7~rc0):
  all points written                 204, empty body
  some lines unparsable              400 {"error":"partial write: unable to parse '<line>': <why>
                                     [\nunable to parse ...] dropped=0"}; the GOOD points ARE
                                     written (3 good + 1 bad: the 3 are there).  All lines
                                     bad: 400 {"error":"unable to parse ..."} (no "partial").
  point older than the RP keeps      400 {"error":"partial write: points beyond retention
                                     policy dropped=1"} (the others written)
  rp= that does not exist            500 {"error":"retention policy not found: nope"} -- a 5xx
                                     that never heals (upstream's fixed rp=default hits this)
  db= that does not exist            404 {"error":"database not found: \"nodb\""}
  no db=                             400 {"error":"database is required"}
  empty consistency=, precision=, rp=  ignored (204) -- upstream sends them
  empty body                         204
  auth on, wrong password or user    401 {"error":"authorization failed"},
                                     WWW-Authenticate: Basic realm="InfluxDB" (checked
                                     before the database: wrong password + missing db = 401)
  auth on, no credentials            401 {"error":"unable to parse authentication credentials"}
  auth on, user without WRITE        403 {"error":"\"w\" user is not authorized to write to
                                     database \"k8s\""}
  auth off, any credentials          ignored
  u=&p= in the query string          accepted like Basic auth
  Content-Encoding: gzip             accepted
  GET /write                         405;  /ping: 204 without credentials even with auth on
  every error                        Content-Type: application/json, the same text in the
                                     X-Influxdb-Error header; X-Influxdb-Version: 1.6.7~rc0
HTTP answers of /query:
  CREATE DATABASE "x" WITH DURATION 7d NAME "default", twice
                                     200 {"results":[{"statement_id":0}]} both times
  the same with another duration/name on an existing database, or
  CREATE DATABASE "x" WITH NAME "other"
                                     200 {"results":[{"statement_id":0,"error":"retention
                                     policy conflicts with an existing policy"}]}
  CREATE DATABASE "x" (exists)       200, no error
  CREATE RETENTION POLICY (exists, other duration)
                                     200 + error "retention policy already exists"
  statement on a missing database    200 + error "database not found: nodb"
  syntax error                       400 {"error":"error parsing query: found SELEC, expected
                                     SELECT, DELETE, SHOW, CREATE, ... at line 1, char 1"} --
                                     HTTP 400, not a 200 with an error (also when one of
                                     several statements is bad: nothing runs)
  CREATE ... sent with GET           200, executed, plus "messages":[{"level":"warning",
                                     "text":"deprecated use of 'CREATE DATABASE g' in a read
                                     only context, please use a POST request instead"}]
  non-admin CREATE DATABASE          403 {"error":"error authorizing query: w not authorized
                                     to execute statement 'CREATE DATABASE ...', requires
                                     admin privilege"} -- even when the database exists
  no q=                              400 {"error":"missing required parameter \"q\""}
  CREATE DATABASE "k8s" (no WITH)    makes the RP "autogen" (duration 0s, default)
"""
import atexit
import base64
import ctypes
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import weakref

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
if os.path.join(ROOT, "tests", "emu") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "tests", "emu"))

__all__ = ["InfluxDB", "InfluxMissing", "QueryError", "find_influxd", "for_case", "quote_ident", "quote_str",
           "LP_CASES"]

DEFAULT_PASSWORD = "adm1n-Pw"


class InfluxMissing(RuntimeError):
    pass


class QueryError(RuntimeError):
    def __init__(self, msg, status=None, body=None):
        super().__init__(msg)
        self.status = status
        self.body = body


def find_influxd(candidates=None):
    """Path of the influxd binary, or InfluxMissing saying how to get it."""
    cands = candidates
    if cands is None:
        cands = []
        if os.environ.get("INFLUXD"):
            cands.append(os.environ["INFLUXD"])
        w = shutil.which("influxd")
        if w:
            cands.append(w)
        cands.append("/usr/bin/influxd")
    for c in cands:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    raise InfluxMissing("influxd not found ($INFLUXD, PATH, /usr/bin/influxd): install Debian's "
                        "'influxdb' package (InfluxDB 1.6) -- scripts/test-deps.sh does it")


def quote_ident(s):
    """An InfluxQL double-quoted identifier."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_str(s):
    """An InfluxQL single-quoted string literal."""
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def _toml_str(s):
    return json.dumps(s)   # a JSON string is a valid TOML basic string


_CONFIG = """\
# generated by tests/integration/influx.py: loopback only, nothing reported, throwaway dirs
reporting-enabled = false
bind-address = {rpc}

[meta]
  dir = {meta}
  retention-autocreate = true
  logging-enabled = false

[data]
  dir = {data}
  wal-dir = {wal}
  wal-fsync-delay = "0s"
  index-version = "inmem"
  query-log-enabled = false
  trace-logging-enabled = false

[coordinator]
  write-timeout = "10s"

[retention]
  enabled = false

[shard-precreation]
  enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[http]
  enabled = true
  bind-address = {http}
  auth-enabled = {auth}
  log-enabled = true
  suppress-write-log = false
  write-tracing = false
  pprof-enabled = false
  https-enabled = {https}
  https-certificate = {cert}
  https-private-key = {key}
  unix-socket-enabled = false
  bind-socket = {sock}
  max-body-size = 25000000

[ifql]
  enabled = false

[logging]
  format = "logfmt"
  level = "info"
  suppress-logo = true

[[graphite]]
  enabled = false

[[collectd]]
  enabled = false

[[opentsdb]]
  enabled = false

[[udp]]
  enabled = false

[continuous_queries]
  enabled = false
  log-enabled = false
"""
# InfluxDB 1.6 has no admin UI any more (removed in 1.3): there is no [admin] section to disable.


_LIVE = weakref.WeakSet()      # servers to stop if the test process exits without close()


@atexit.register
def _close_all():
    for db in list(_LIVE):
        try:
            db.close()
        except Exception:
            pass


def _die_with_parent():
    """preexec_fn: SIGKILL influxd when the process that started it dies (Linux PR_SET_PDEATHSIG),
    so a test run killed hard leaves no server behind."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG = 1
    except Exception:
        pass


def for_case(case, **kw):
    """Start an InfluxDB for a harness.Case; closed by the case's cleanup."""
    db = InfluxDB(**kw)
    case.cleanup(db.close)
    return db.start()


def _resolve_tls(tls):
    """-> (cert, key, ca) paths."""
    if tls is True:
        import certs
        p = certs.make_pki(os.path.join(ROOT, "build", "test-pki"))
        return p["server"], p["server_key"], p["ca"]
    if "server" in tls:
        return tls["server"], tls["server_key"], tls["ca"]
    return tls["cert"], tls["key"], tls["ca"]


class InfluxDB:
    def __init__(self, auth=False, user="admin", password=DEFAULT_PASSWORD, tls=False, port=0, rpc_port=0,
                 base_dir=None, start_timeout=30.0, config_extra=""):
        self.binary = find_influxd()
        self.auth = auth
        self.user = user
        self.password = password
        self.tls = bool(tls)
        self.cert = self.key = self.ca = None
        if tls:
            self.cert, self.key, self.ca = _resolve_tls(tls)
        self.host = "127.0.0.1"
        self.port = port
        self.rpc_port = rpc_port
        self._fixed_ports = bool(port)
        self.start_timeout = start_timeout
        self.config_extra = config_extra
        self.dir = tempfile.mkdtemp(prefix="ke-influx-", dir=base_dir)
        self.config_path = os.path.join(self.dir, "influxdb.conf")
        self.log_path = os.path.join(self.dir, "influxd.log")
        self.proc = None
        self._log = None
        self._user_made = False
        self._ctx = None
        if self.tls:
            self._ctx = ssl.create_default_context(cafile=self.ca)

    # -- lifecycle ------------------------------------------------------------
    @property
    def scheme(self):
        return "https" if self.tls else "http"

    @property
    def url(self):
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _write_config(self):
        j = os.path.join
        cfg = _CONFIG.format(
            rpc=_toml_str(f"127.0.0.1:{self.rpc_port}"), http=_toml_str(f"127.0.0.1:{self.port}"),
            meta=_toml_str(j(self.dir, "meta")), data=_toml_str(j(self.dir, "data")),
            wal=_toml_str(j(self.dir, "wal")), sock=_toml_str(j(self.dir, "influxdb.sock")),
            auth="true" if self.auth else "false", https="true" if self.tls else "false",
            cert=_toml_str(self.cert or ""), key=_toml_str(self.key or ""))
        with open(self.config_path, "w") as f:
            f.write(cfg + self.config_extra)

    def log_tail(self, n=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def start(self, timeout=None):
        """Start (or restart) influxd; returns when /ping answers.  Same ports and dir every time."""
        if self.running:
            return self
        timeout = self.start_timeout if timeout is None else timeout
        first = not self.port
        for attempt in range(5):
            if not self.port:
                self.port = _free_port()
            if not self.rpc_port:
                self.rpc_port = _free_port()
                while self.rpc_port == self.port:
                    self.rpc_port = _free_port()
            self._write_config()
            self._log = open(self.log_path, "ab")
            self._log.write(f"--- start {time.strftime('%H:%M:%S')} http={self.port} rpc={self.rpc_port}\n"
                            .encode())
            self._log.flush()
            # PR_SET_PDEATHSIG fires when the starting *thread* ends: only from the main thread
            main = threading.current_thread() is threading.main_thread()
            self.proc = subprocess.Popen([self.binary, "run", "-config", self.config_path],
                                         stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                                         cwd=self.dir, start_new_session=True,
                                         preexec_fn=_die_with_parent if main else None)
            _LIVE.add(self)
            err = self._wait_ping(timeout)
            if err is None:
                break
            self._reap()
            tail = self.log_tail()
            if first and not self._fixed_ports and "address already in use" in tail and attempt < 4:
                self.port = self.rpc_port = 0      # raced for a port: pick new ones
                continue
            raise RuntimeError(f"influxd did not come up on {self.url}: {err}\n--- {self.log_path}:\n{tail}")
        if self.auth and not self._user_made:
            self.query(f"CREATE USER {quote_ident(self.user)} WITH PASSWORD {quote_str(self.password)} "
                       "WITH ALL PRIVILEGES", auth=False)
            self._user_made = True
        return self

    def _wait_ping(self, timeout):
        end = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                return f"influxd exited with status {self.proc.returncode}"
            try:
                st, _, _ = self.request("GET", "/ping", auth=False, timeout=1.0)
                if st == 204:
                    return None
                last = f"/ping answered {st}"
            except (OSError, http.client.HTTPException) as e:
                last = str(e)
            time.sleep(0.05)
        return f"no 204 from /ping within {timeout}s ({last})"

    def _reap(self, timeout=10.0):
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    os.killpg(self.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    try:
                        os.killpg(self.proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    self.proc.wait(10)
            rc = self.proc.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        return rc

    def stop(self, timeout=10.0):
        """SIGTERM, then SIGKILL after `timeout`; the data dir and the ports are kept."""
        rc = self._reap(timeout)
        self.proc = None
        return rc

    def restart(self, down=0.0):
        self.stop()
        if down:
            time.sleep(down)
        return self.start()

    def close(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # -- HTTP -----------------------------------------------------------------
    def request(self, method, path, params=None, body=None, headers=None, auth=True, timeout=10.0):
        """One HTTP request on a fresh connection -> (status, headers, body bytes).

        http.client rather than urllib.request: no proxy from the environment can come
        between the tests and a loopback server, and no status raises."""
        if self.tls:
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self._ctx)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        target = path
        if params:
            target += "?" + urllib.parse.urlencode(params)
        h = dict(headers or {})
        if auth is True and self.auth:
            auth = (self.user, self.password)
        if isinstance(auth, tuple):
            h["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        if isinstance(body, str):
            body = body.encode("utf-8")
        try:
            conn.request(method, target, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            conn.close()

    def query(self, q, db=None, method=None, epoch=None, params=None, auth=True):
        """Run InfluxQL; parsed JSON.  QueryError on an HTTP error or an `error` in the answer."""
        p = {"q": q}
        if db:
            p["db"] = db
        if epoch:
            p["epoch"] = epoch
        if params:
            p.update(params)
        if method is None:
            method = "GET" if q.lstrip().upper().startswith(("SELECT", "SHOW")) else "POST"
        if method == "POST":
            st, _, body = self.request("POST", "/query", body=urllib.parse.urlencode(p),
                                       headers={"Content-Type": "application/x-www-form-urlencoded"}, auth=auth)
        else:
            st, _, body = self.request("GET", "/query", params=p, auth=auth)
        text = body.decode("utf-8", "replace")
        try:
            d = json.loads(text) if text.strip() else {}
        except ValueError:
            raise QueryError(f"HTTP {st}, not JSON: {text[:300]}", st, text)
        if st != 200 or "error" in d:
            raise QueryError(f"HTTP {st}: {d.get('error', text[:300])}", st, d)
        for r in d.get("results", []):
            if "error" in r:
                raise QueryError(f"query error: {r['error']}", st, d)
        return d

    def write(self, body, db, rp=None, precision=None, auth=True, params=None):
        """POST /write with raw line protocol -> (status, body text).  Never raises on a status."""
        p = {"db": db}
        if rp is not None:
            p["rp"] = rp
        if precision is not None:
            p["precision"] = precision
        if params:
            p.update(params)
        st, _, data = self.request("POST", "/write", params=p, body=body, auth=auth,
                                   headers={"Content-Type": "text/plain; charset=utf-8"})
        return st, data.decode("utf-8", "replace")

    # -- helpers --------------------------------------------------------------
    def _series(self, d):
        for r in d.get("results", []):
            for s in r.get("series", []) or []:
                yield s

    def points(self, measurement, db, rp=None, where=None):
        """Every point of a measurement: [{"time": ns int, "tags": {...}, "fields": {...}}] by time."""
        src = quote_ident(measurement) if rp is None else f"{quote_ident(rp)}.{quote_ident(measurement)}"
        q = f"SELECT * FROM {src}" + (f" WHERE {where}" if where else "") + " GROUP BY *"
        d = self.query(q, db=db, epoch="ns")
        out = []
        for s in self._series(d):
            tags = {k: v for k, v in (s.get("tags") or {}).items() if v != ""}
            cols = s["columns"]
            for row in s.get("values", []):
                rec = dict(zip(cols, row))
                t = rec.pop("time")
                out.append({"time": int(t), "tags": dict(tags),
                            "fields": {k: v for k, v in rec.items() if v is not None}})
        out.sort(key=lambda p: p["time"])
        return out

    def databases(self):
        return [v[0] for s in self._series(self.query("SHOW DATABASES")) for v in s.get("values", [])]

    def retention_policies(self, db):
        d = self.query(f"SHOW RETENTION POLICIES ON {quote_ident(db)}")
        out = []
        for s in self._series(d):
            for v in s.get("values", []):
                out.append(dict(zip(s["columns"], v)))
        return out

    def users(self):
        d = self.query("SHOW USERS")
        return [dict(zip(s["columns"], v)) for s in self._series(d) for v in s.get("values", [])]

    def create_database(self, name, duration=None, rp_name=None):
        q = f"CREATE DATABASE {quote_ident(name)}"
        if duration or rp_name:
            q += " WITH"
            if duration:
                q += f" DURATION {duration}"
            if rp_name:
                q += f" NAME {quote_ident(rp_name)}"
        return self.query(q)

    def create_user(self, name, password, admin=False):
        q = f"CREATE USER {quote_ident(name)} WITH PASSWORD {quote_str(password)}"
        if admin:
            q += " WITH ALL PRIVILEGES"
        return self.query(q)

    def grant(self, privilege, db, user):
        return self.query(f"GRANT {privilege} ON {quote_ident(db)} TO {quote_ident(user)}")


# Line-protocol cases measured against influxd 1.6.7~rc0 and re-checked by
# tests/emu/test_influx_selftest.py (python3 tests/emu/test_influx_selftest.py --facts
# prints them as a table).  Each: (what, body, HTTP status, text in the answer's body,
# expected points as [(tags, fields)] or None for "not checked").  In the body {M} is a
# measurement name unique to the case and {T} the timestamp 1700000000000000000 (ns).
_BIG64 = "x" * (64 * 1024)
_BIG1M = "y" * (1024 * 1024)
LP_CASES = [
    # -- tag values ------------------------------------------------------------------
    ("tag value: escaped space", rb"{M},t=a\ b v=1 {T}", 204, "", [({"t": "a b"}, {"v": 1})]),
    ("tag value: raw space", rb"{M},t=a b v=1 {T}", 400, "invalid field format", []),
    ("tag value: escaped comma", rb"{M},t=a\,b v=1 {T}", 204, "", [({"t": "a,b"}, {"v": 1})]),
    ("tag value: escaped equals", rb"{M},t=a\=b v=1 {T}", 204, "", [({"t": "a=b"}, {"v": 1})]),
    ("tag value: raw equals", rb"{M},t=a=b v=1 {T}", 400, "invalid tag format", []),
    ("tag value: raw double quote", b'{M},t=a"b v=1 {T}', 204, "", [({"t": 'a"b'}, {"v": 1})]),
    ("tag value: backslash-quote kept as is", b'{M},t=a\\"b v=1 {T}', 204, "", [({"t": 'a\\"b'}, {"v": 1})]),
    ("tag value: backslash in the middle", b"{M},t=a\\b v=1 {T}", 204, "", [({"t": "a\\b"}, {"v": 1})]),
    ("tag value: double backslash NOT unescaped", b"{M},t=a\\\\b v=1 {T}", 204, "", [({"t": "a\\\\b"}, {"v": 1})]),
    ("tag value: backslash before = (sent \\\\=)", b"{M},t=a\\\\=b v=1 {T}", 204, "", [({"t": "a\\=b"}, {"v": 1})]),
    ("tag value: backslash before , (sent \\\\,)", b"{M},t=a\\\\,b v=1 {T}", 204, "", [({"t": "a\\,b"}, {"v": 1})]),
    ("tag value: backslash before space (sent \\\\ )", b"{M},t=a\\\\ b v=1 {T}", 204, "", [({"t": "a\\ b"}, {"v": 1})]),
    ("tag value: ends in backslash", b"{M},t=ab\\ v=1 {T}", 400, "invalid tag format", []),
    ("tag value: ends in double backslash", b"{M},t=ab\\\\ v=1 {T}", 400, "invalid tag format", []),
    ("tag value: ends in backslash, next tag", b"{M},t=ab\\,u=c v=1 {T}", 400, "invalid tag format", []),
    ("tag value: backslash-n is not a newline", b"{M},t=a\\nb v=1 {T}", 204, "", [({"t": "a\\nb"}, {"v": 1})]),
    ("tag value: raw newline splits the line (2nd half written as its own point)", b"{M},t=a\n{M} v=1 {T}", 400,
     "partial write: unable to parse '{M},t=a': missing fields dropped=0", [({}, {"v": 1})]),
    ("tag value: backslash + raw newline", b"{M},t=a\\\nb v=1 {T}", 204, "", [({"t": "a\\\nb"}, {"v": 1})]),
    ("tag value: raw CR", b"{M},t=a\rb v=1 {T}", 204, "", [({"t": "a\rb"}, {"v": 1})]),
    ("tag value: raw CR at the end", b"{M},t=a\r v=1 {T}", 204, "", [({"t": "a\r"}, {"v": 1})]),
    ("tag value: raw tab", b"{M},t=a\tb v=1 {T}", 204, "", [({"t": "a\tb"}, {"v": 1})]),
    ("tag value: CJK", "{M},t=事件 v=1 {T}".encode(), 204, "", [({"t": "事件"}, {"v": 1})]),
    ("tag value: emoji", "{M},t=\U0001F600 v=1 {T}".encode(), 204, "", [({"t": "\U0001F600"}, {"v": 1})]),
    ("tag value: U+2028", "{M},t=a\u2028b v=1 {T}".encode(), 204, "", [({"t": "a\u2028b"}, {"v": 1})]),
    ("tag value: invalid UTF-8 stored as is", b"{M},t=a\xffb v=1 {T}", 204, "", [({"t": "a\ufffdb"}, {"v": 1})]),
    ("tag value: empty", b"{M},t=,u=x v=1 {T}", 400, "missing tag value", []),
    ("tag value: empty, last tag", b"{M},u=x,t= v=1 {T}", 400, "missing tag value", []),
    ("tag value: only an escaped space", b"{M},t=\\  v=1 {T}", 204, "", [({"t": " "}, {"v": 1})]),
    ("tag keys: escaped , and = in key and value", b"{M},a\\,b=c\\,d,x\\=y=z v=1 {T}", 204, "",
     [({"a,b": "c,d", "x=y": "z"}, {"v": 1})]),
    ("tag key: escaped space", b"{M},t\\ k=a v=1 {T}", 204, "", [({"t k": "a"}, {"v": 1})]),
    ("tag key: ends in backslash", b"{M},k\\=v v=1 {T}", 400, "missing tag value", []),
    ("tag key: time", b"{M},time=x v=1 {T}", 400, "invalid tag key: input tag \\\"time\\\"", []),
    ("tags unsorted", b"{M},z=1,a=2 v=1 {T}", 204, "", [({"a": "2", "z": "1"}, {"v": 1})]),
    # -- field keys --------------------------------------------------------------------
    ("field key: escaped space", b"{M} f\\ k=1 {T}", 204, "", [({}, {"f k": 1})]),
    ("field key: escaped comma", b"{M} f\\,k=1 {T}", 204, "", [({}, {"f,k": 1})]),
    ("field key: escaped equals", b"{M} f\\=k=1 {T}", 204, "", [({}, {"f=k": 1})]),
    ("field key: raw double quote", b'{M} f"k=1 {T}', 204, "", [({}, {'f"k': 1})]),
    ("field key: backslash in the middle", b"{M} f\\k=1 {T}", 204, "", [({}, {"f\\k": 1})]),
    ("field key: ends in backslash", b"{M} fk\\=1 {T}", 400, "invalid field format", []),
    ("field key: time", b"{M} time=1 {T}", 400, "invalid field name: input field \\\"time\\\"", []),
    ("field key: twice in a line, last wins", b"{M} v=1,v=2 {T}", 204, "", [({}, {"v": 2})]),
    # -- string field values ----------------------------------------------------------------
    ("string: space, comma, equals raw", b'{M} v="hello world, a=b" {T}', 204, "", [({}, {"v": "hello world, a=b"})]),
    ("string: escaped double quote", b'{M} v="a\\"b" {T}', 204, "", [({}, {"v": 'a"b'})]),
    ("string: lone backslash kept", b'{M} v="a\\b" {T}', 204, "", [({}, {"v": "a\\b"})]),
    ("string: double backslash -> one", b'{M} v="a\\\\b" {T}', 204, "", [({}, {"v": "a\\b"})]),
    ("string: escaped backslash at the end", b'{M} v="ab\\\\" {T}', 204, "", [({}, {"v": "ab\\"})]),
    ("string: lone backslash at the end", b'{M} v="ab\\" {T}', 400, "unbalanced quotes", []),
    ("string: escaped backslash then escaped quote", b'{M} v="a\\\\\\"b" {T}', 204, "", [({}, {"v": 'a\\"b'})]),
    ("string: backslash-n is not a newline", b'{M} v="a\\nb" {T}', 204, "", [({}, {"v": "a\\nb"})]),
    ("string: backslash before , space =", b'{M} v="a\\,b\\ c\\=d" {T}', 204, "", [({}, {"v": "a\\,b\\ c\\=d"})]),
    ("string: raw newline", b'{M} v="a\nb" {T}', 204, "", [({}, {"v": "a\nb"})]),
    ("string: raw CR LF", b'{M} v="a\r\nb" {T}', 204, "", [({}, {"v": "a\r\nb"})]),
    ("string: raw tab", b'{M} v="a\tb" {T}', 204, "", [({}, {"v": "a\tb"})]),
    ("string: raw newline, then text like a point", b'{M} v="a\nzz v=2 1" {T}', 204, "", [({}, {"v": "a\nzz v=2 1"})]),
    ("string: escaped quote then raw newline", b'{M} v="x\\"\ny" {T}', 204, "", [({}, {"v": 'x"\ny'})]),
    ("string: raw newline after a quote in a tag value", b'{M},t=a"b v="x\ny" {T}', 204, "",
     [({"t": 'a"b'}, {"v": "x\ny"})]),
    ("string: CJK, emoji, U+2028", '{M} v="事件\U0001F600\u2028x" {T}'.encode(), 204, "",
     [({}, {"v": "事件\U0001F600\u2028x"})]),
    ("string: NUL byte", b'{M} v="a\x00b" {T}', 204, "", [({}, {"v": "a\x00b"})]),
    ("string: invalid UTF-8", b'{M} v="a\xffb" {T}', 204, "", [({}, {"v": "a\ufffdb"})]),
    ("string: empty", b'{M} v="" {T}', 204, "", [({}, {"v": ""})]),
    ("string: 64 KiB", b'{M} v="' + _BIG64.encode() + b'" {T}', 204, "", [({}, {"v": _BIG64})]),
    ("string: 1 MiB", b'{M} v="' + _BIG1M.encode() + b'" {T}', 204, "", [({}, {"v": _BIG1M})]),
    # -- measurement ---------------------------------------------------------------------------
    ("measurement: log/events", b"log/events,t=a v=1 {T}", 204, "", [({"t": "a"}, {"v": 1})]),
    ("measurement: escaped space and comma", b"my\\ m\\,x,t=a v=1 {T}", 204, "", [({"t": "a"}, {"v": 1})]),
    ("measurement: raw equals", b"a=b,t=a v=1 {T}", 204, "", [({"t": "a"}, {"v": 1})]),
    # -- timestamps, lines ------------------------------------------------------------------
    ("timestamp: ns", b"{M} v=1 1700000000123456789", 204, "", [({}, {"v": 1})]),
    ("timestamp: 0 and negative", b"{M} v=1 0\n{M} v=2 -1000", 204, "", [({}, {"v": 2}), ({}, {"v": 1})]),
    ("timestamp: max int64 out of range", b"{M} v=1 9223372036854775807", 400,
     "time outside range -9223372036854775806 - 9223372036854775806", []),
    ("timestamp: fractional", b"{M} v=1 1700000000.5", 400, "bad timestamp", []),
    ("lines: CRLF endings", b"{M} v=1 {T}\r\n{M} v=2 {T}\r\n", 400, "bad timestamp", []),
    ("lines: blank lines, comment, no final newline", b"\n\n# c\n{M} v=1 {T}\n\n{M} v=2 1", 204, "",
     [({}, {"v": 2}), ({}, {"v": 1})]),
    ("lines: trailing space after the timestamp", b"{M} v=1 {T} ", 204, "", [({}, {"v": 1})]),
    ("types: float, integer, booleans", b"{M} f=1.5,i=2i,b=true,B=F,x=1e3 {T}", 204, "",
     [({}, {"f": 1.5, "i": 2, "b": True, "B": False, "x": 1000})]),
    ("same series and time: one point, fields merged, last wins", b"{M},k=1 v=1,a=1 {T}\n{M},k=1 v=2 {T}", 204, "",
     [({"k": "1"}, {"v": 2, "a": 1})]),
    # -- batches -------------------------------------------------------------------------------------
    ("batch: 3 good lines + 1 unparsable", b"{M},k=1 v=1 {T}\n{M},k=2 v=2 {T}\n{M},k=bad v= {T}\n{M},k=4 v=4 {T}\n",
     400, "partial write: unable to parse '{M},k=bad v= {T}': missing field value dropped=0",
     [({"k": "1"}, {"v": 1}), ({"k": "2"}, {"v": 2}), ({"k": "4"}, {"v": 4})]),
    ("batch: 2 unparsable lines", b"{M},k=1 v=1 {T}\n{M},k=bad v= {T}\n{M},k=4 v=4 {T}\n{M},k=bad2 zzz\n",
     400, "missing field value\\nunable to parse '{M},k=bad2 zzz': invalid field format dropped=0",
     [({"k": "1"}, {"v": 1}), ({"k": "4"}, {"v": 4})]),
    ("batch: field type conflict", b'{M} v=1 {T}\n{M} v="s" 1700000000000000001\n', 400,
     "partial write: field type conflict: input field \\\"v\\\" on measurement \\\"{M}\\\" is type string, "
     "already exists as type float dropped=1", [({}, {"v": 1})]),
]
