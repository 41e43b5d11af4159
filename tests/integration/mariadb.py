r"""A real MariaDB (Debian's `mariadb-server`, 10.11) as a throwaway peer on loopback.

Python 3.11 standard library only; the server is queried with Debian's `mariadb` command-line
client over the server's unix socket (no Python driver: Debian's python3-pymysql would be seen
by /usr/bin/python3 alone, and the tests run on whatever python3 is on PATH).

    import mariadb
    with mariadb.MariaDB() as db:               # or MariaDB(tls=True)
        db.port                                 # TCP on 127.0.0.1 (the sink's side)
        db.sql("CREATE DATABASE k8s")           # rows as lists of str (None for NULL)
        db.create_user("ke", "p@ss:w%rd#1", grants=["ALL ON k8s.*"])
        db.rows("k8s.kube_event", ["namespace", "message"])   # exact text, via HEX()
        db.stop(); db.start()                   # same port, same datadir, data kept
    db = mariadb.for_case(t)                    # in an integration test: closed by t's cleanup

What a server gets: `mariadb-install-db` into a temporary datadir (once per instance, ~1 s),
then `mariadbd --no-defaults` on 127.0.0.1 and a free port, its socket, pid file and error log
in that directory, no binary log, small InnoDB buffers, strict SQL mode (MariaDB's default),
`--skip-name-resolve` (accounts are 'user'@'127.0.0.1'). root has an empty password over the
socket only. tls=True serves the project's test PKI (certs.make_pki: server certificate with
IP SAN 127.0.0.1, signed by pki["ca"]); tls="require" also sets require_secure_transport.
A server left open is stopped at interpreter exit, and gets SIGKILL if the test process dies.

Facts measured on 10.11.19 (Debian 12) that the mysql sink's tests rely on:
- the greeting offers mysql_native_password, CLIENT_SSL only when certificates are configured;
  MariaDB has no caching_sha2_password (MySQL 8's default): that plugin is tested by unit
  tests and by tests/emu/mysqlemu.py.
- strict mode (STRICT_TRANS_TABLES): a value too long for a column fails the whole statement
  with 1406 "Data too long for column 'message' at row N"; a 4-byte character in a utf8mb3
  column fails with 1366 "Incorrect string value"; InnoDB rolls the statement back.
- KILL <id> closes the connection without a word to it; SET GLOBAL wait_timeout closes idle
  connections (newer sessions only) silently as well.
"""
import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

__all__ = ["MariaDB", "MariaDBMissing", "SQLError", "for_case", "quote"]

_LIVE = weakref.WeakSet()


class MariaDBMissing(RuntimeError):
    pass


class SQLError(RuntimeError):
    pass


@atexit.register
def _close_all():
    for db in list(_LIVE):
        try:
            db.close()
        except Exception:
            pass


def _die_with_parent():
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except Exception:
        pass


def _find(names):
    for n in names:
        w = shutil.which(n) or (f"/usr/sbin/{n}" if os.access(f"/usr/sbin/{n}", os.X_OK) else None)
        if w:
            return w
    raise MariaDBMissing(f"none of {names} found: install Debian's mariadb-server (scripts/test-deps.sh does)")


def quote(s):
    """A MariaDB string literal (default sql_mode: backslash escapes)."""
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'").replace("\0", "\\0") + "'"


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def for_case(case, **kw):
    db = MariaDB(**kw)
    case.cleanup(db.close)
    return db.start()


class MariaDB:
    def __init__(self, tls=False, port=0, base_dir=None, start_timeout=60.0, args=()):
        self.server = _find(["mariadbd", "mysqld"])
        self.install = _find(["mariadb-install-db", "mysql_install_db"])
        self.client = _find(["mariadb", "mysql"])
        self.tls = tls
        self.port = port
        self.args = list(args)
        self.start_timeout = start_timeout
        self.dir = tempfile.mkdtemp(prefix="ke-mariadb-", dir=base_dir)
        self.datadir = os.path.join(self.dir, "data")
        self.socket = os.path.join(self.dir, "mysqld.sock")
        self.log_path = os.path.join(self.dir, "error.log")
        self.proc = None
        self.ca = None
        if tls:
            import sys
            sys.path.insert(0, os.path.join(ROOT, "tests", "emu"))
            import certs
            self.pki = certs.make_pki(os.path.join(ROOT, "build", "test-pki"))
            self.ca = self.pki["ca"]

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _common(self):
        return ["--no-defaults", f"--datadir={self.datadir}", "--user=root", "--innodb-log-file-size=8M"]

    def log_tail(self, n=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def start(self, timeout=None):
        if self.running:
            return self
        timeout = self.start_timeout if timeout is None else timeout
        if not os.path.isdir(os.path.join(self.datadir, "mysql")):
            r = subprocess.run([self.install] + self._common() + ["--auth-root-authentication-method=normal",
                                                                   "--skip-test-db"],
                               capture_output=True, text=True, timeout=120)
            if r.returncode != 0:
                raise RuntimeError(f"mariadb-install-db failed: {r.stdout[-2000:]}{r.stderr[-2000:]}")
        fixed = bool(self.port)
        for attempt in range(5):
            if not self.port:
                self.port = _free_port()
            cmd = [self.server] + self._common() + [
                f"--socket={self.socket}", f"--port={self.port}", "--bind-address=127.0.0.1",
                f"--pid-file={os.path.join(self.dir, 'mysqld.pid')}", f"--log-error={self.log_path}",
                "--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=32M",
                "--innodb-flush-log-at-trx-commit=2", "--max-connections=50", "--performance-schema=off",
                f"--tmpdir={self.dir}"]
            if self.tls:
                cmd += [f"--ssl-cert={self.pki['server']}", f"--ssl-key={self.pki['server_key']}",
                        f"--ssl-ca={self.pki['ca']}"]
                if self.tls == "require":
                    cmd += ["--require-secure-transport=ON"]
            cmd += self.args
            main = __import__("threading").current_thread() is __import__("threading").main_thread()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, start_new_session=True,
                                         preexec_fn=_die_with_parent if main else None)
            _LIVE.add(self)
            err = self._wait_ready(timeout)
            if err is None:
                return self
            self._reap()
            if not fixed and "Address already in use" in self.log_tail() and attempt < 4:
                self.port = 0
                continue
            raise RuntimeError(f"mariadbd did not come up on port {self.port}: {err}\n--- {self.log_path}:\n"
                               f"{self.log_tail()}")
        return self

    def _wait_ready(self, timeout):
        end = time.monotonic() + timeout
        last = ""
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                return f"mariadbd exited with status {self.proc.returncode}"
            r = subprocess.run(self._client_cmd() + ["-e", "SELECT 1"], capture_output=True, text=True, timeout=30)
            if r.returncode == 0:
                # and the TCP side is listening too
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
                    return None
                except OSError as e:
                    last = str(e)
            else:
                last = r.stderr.strip()
            time.sleep(0.1)
        return f"not ready within {timeout}s ({last})"

    def _reap(self, timeout=30.0, sig=signal.SIGTERM):
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    pass
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(10)
            rc = self.proc.returncode
        return rc

    def stop(self, timeout=30.0):
        """Shut down (SIGTERM: a clean shutdown); the datadir and port are kept."""
        rc = self._reap(timeout)
        self.proc = None
        return rc

    def kill(self):
        """SIGKILL: a crash (InnoDB recovers what was committed at the next start)."""
        rc = self._reap(10, signal.SIGKILL)
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

    # -- SQL ------------------------------------------------------------------
    def _client_cmd(self, db=None):
        cmd = [self.client, "--no-defaults", "--protocol=socket", f"--socket={self.socket}", "-uroot",
               "--batch", "--skip-column-names", "--default-character-set=utf8mb4"]
        if db:
            cmd.append(f"--database={db}")
        return cmd

    def sql(self, q, db=None, timeout=60):
        """Run statements as root; the last result's rows as lists of str (None for NULL).
        Values are read in --batch form: use HEX() (or rows()) for text with tabs, newlines or
        backslashes."""
        r = subprocess.run(self._client_cmd(db), input=q, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise SQLError(r.stderr.strip() or f"mariadb exited with {r.returncode}")
        out = []
        for line in r.stdout.splitlines():
            out.append([None if c == "NULL" else c for c in line.split("\t")])
        return out

    def value(self, q, db=None):
        rows = self.sql(q, db)
        return rows[0][0] if rows else None

    def rows(self, table, cols, where=None, order="id"):
        """Every row of table (db.table) as a list of dicts, text exactly as stored (decoded UTF-8)."""
        sel = ", ".join(f"HEX(CAST(`{c}` AS CHAR))" for c in cols)
        q = f"SELECT {sel} FROM {table}"
        if where:
            q += f" WHERE {where}"
        if order:
            q += f" ORDER BY {order}"
        out = []
        for r in self.sql(q):
            out.append({c: (None if v is None else bytes.fromhex(v).decode("utf-8")) for c, v in zip(cols, r)})
        return out

    def create_user(self, name, password, host="127.0.0.1", grants=("ALL ON *.*",), plugin=None):
        auth = f"IDENTIFIED VIA {plugin} USING PASSWORD({quote(password)})" if plugin else \
            f"IDENTIFIED BY {quote(password)}"
        stmts = [f"CREATE USER {quote(name)}@{quote(host)} {auth};"]
        stmts += [f"GRANT {g} TO {quote(name)}@{quote(host)};" for g in grants]
        self.sql("\n".join(stmts))

    def connection_ids(self, user):
        return [r[0] for r in self.sql(f"SELECT ID FROM information_schema.PROCESSLIST WHERE USER={quote(user)}")]
