"""net.c's TLS (the Kafka and MySQL sinks' transport) against Python TLS servers on loopback,
through build/tools/netprobe: verification, IP SANs, host names, client certificates,
STARTTLS, TLS 1.2 and 1.3."""
import os
import socket
import ssl
import subprocess
import threading

import harness
from harness import check, eq, pki

QUICK = ("test_verified_tls_by_ip_and_by_name",)


class TLSServer:
    """Answers "pong" to one "ping" line per connection. starttls: plain "STARTTLS" -> "OK",
    then the handshake."""

    def __init__(self, t, starttls=False, client_ca=None, max_version=None):
        p = pki()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(p["server"], p["server_key"])
        if client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(client_ca)
        if max_version:
            ctx.maximum_version = max_version
        self.ctx, self.starttls = ctx, starttls
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.versions = []
        self.peer_certs = []
        threading.Thread(target=self._run, daemon=True).start()
        t.cleanup(self.sock.close)

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            c.settimeout(10)
            if self.starttls:
                f = c.makefile("rb")
                if f.readline() != b"STARTTLS\n":
                    return
                c.sendall(b"OK\n")
            s = self.ctx.wrap_socket(c, server_side=True)
            self.versions.append(s.version())
            self.peer_certs.append(s.getpeercert())
            if s.makefile("rb").readline() == b"ping\n":
                s.sendall(b"pong\n")
            s.close()
        except (OSError, ssl.SSLError):
            c.close()


def probe(port, *args, host="127.0.0.1"):
    tool = os.path.join(os.path.dirname(harness.BIN), "tools", "netprobe")  # the same build as the binary
    r = subprocess.run([tool, host, str(port), *args], capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout.strip()


def test_verified_tls_by_ip_and_by_name(t):
    s = TLSServer(t)
    ca = pki()["ca"]
    eq(probe(s.port, "tls", f"ca={ca}"), (0, "pong"), "IP SAN 127.0.0.1")
    eq(probe(s.port, "tls", f"ca={ca}", host="localhost"), (0, "pong"), "DNS SAN, name resolved off the loop")
    check(s.versions and s.versions[0] == "TLSv1.3", s.versions)


def test_untrusted_and_wrong_name_are_refused(t):
    s = TLSServer(t)
    rc, out = probe(s.port, "tls", f"ca={pki()['other_ca']}")
    eq(rc, 1)
    check("not trusted" in out, out)
    rc, out = probe(s.port, "tls", f"ca={pki()['ca']}", "sni=wrong.example")
    eq(rc, 1)
    check("not valid for this host name" in out, out)
    # only when asked
    eq(probe(s.port, "tls", f"ca={pki()['other_ca']}", "insecure"), (0, "pong"))


def test_client_certificate(t):
    p = pki()
    s = TLSServer(t, client_ca=p["ca"])
    eq(probe(s.port, "tls", f"ca={p['ca']}", f"cert={p['client']}", f"key={p['client_key']}"), (0, "pong"))
    check(any(c and ("commonName", "kube-eventer-test") in [x for rdn in c["subject"] for x in rdn]
              for c in s.peer_certs), s.peer_certs)
    rc, out = probe(s.port, "tls", f"ca={p['ca']}")
    eq(rc, 1, "no client certificate: the server refuses")
    rc, out = probe(s.port, "tls", f"ca={p['ca']}", f"cert={p['client']}", "key=/nonexistent")
    eq(rc, 1)
    check("client key" in out, out)


def test_starttls_and_tls12(t):
    s = TLSServer(t, starttls=True)
    eq(probe(s.port, "starttls", f"ca={pki()['ca']}"), (0, "pong"))
    s12 = TLSServer(t, max_version=ssl.TLSVersion.TLSv1_2)
    eq(probe(s12.port, "tls", f"ca={pki()['ca']}"), (0, "pong"))
    eq(s12.versions, ["TLSv1.2"])


def test_a_server_that_never_finishes_the_handshake(t):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    t.cleanup(sock.close)
    rc, out = probe(sock.getsockname()[1], "tls", f"ca={pki()['ca']}")  # accepted by the backlog, never answered
    eq(rc, 1)
    check("timed out" in out, out)
