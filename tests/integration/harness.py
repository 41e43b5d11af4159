"""Integration-test harness: runs the real kube-eventer binary on loopback.

A test is a function ``test_<name>(t)`` in a ``test_*.py`` module here; ``t``
is a :class:`Case` giving it the binary, emulators, temporary files and
cleanup. Every line the binary logs is kept, and after the whole run the
runner checks that none of the secrets tests registered with
``t.secret(...)`` ever reached a log (DESIGN.md §7).
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "emu"))

ALL_LOGS = []      # (test name, line) for every line any binary printed
SECRETS = set()    # strings that must never appear in ALL_LOGS
BIN = os.path.join(ROOT, "build", "kube-eventer")


def sanitized():
    """True when BIN is the ASan/UBSan build (its memory figures are not the product's)."""
    if not hasattr(sanitized, "v"):
        with open(BIN, "rb") as f:
            sanitized.v = b"__asan_init" in f.read()
    return sanitized.v


class Failure(AssertionError):
    pass


def check(cond, msg="check failed"):
    if not cond:
        raise Failure(msg)


def eq(a, b, msg=""):
    if a != b:
        raise Failure(f"{msg + ': ' if msg else ''}{a!r} != {b!r}")


def wait_until(pred, timeout=10.0, interval=0.02, msg="condition"):
    """Poll pred() until it is truthy; fail after timeout seconds."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise Failure(f"timed out after {timeout}s waiting for {msg}")
        time.sleep(interval)


class KE:
    """One running kube-eventer process."""

    def __init__(self, case, args, env=None, stdin=None):
        self.case = case
        self.args = [BIN] + list(args)
        e = dict(os.environ)
        e.setdefault("TZ", "UTC")
        e.pop("HTTPS_PROXY", None)
        e.pop("https_proxy", None)
        e.pop("HTTP_PROXY", None)
        e.pop("http_proxy", None)
        if env:
            e.update(env)
        self.lines = []
        self.stdout_lines = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            self.args, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
        self._t_err = threading.Thread(target=self._pump, args=(self.proc.stderr, self.lines), daemon=True)
        self._t_out = threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout_lines), daemon=True)
        self._t_err.start()
        self._t_out.start()
        if stdin is not None and stdin is not True:
            self.proc.stdin.write(stdin)
            self.proc.stdin.close()
        case.cleanup(self.kill)

    def feed(self, data):
        """Write to the binary's stdin (stdin=True keeps it open)."""
        if isinstance(data, str):
            data = data.encode()
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def close_stdin(self):
        self.proc.stdin.close()

    def _pump(self, stream, sink):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                sink.append(line)
            ALL_LOGS.append((self.case.name, line))

    def log_text(self):
        with self._lock:
            return "\n".join(self.lines)

    def wait_log(self, pattern, timeout=10.0):
        rx = re.compile(pattern)

        def found():
            with self._lock:
                for line in self.lines:
                    m = rx.search(line)
                    if m:
                        return m
            return None
        return wait_until(found, timeout, msg=f"log line /{pattern}/\n--- log:\n{self.log_text()[-3000:]}")

    def count_log(self, pattern):
        rx = re.compile(pattern)
        with self._lock:
            return sum(1 for line in self.lines if rx.search(line))

    @property
    def health_port(self):
        m = self.wait_log(r"health: listening on [^ ]*:(\d+)")
        return int(m.group(1))

    def get(self, path, timeout=5):
        url = f"http://127.0.0.1:{self.health_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metrics(self):
        """Parse /metrics into {"name{labels}": value}."""
        status, body = self.get("/metrics")
        eq(status, 200, "/metrics status")
        out = {}
        for line in body.splitlines():
            if not line or line.startswith("#"):
                continue
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
        return out

    def metric(self, name, default=0.0):
        return self.metrics().get(name, default)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=15):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise Failure(f"kube-eventer did not exit within {timeout}s\n{self.log_text()[-3000:]}")
        self._t_err.join(2)
        self._t_out.join(2)
        return rc

    def stop(self, timeout=15):
        """SIGTERM and wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass


class Case:
    """What a test function receives."""

    def __init__(self, name):
        self.name = name
        self._cleanups = []
        self.tmp = tempfile.mkdtemp(prefix="ke-it-")

    def cleanup(self, fn):
        self._cleanups.append(fn)

    def run_cleanups(self):
        for fn in reversed(self._cleanups):
            try:
                fn()
            except Exception as e:  # cleanup must not hide the test's result
                print(f"#   cleanup error: {e}")
        subprocess.run(["rm", "-rf", self.tmp])

    def secret(self, s):
        """Register a secret: it must never appear in any log line."""
        SECRETS.add(s)
        return s

    def path(self, name):
        return os.path.join(self.tmp, name)

    def write(self, name, content, mode=0o644):
        p = self.path(name)
        with open(p, "w" if isinstance(content, str) else "wb") as f:
            f.write(content)
        os.chmod(p, mode)
        return p

    def ke(self, *args, env=None, stdin=None):
        return KE(self, args, env=env, stdin=stdin)

    def run_ke(self, *args, env=None, stdin=None, timeout=20):
        """Run to completion; returns (exit code, stdout, stderr)."""
        k = KE(self, args, env=env, stdin=stdin)
        rc = k.wait(timeout)
        return rc, "\n".join(k.stdout_lines), k.log_text()


_PKI = None


def pki():
    """The shared test PKI (made once per run, under build/)."""
    global _PKI
    if _PKI is None:
        import certs
        _PKI = certs.make_pki(os.path.join(ROOT, "build", "test-pki"))
    return _PKI


def kubeconfig(case, api, token=None, token_file=None, exec_cmd=None, client_cert=False, ca=None,
               name="kubeconfig", proxy_url=None):
    """Write a kubeconfig for the emulator; returns its path."""
    p = pki()
    user = {}
    if token:
        user["token"] = token
    if token_file:
        user["tokenFile"] = token_file
    if exec_cmd:
        user["exec"] = {"apiVersion": "client.authentication.k8s.io/v1", "command": exec_cmd,
                        "interactiveMode": "Never"}
    if client_cert:
        import base64
        user["client-certificate-data"] = base64.b64encode(open(p["client"], "rb").read()).decode()
        user["client-key-data"] = base64.b64encode(open(p["client_key"], "rb").read()).decode()
    cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "test",
           "clusters": [{"name": "emu", "cluster": {"server": api.url, "certificate-authority": ca or p["ca"]}}],
           "contexts": [{"name": "test", "context": {"cluster": "emu", "user": "u"}}],
           "users": [{"name": "u", "user": user}]}
    if proxy_url:
        cfg["clusters"][0]["cluster"]["proxy-url"] = proxy_url
    return case.write(name, json.dumps(cfg))  # JSON is YAML


def yaml_docs(path):
    """Every YAML document of a file (via the yaml2json test tool)."""
    tool = os.path.join(ROOT, "build", "tools", "yaml2json")
    if not os.access(tool, os.X_OK):
        tool = os.path.join(ROOT, "build", "san", "tools", "yaml2json")
    out = subprocess.run([tool, path], check=True, capture_output=True).stdout
    return json.loads(out)


def kubelet_expand(s, env):
    """Kubernetes' $(VAR) expansion in container commands."""
    import re
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), s)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def event(ns="default", name=None, reason="BackOff", type_="Warning", message="Back-off restarting failed container",
          kind="Pod", obj=None, count=1, uid=None, rv="1", ts="2024-03-05T07:08:09Z", **extra):
    """A legacy core/v1 Event as the API server serves it."""
    obj = obj or f"{name or 'web'}-abc"
    name = name or f"{obj}.17b{abs(hash((ns, obj, reason))) % 10**9:09d}"
    e = {
        "kind": "Event", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": ns, "uid": uid or f"uid-{ns}-{name}",
                     "resourceVersion": rv, "creationTimestamp": ts},
        "involvedObject": {"kind": kind, "namespace": ns if kind != "Node" else "", "name": obj,
                           "uid": f"obj-{obj}", "apiVersion": "v1"},
        "reason": reason, "message": message, "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": ts, "lastTimestamp": ts, "count": count, "type": type_,
        "eventTime": None, "reportingComponent": "", "reportingInstance": "",
    }
    e.update(extra)
    return e


def event_list(events):
    return json.dumps({"kind": "EventList", "apiVersion": "v1", "metadata": {"resourceVersion": "100"},
                       "items": events})
