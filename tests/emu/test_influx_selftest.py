#!/usr/bin/env python3
"""Self-test of tests/integration/influx.py against the real influxd (Debian's influxdb, 1.6).

    python3 tests/emu/test_influx_selftest.py [-k SUBSTRING] [--facts]

Prints "ok N - name (s)" / "not ok N - name" and ends with "N passed, N failed";
exits 1 on any failure.  --facts also prints the line-protocol cases (influx.LP_CASES)
as a Markdown table: what was sent, what /write answered, what a query read back.
Every server binds 127.0.0.1 only, on free ports, in its own temporary directory.
"""
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
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import influx  # noqa: E402
from influx import InfluxDB, QueryError  # noqa: E402

TESTS = []
FACTS = "--facts" in sys.argv
T = 1700000000000000000
# urllib without any proxy from the environment: these requests go to loopback only
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def test(fn):
    TESTS.append(fn)
    return fn


def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


def eq(a, b, msg=""):
    if a != b:
        raise AssertionError(f"{msg + ': ' if msg else ''}{a!r} != {b!r}")


def post_write(db, body, database, auth=None, **params):
    """Raw line protocol with urllib: POST /write -> (status, body text)."""
    q = urllib.parse.urlencode({"db": database, **params})
    req = urllib.request.Request(f"{db.url}/write?{q}", data=body, method="POST",
                                 headers={"Content-Type": "text/plain; charset=utf-8"})
    if auth:
        import base64
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    opener = OPENER
    if db.tls:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(
            context=ssl.create_default_context(cafile=db.ca)))
    try:
        with opener.open(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def listening(port):
    """Local addresses of the LISTEN sockets on a TCP port (from /proc/net/tcp and tcp6)."""
    out = []
    for f, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            lines = open(f).read().splitlines()[1:]
        except OSError:
            continue
        for ln in lines:
            w = ln.split()
            addr, p = w[1].split(":")
            if int(p, 16) == port and w[3] == "0A":
                out.append(addr)
    return out


# -- lifecycle -----------------------------------------------------------------------------

@test
def test_find_influxd_and_missing_message():
    path = influx.find_influxd()
    check(os.access(path, os.X_OK), path)
    out = subprocess.run([path, "version"], capture_output=True, text=True, timeout=20).stdout
    check(out.startswith("InfluxDB v1."), f"an InfluxDB 1.x: {out!r}")
    try:
        influx.find_influxd(candidates=["/nonexistent/influxd"])
        raise AssertionError("no InfluxMissing")
    except influx.InfluxMissing as e:
        check("influxdb" in str(e) and "test-deps.sh" in str(e), str(e))


@test
def test_start_loopback_only_write_query_close():
    db = InfluxDB().start()
    try:
        check(db.running)
        cfg = open(db.config_path).read()
        check(f'bind-address = "127.0.0.1:{db.port}"' in cfg, cfg)
        check(f'bind-address = "127.0.0.1:{db.rpc_port}"' in cfg, cfg)
        check("reporting-enabled = false" in cfg and "store-enabled = false" in cfg)
        for port in (db.port, db.rpc_port):
            addrs = listening(port)
            eq(addrs, ["0100007F"], f"port {port} listens on 127.0.0.1 only")
        for section in ("graphite", "collectd", "opentsdb", "udp"):
            check(f"[[{section}]]\n  enabled = false" in cfg, section)
        st, h, body = db.request("GET", "/ping")
        eq(st, 204)
        check(h.get("x-influxdb-version", "").startswith("1.6"), h)
        db.query('CREATE DATABASE "k8s"')
        lines = (f'log/events,cluster_name=default,uid=u1 value="{{\\"a\\": 1}}" {T}\n'
                 f'log/events,cluster_name=default,uid=u2 value="two\nlines" {T + 1}\n').encode()
        eq(post_write(db, lines, "k8s"), (204, ""))
        pts = db.points("log/events", "k8s")
        eq(pts, [{"time": T, "tags": {"cluster_name": "default", "uid": "u1"}, "fields": {"value": '{"a": 1}'}},
                 {"time": T + 1, "tags": {"cluster_name": "default", "uid": "u2"}, "fields": {"value": "two\nlines"}}])
        eq(db.points("log/events", "k8s", where=f"uid = {influx.quote_str('u2')}")[0]["time"], T + 1)
        eq(db.databases(), ["k8s"], "no _internal: the monitor store is off")
        d = db.dir
    finally:
        db.close()
    check(not os.path.exists(d), "close() removes the directory")
    check(not db.running)
    try:
        socket.create_connection(("127.0.0.1", db.port), timeout=1).close()
        raise AssertionError("still listening after close()")
    except OSError:
        pass


@test
def test_restart_same_port_and_dir_keeps_data():
    with InfluxDB() as db:
        port, d, pid = db.port, db.dir, db.proc.pid
        db.create_database("k8s", duration="7d", rp_name="default")
        eq(db.write(f"m,k=a v=1i {T}", "k8s"), (400, '{"error":"partial write: points beyond retention policy '
                                                    'dropped=1"}\n'), "older than the 7-day policy")
        now = time.time_ns()
        eq(db.write(f"m,k=a v=1i {now}", "k8s"), (204, ""))
        rc = db.stop()
        check(rc is not None, "stopped")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            raise AssertionError("port still open while down")
        except OSError:
            pass
        check(not db.running)
        time.sleep(1.0)
        db.start()
        eq((db.port, db.dir), (port, d), "same port and directory")
        check(db.proc.pid != pid, "a new process")
        eq(db.points("m", "k8s"), [{"time": now, "tags": {"k": "a"}, "fields": {"v": 1}}])
        eq([r["name"] for r in db.retention_policies("k8s")], ["default"])
        eq(db.write(f"m,k=b v=2i {now}", "k8s", rp="default"), (204, ""))
        db.restart(down=0.5)
        eq(len(db.points("m", "k8s")), 2)


@test
def test_auth_admin_wrong_password_no_credentials():
    with InfluxDB(auth=True, password="s3cret-Pw") as db:
        eq(db.users(), [{"user": "admin", "admin": True}])
        db.create_database("k8s")
        eq(post_write(db, f"m v=1 {T}".encode(), "k8s", auth=("admin", "s3cret-Pw")), (204, ""))
        eq(post_write(db, f"m v=1 {T}".encode(), "k8s", auth=("admin", "wrong")),
           (401, '{"error":"authorization failed"}\n'))
        eq(post_write(db, f"m v=1 {T}".encode(), "k8s", auth=("nobody", "x")),
           (401, '{"error":"authorization failed"}\n'))
        st, h, body = db.request("POST", "/write", params={"db": "k8s"}, body=b"m v=1", auth=False)
        eq((st, body), (401, b'{"error":"unable to parse authentication credentials"}\n'))
        eq(h.get("www-authenticate"), 'Basic realm="InfluxDB"')
        eq(post_write(db, f"m v=1 {T}".encode(), "nodb", auth=("admin", "wrong"))[0], 401,
           "credentials are checked before the database")
        st, _, body = db.request("POST", "/write", params={"db": "k8s", "u": "admin", "p": "s3cret-Pw"},
                                 body=b"m v=2", auth=False)
        eq(st, 204, "u= and p= in the query string work too")
        eq(db.request("GET", "/ping", auth=False)[0], 204, "/ping needs no credentials")
        try:
            db.query("SHOW DATABASES", auth=("admin", "wrong"))
            raise AssertionError("no QueryError")
        except QueryError as e:
            eq(e.status, 401)
        # a user without privileges, then with WRITE
        db.create_user("w", "wpw")
        eq(post_write(db, b"m v=1", "k8s", auth=("w", "wpw")),
           (403, '{"error":"\\"w\\" user is not authorized to write to database \\"k8s\\""}\n'))
        st, _, body = db.request("POST", "/query", params={"q": 'CREATE DATABASE "k8s" WITH NAME "default"'},
                                 auth=("w", "wpw"))
        eq(st, 403, "CREATE DATABASE needs admin even when the database exists")
        check(b"requires admin privilege" in body, body)
        db.grant("WRITE", "k8s", "w")
        eq(post_write(db, b"m v=3", "k8s", auth=("w", "wpw")), (204, ""))
        eq(post_write(db, b"m v=3", "nodb", auth=("w", "wpw"))[0], 404)
    with InfluxDB() as db:
        eq(db.request("POST", "/write", params={"db": "x"}, body=b"m v=1", auth=("any", "thing"))[0], 404,
           "auth off: credentials are ignored")


@test
def test_https_with_the_test_ca():
    with InfluxDB(tls=True) as db:
        check(db.url.startswith("https://127.0.0.1:"), db.url)
        db.create_database("k8s")
        eq(post_write(db, f"m v=1 {T}".encode(), "k8s"), (204, ""))
        eq(len(db.points("m", "k8s")), 1)
        try:   # the system CAs do not know the test CA
            urllib.request.build_opener(urllib.request.ProxyHandler({})).open(f"{db.url}/ping", timeout=5)
            raise AssertionError("verified without the test CA")
        except urllib.error.URLError as e:
            check(isinstance(e.reason, ssl.SSLCertVerificationError), repr(e))
        c = http.client.HTTPConnection("127.0.0.1", db.port, timeout=5)   # plain HTTP to the TLS port
        try:
            c.request("GET", "/ping")
            st = c.getresponse().status
            eq(st, 400, "Go answers plain HTTP on a TLS port with 400")
        except (OSError, http.client.HTTPException):
            pass
        finally:
            c.close()
    tls = influx._resolve_tls(True)
    check(all(os.path.exists(p) for p in tls), tls)
    from receivers import make_tls_files
    files = make_tls_files(os.path.join(TMP, "tls"))
    with InfluxDB(tls=files) as db:
        eq(db.ca, files["ca"])
        eq(db.request("GET", "/ping")[0], 204)


@test
def test_query_helpers_and_errors():
    with InfluxDB() as db:
        eq(db.query('CREATE DATABASE "x" WITH DURATION 7d NAME "default"'), {"results": [{"statement_id": 0}]})
        eq(db.query('CREATE DATABASE "x" WITH DURATION 7d NAME "default"'), {"results": [{"statement_id": 0}]},
           "the same CREATE DATABASE twice: no error")
        eq(db.retention_policies("x"), [{"name": "default", "duration": "168h0m0s", "shardGroupDuration": "24h0m0s",
                                         "replicaN": 1, "default": True}])
        try:
            db.query('CREATE DATABASE "x" WITH DURATION 14d NAME "default"')
            raise AssertionError("no QueryError")
        except QueryError as e:
            eq(e.status, 200, "a statement error comes in a 200")
            eq(e.body, {"results": [{"statement_id": 0,
                                     "error": "retention policy conflicts with an existing policy"}]})
        try:
            db.query("SELEC * FROM x")
            raise AssertionError("no QueryError")
        except QueryError as e:
            eq(e.status, 400, "a syntax error is HTTP 400")
            check(e.body["error"].startswith("error parsing query: found SELEC, expected SELECT"), e.body)
        st, _, body = db.request("GET", "/query", params={"q": 'CREATE DATABASE "g"'})
        eq(st, 200)
        check(b"please use a POST request instead" in body, body)
        check("g" in db.databases(), "GET still created it")
        eq(db.request("GET", "/query")[0], 400, "no q=")
        db.create_database("y")
        eq([r["name"] for r in db.retention_policies("y")], ["autogen"])
        eq(db.write(f"m v=1 {T}", "y", rp="autogen"), (204, ""))
        eq(db.points("m", "y", rp="autogen")[0]["fields"], {"v": 1})
        eq(db.points("nosuch", "y"), [])


@test
def test_write_answers():
    with InfluxDB(config_extra="") as db:
        db.create_database("k8s")
        line = f"m v=1 {T}\n".encode()
        eq(post_write(db, line, "k8s", rp="nope"), (500, '{"error":"retention policy not found: nope"}\n'))
        eq(post_write(db, line, "k8s", rp="default"), (500, '{"error":"retention policy not found: default"}\n'),
           "upstream's fixed rp=default on a database made without it")
        eq(post_write(db, line, "nodb"), (404, '{"error":"database not found: \\"nodb\\""}\n'))
        st, h, body = db.request("POST", "/write", body=line)
        eq((st, body), (400, b'{"error":"database is required"}\n'))
        eq(post_write(db, line, "k8s", consistency="", precision="", rp=""), (204, ""),
           "upstream's empty consistency= precision= rp= are accepted")
        eq(post_write(db, b"s v=1 1700000000", "k8s", precision="s"), (204, ""))
        eq(db.points("s", "k8s")[0]["time"], T)
        eq(post_write(db, b"", "k8s"), (204, ""), "an empty body")
        st, _, body = db.request("GET", "/write", params={"db": "k8s"})
        eq(st, 405)
        import gzip
        st, _, _ = db.request("POST", "/write", params={"db": "k8s"}, body=gzip.compress(f"gz v=1 {T}".encode()),
                              headers={"Content-Encoding": "gzip"})
        eq(st, 204)
        eq(len(db.points("gz", "k8s")), 1, "gzip bodies are accepted")
        # series key (measurement + tags) + "#!~#" + field key <= 65535 bytes
        eq(db.write(b'x,t=' + b"y" * 65526 + b' v=1 %d' % T, "k8s"), (204, ""))
        st, body = db.write(b'x,t=' + b"y" * 65527 + b' v=1 %d' % T, "k8s")
        eq(st, 400)
        check(body.endswith("max key length exceeded: 65536 \\u003e 65535\"}\n"), body[-80:])
        # larger than max-body-size (25 000 000): 413 before the body is read
        s = socket.create_connection(("127.0.0.1", db.port), timeout=10)
        big = 26_000_000
        s.sendall(b"POST /write?db=k8s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % big)
        try:
            s.sendall(b"m v=\"" + b"x" * (big - 8) + b"\" 1\n"[:8])
        except OSError:
            pass
        s.settimeout(5)
        ans = b""
        try:
            while b"\r\n\r\n" not in ans:
                d = s.recv(4096)
                if not d:
                    break
                ans += d
        except OSError:
            pass
        s.close()
        check(ans.startswith(b"HTTP/1.1 413 Request Entity Too Large"), ans[:100])


@test
def test_line_protocol_facts():
    rows = []
    with InfluxDB() as db:
        db.create_database("f")
        bad = []
        for i, (what, body, status, text, want) in enumerate(influx.LP_CASES):
            m = f"c{i}"
            raw = body.replace(b"{M}", m.encode()).replace(b"{T}", str(T).encode())
            st, ans = db.write(raw, "f")
            meas = m
            if raw.startswith(b"log/events"):
                meas = "log/events"
            elif raw.startswith(b"my\\ m"):
                meas = "my m,x"
            elif raw.startswith(b"a=b,"):
                meas = "a=b"
            got = db.points(meas, "f")
            exp_text = text.replace("{M}", m).replace("{T}", str(T))
            ok = st == status and exp_text in ans
            if want is not None:
                ok = ok and [(p["tags"], p["fields"]) for p in got] == want
            if not ok:
                bad.append(f"{what}: sent {raw[:120]!r} -> {st} {ans[:300]!r}, read {_short(got)}")
            rows.append((what, raw, st, ans, got))
        if FACTS:
            print("| case | sent (Python bytes repr) | /write answered | read back (tags; fields) |")
            print("|---|---|---|---|")
            for what, raw, st, ans, got in rows:
                sent = repr(raw if len(raw) < 90 else raw[:40] + b"..." + raw[-30:])
                a = ans.strip()
                answer = f"{st} `{a}`" if a else f"{st}"
                print(f"| {what} | `{sent}` | {answer} | {_short(got)} |")
        check(not bad, "\n  " + "\n  ".join(bad))


def _short(pts):
    out = []
    for p in pts:
        f = {k: (f"<{len(v)} chars>" if isinstance(v, str) and len(v) > 60 else v) for k, v in p["fields"].items()}
        out.append(f"{json.dumps(p['tags'], ensure_ascii=False)}; {json.dumps(f, ensure_ascii=False)}")
        if p["time"] != T:
            out[-1] += f" @{p['time']}"
    return " / ".join(out) if out else "nothing"


@test
def test_stop_is_bounded_and_start_timeout_reports():
    db = InfluxDB(start_timeout=20).start()
    try:
        t0 = time.monotonic()
        db.stop(timeout=10)
        check(time.monotonic() - t0 < 12)
        # a port taken by someone else: start fails clearly, within the deadline
        blocker = socket.socket()
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", db.port))
        blocker.listen(1)
        try:
            t0 = time.monotonic()
            try:
                db.start(timeout=5)
                raise AssertionError("started on a taken port")
            except RuntimeError as e:
                check("did not come up" in str(e) and "address already in use" in str(e), str(e)[-500:])
            check(time.monotonic() - t0 < 8)
        finally:
            blocker.close()
        db.start()
        eq(db.request("GET", "/ping")[0], 204)
        # a server that ignores SIGTERM (stopped) is killed after the deadline; fsynced data survives
        db.create_database("k")
        eq(db.write(f"m v=1 {T}", "k"), (204, ""))
        os.kill(db.proc.pid, signal.SIGSTOP)
        t0 = time.monotonic()
        rc = db.stop(timeout=1.0)
        check(0.9 <= time.monotonic() - t0 < 5, f"killed after the deadline ({time.monotonic() - t0:.1f}s)")
        eq(rc, -signal.SIGKILL)
        db.start()
        eq(len(db.points("m", "k")), 1, "the WAL (fsync on every write) kept the point")
    finally:
        db.close()


TMP = tempfile.mkdtemp(prefix="influx-selftest-")


def main():
    only = None
    if "-k" in sys.argv:
        only = sys.argv[sys.argv.index("-k") + 1]
    passed = failed = 0
    n = 0
    try:
        for fn in TESTS:
            if only and only not in fn.__name__:
                continue
            n += 1
            t0 = time.monotonic()
            try:
                fn()
                passed += 1
                print(f"ok {n} - {fn.__name__} ({time.monotonic() - t0:.1f}s)", flush=True)
            except Exception as e:
                failed += 1
                print(f"not ok {n} - {fn.__name__}: {e}", flush=True)
                traceback.print_exc()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
