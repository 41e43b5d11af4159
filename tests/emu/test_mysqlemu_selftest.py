#!/usr/bin/env python3
"""Self-test of tests/emu/mysqlemu.py (the MySQL 8-like server of the mysql sink's tests).

    python3 tests/emu/test_mysqlemu_selftest.py [-k SUBSTRING]

A small client written here from the protocol documentation (not the sink's C code) logs in
with each plugin and path the emulator claims to serve -- caching_sha2_password's full
authentication over TLS and with RSA (the client encrypts with the openssl command line
tool), then the fast path; mysql_native_password; plugin switches; wrong passwords -- and
sends INSERTs, whose rows are counted. Scramble vectors are cross-checked against the ones
the unit tests paste (computed independently with hashlib). Prints "ok N - name" lines and
"N passed, N failed"; loopback only; a few seconds.
"""
import os
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import certs  # noqa: E402
import mysqlemu  # noqa: E402
from mysqlemu import MySQLEmu  # noqa: E402

TESTS = []
PKI = None


def test(fn):
    TESTS.append(fn)
    return fn


def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


def eq(a, b, msg=""):
    if a != b:
        raise AssertionError(f"{msg + ': ' if msg else ''}{a!r} != {b!r}")


class Client:
    """Just enough of a MySQL client: greeting, [TLS], login, auth exchanges, COM_QUERY."""

    def __init__(self, port, user, password, db="k8s", plugin=None, tls=False):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.password = password.encode()
        p = self.read()
        eq(p[0], 10, "protocol 10")
        z = p.index(b"\x00", 1)
        self.version = p[1:z].decode()
        off = z + 1 + 4
        s1 = p[off:off + 8]
        off += 9
        caps = struct.unpack("<H", p[off:off + 2])[0]
        off += 2
        caps |= struct.unpack("<H", p[off + 3:off + 5])[0] << 16
        off += 16
        self.nonce = s1 + p[off:off + 12]
        off += 13
        self.server_plugin = p[off:p.index(b"\x00", off)].decode()
        self.plugin = plugin or self.server_plugin
        self.server_caps = caps
        mine = 0x200 | 0x8000 | 0x80000 | 0x200000 | 0x8
        self.tls = False
        if tls:
            check(caps & 0x800, "the server offers TLS")
            self.write(struct.pack("<IIB", mine | 0x800, 1 << 24, 45) + b"\x00" * 23)
            ctx = ssl.create_default_context(cafile=PKI["ca"])
            self.sock = ctx.wrap_socket(self.sock, server_hostname="127.0.0.1")
            self.tls = True
            mine |= 0x800
        auth = self.auth(self.plugin, self.nonce)
        self.write(struct.pack("<IIB", mine, 1 << 24, 45) + b"\x00" * 23 + user.encode() + b"\x00" +
                   bytes([len(auth)]) + auth + db.encode() + b"\x00" + self.plugin.encode() + b"\x00")
        self.path = self.finish_auth()

    def auth(self, plugin, nonce):
        if not self.password:
            return b""
        if plugin == "mysql_native_password":
            return mysqlemu.native_scramble(self.password, nonce)
        return mysqlemu.sha2_scramble(self.password, nonce)

    def finish_auth(self):
        path = []
        while True:
            p = self.read()
            if p[0] == 0x00:
                return path
            if p[0] == 0xFF:
                raise PermissionError(p[9:].decode())
            if p[0] == 0xFE:
                z = p.index(b"\x00", 1)
                self.plugin = p[1:z].decode()
                self.nonce = p[z + 1:].rstrip(b"\x00")
                path.append("switch")
                self.write(self.auth(self.plugin, self.nonce))
            elif p == b"\x01\x03":
                path.append("fast")
            elif p == b"\x01\x04":
                path.append("full")
                if self.tls:
                    self.write(self.password + b"\x00")
                else:
                    self.write(b"\x02")
            elif p[0] == 0x01 and p[1:].startswith(b"-----BEGIN PUBLIC KEY"):
                path.append("rsa")
                self.write(self.rsa(p[1:]))
            else:
                raise AssertionError(f"unexpected packet {p[:20]!r}")

    def rsa(self, pem):
        plain = bytes(c ^ self.nonce[i % 20] for i, c in enumerate(self.password + b"\x00"))
        with tempfile.TemporaryDirectory() as d:
            open(os.path.join(d, "k"), "wb").write(pem)
            open(os.path.join(d, "p"), "wb").write(plain)
            return subprocess.run(["openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey", os.path.join(d, "k"),
                                   "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha1",
                                   "-pkeyopt", "rsa_mgf1_md:sha1", "-in", os.path.join(d, "p")],
                                  check=True, capture_output=True).stdout

    def query(self, sql):
        self.seq = 0
        self.write(b"\x03" + sql.encode())
        return self.read()

    def read(self):
        while len(self.buf) < 4 or len(self.buf) < 4 + int.from_bytes(self.buf[:3], "little"):
            d = self.sock.recv(65536)
            if not d:
                raise EOFError("closed")
            self.buf += d
        n = int.from_bytes(self.buf[:3], "little")
        self.seq = (self.buf[3] + 1) & 0xFF
        p, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
        return p

    def write(self, payload):
        self.sock.sendall(len(payload).to_bytes(3, "little") + bytes([self.seq]) + payload)
        self.seq = (self.seq + 1) & 0xFF

    def close(self):
        self.sock.close()


@test
def scrambles_match_the_unit_tests_vectors():
    eq(mysqlemu.native_scramble(b"secret", bytes(range(1, 21))).hex(), "b32bb3a583e1340c0a1108d58b1be49781ad8c2f")
    eq(mysqlemu.sha2_scramble(b"secret", bytes(range(1, 21))).hex(),
       "746ebe205d56a0707acb3e796e834e0dd7b1d61743b26bd5202c7a623230c7c9")


@test
def caching_sha2_full_with_rsa_then_fast():
    with MySQLEmu(user="u", password="pw#1") as emu:
        c = Client(emu.port, "u", "pw#1")
        eq(c.server_plugin, "caching_sha2_password")
        eq(c.path, ["full", "rsa"])
        c.close()
        c = Client(emu.port, "u", "pw#1")
        eq(c.path, ["fast"])
        eq([x["path"] for x in emu.logins], ["full-rsa", "fast"])
        c.close()


@test
def caching_sha2_full_over_tls():
    with MySQLEmu(user="u", password="pw", tls=PKI) as emu:
        c = Client(emu.port, "u", "pw", tls=True)
        eq(c.path, ["full"])
        eq(emu.logins[0]["path"], "full-tls")
        eq(emu.logins[0]["tls"], True)
        c.close()


@test
def wrong_passwords_are_denied_on_every_path():
    with MySQLEmu(user="u", password="pw") as emu:
        for cached in (False, True):
            emu.cached = cached
            try:
                Client(emu.port, "u", "nope")
                raise AssertionError("logged in")
            except PermissionError as e:
                check("Access denied for user 'u'@'127.0.0.1' (using password: YES)" in str(e), str(e))
        try:
            Client(emu.port, "other", "pw")
            raise AssertionError("logged in")
        except PermissionError:
            pass
    with MySQLEmu(user="u", password="pw", plugin="mysql_native_password",
                  default_plugin="mysql_native_password") as emu:
        c = Client(emu.port, "u", "pw")
        eq(c.path, [])
        try:
            Client(emu.port, "u", "pW")
            raise AssertionError("logged in")
        except PermissionError:
            pass


@test
def plugins_switch_both_ways():
    with MySQLEmu(user="u", password="pw", plugin="caching_sha2_password",
                  default_plugin="mysql_native_password", cached=True) as emu:
        c = Client(emu.port, "u", "pw")
        eq(c.path, ["switch", "fast"])
        eq(len(c.nonce), 20)
    with MySQLEmu(user="u", password="pw", plugin="mysql_native_password") as emu:
        c = Client(emu.port, "u", "pw")
        eq(c.path, ["switch"])
        eq(emu.logins[0]["switched"], True)


@test
def inserts_are_counted_and_errors_scripted():
    with MySQLEmu(user="u", password="pw", cached=True) as emu:
        c = Client(emu.port, "u", "pw")
        eq(c.query("SET sql_mode=''")[0], 0)
        ok = c.query("INSERT INTO `t` (`a`,`b`) VALUES (X'41',X''),(X'4243',NULL),(1,'2024-03-05 07:08:09.000000') "
                     "ON DUPLICATE KEY UPDATE `event_id`=`event_id`")
        eq(ok[:2], b"\x00\x03", "OK, 3 rows")
        eq((emu.rows, emu.statements), (3, 1))
        emu.fail_inserts = (1205, "HY000", "Lock wait timeout exceeded")
        err = c.query("INSERT INTO `t` (`a`) VALUES (X'41')")
        eq(err[:3], b"\xff\xb5\x04")
        eq(err[3:9], b"#HY000")
        eq(emu.rows, 3)
        eq(emu.other, ["SET sql_mode=''"])


def main():
    global PKI
    PKI = certs.make_pki(os.path.join(ROOT, "build", "test-pki"))
    only = sys.argv[sys.argv.index("-k") + 1] if "-k" in sys.argv else None
    passed = failed = n = 0
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
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
