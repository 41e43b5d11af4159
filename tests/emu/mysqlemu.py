#!/usr/bin/env python3
r"""mysqlemu: a loopback server speaking the MySQL client protocol, for what MariaDB cannot show
(MySQL 8's caching_sha2_password) and as the mysql sink's benchmark sinkhole.

Python 3.11 standard library only (RSA decryption through the openssl command line tool).
Written from MySQL's protocol documentation (Connection Phase, caching_sha2_password, COM_QUERY,
OK/ERR packets); it stores nothing and answers as a MySQL 8.0 server would:

  greeting      protocol 10, "8.0.36-mysqlemu", CLIENT_SSL when tls= is given, default plugin
                `default_plugin` (caching_sha2_password unless told otherwise)
  login         the account's plugin (`plugin`): a different one than the greeting's is
                asked for with an AuthSwitchRequest and a fresh scramble, as MySQL does
     mysql_native_password   the 20-byte scramble checked
     caching_sha2_password   fast path: the 32-byte scramble checked; an account not in the
                cache yet (every account after start, unless cached=True) answers
                "perform full authentication" (0x01 0x04): over TLS the client sends the
                password in clear; without TLS it asks for the public key (0x02), gets it
                (0x01 + PEM) and sends the password XOR the scramble under RSA-OAEP (SHA-1),
                which openssl decrypts. A full auth that succeeded fills the cache, so the
                next login takes the fast path (0x01 0x03 then OK).
     wrong password          ERR 1045 (28000) "Access denied for user 'u'@'127.0.0.1'
                (using password: YES)"
  COM_QUERY     INSERT ... VALUES (...),(...): OK with affected rows = the rows counted;
                anything else (SET, CREATE TABLE): OK. `fail_inserts` = (code, state, msg)
                answers every INSERT with that ERR instead; `hang_inserts` = True never
                answers one (counted in `hung`) until the client closes.
  COM_QUIT      closes.

    emu = MySQLEmu(user="ke", password="pw", plugin="caching_sha2_password", tls=None|pki dict)
    emu.start(); emu.port; emu.rows; emu.logins (list of dicts: plugin, path "fast"/"full-tls"/
    "full-rsa"/"native"/"denied", tls); emu.statements; emu.stop()

    python3 tests/emu/mysqlemu.py [--port 0] [--plugin P] [--timeout S]
prints "listening 127.0.0.1 PORT", then "events TOTAL LAST_NS STATEMENTS" after every INSERT
(LAST_NS = time.time_ns() when it was read), like tests/bench/datahole.py; runs until SIGTERM.
"""
import hashlib
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RSA_KEY = os.path.join(ROOT, "tests", "unit", "data", "mysql_rsa_key.pem")
RSA_PUB = os.path.join(ROOT, "tests", "unit", "data", "mysql_rsa_pub.pem")

CLIENT_CONNECT_WITH_DB = 0x8
CLIENT_PROTOCOL_41 = 0x200
CLIENT_SSL = 0x800
CLIENT_SECURE_CONNECTION = 0x8000
CLIENT_PLUGIN_AUTH = 0x80000
CLIENT_PLUGIN_AUTH_LENENC = 0x200000
SERVER_CAPS = 0xDFFFFFFF & ~CLIENT_SSL   # MySQL 8's, TLS added when configured


def native_scramble(pw, nonce):
    s1 = hashlib.sha1(pw).digest()
    s2 = hashlib.sha1(s1).digest()
    return bytes(a ^ b for a, b in zip(hashlib.sha1(nonce + s2).digest(), s1))


def sha2_scramble(pw, nonce):
    m1 = hashlib.sha256(pw).digest()
    m1h = hashlib.sha256(m1).digest()
    return bytes(a ^ b for a, b in zip(m1, hashlib.sha256(m1h + nonce).digest()))


def rsa_decrypt(ct):
    with tempfile.NamedTemporaryFile() as f:
        f.write(ct)
        f.flush()
        r = subprocess.run(["openssl", "pkeyutl", "-decrypt", "-inkey", RSA_KEY, "-pkeyopt",
                            "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha1", "-pkeyopt",
                            "rsa_mgf1_md:sha1", "-in", f.name], capture_output=True)
    return r.stdout if r.returncode == 0 else None


def lenenc(n):
    if n < 0xFB:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfc" + struct.pack("<H", n)
    if n <= 0xFFFFFF:
        return b"\xfd" + struct.pack("<I", n)[:3]
    return b"\xfe" + struct.pack("<Q", n)


def ok_packet(affected=0):
    return b"\x00" + lenenc(affected) + lenenc(0) + struct.pack("<HH", 2, 0)


def err_packet(code, state, msg):
    return b"\xff" + struct.pack("<H", code) + b"#" + state.encode() + msg.encode()


class Conn:
    def __init__(self, emu, sock):
        self.emu = emu
        self.sock = sock
        self.buf = b""
        self.seq = 0
        self.tls = False

    def read_packet(self):
        payload = b""
        while True:
            while len(self.buf) < 4:
                d = self.sock.recv(1 << 20)
                if not d:
                    raise EOFError
                self.buf += d
            n = int.from_bytes(self.buf[:3], "little")
            self.seq = (self.buf[3] + 1) & 0xFF
            while len(self.buf) < 4 + n:
                d = self.sock.recv(max(1 << 20, 4 + n - len(self.buf)))
                if not d:
                    raise EOFError
                self.buf += d
            payload += self.buf[4:4 + n]
            self.buf = self.buf[4 + n:]
            if n < 0xFFFFFF:
                return payload

    def send(self, payload):
        self.sock.sendall(len(payload).to_bytes(3, "little") + bytes([self.seq]) + payload)
        self.seq = (self.seq + 1) & 0xFF

    def run(self):
        emu = self.emu
        nonce = os.urandom(20).translate(bytes.maketrans(b"\x00$", b"\x01%"))
        caps = SERVER_CAPS | (CLIENT_SSL if emu.tls else 0)
        plugin = emu.default_plugin.encode()
        greet = (b"\x0a" + b"8.0.36-mysqlemu\x00" + struct.pack("<I", 7) + nonce[:8] + b"\x00" +
                 struct.pack("<H", caps & 0xFFFF) + bytes([255]) + struct.pack("<H", 2) +
                 struct.pack("<H", caps >> 16) + bytes([21]) + b"\x00" * 10 + nonce[8:] + b"\x00" +
                 plugin + b"\x00")
        self.send(greet)
        resp = self.read_packet()
        ccaps = struct.unpack("<I", resp[:4])[0]
        if ccaps & CLIENT_SSL:
            if len(resp) != 32 or not emu.tls:
                raise EOFError
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(emu.tls["server"], emu.tls["server_key"])
            self.sock = ctx.wrap_socket(self.sock, server_side=True)
            self.tls = True
            resp = self.read_packet()
            ccaps = struct.unpack("<I", resp[:4])[0]
        elif emu.require_tls:
            self.send(err_packet(3159, "HY000", "Connections using insecure transport are prohibited while "
                                                "--require_secure_transport=ON."))
            raise EOFError
        off = 32
        z = resp.index(b"\x00", off)
        user = resp[off:z].decode()
        off = z + 1
        if ccaps & CLIENT_PLUGIN_AUTH_LENENC:
            n = resp[off]
            off += 1
            auth = resp[off:off + n]
            off += n
        else:
            n = resp[off]
            auth = resp[off + 1:off + 1 + n]
            off += 1 + n
        db = ""
        if ccaps & CLIENT_CONNECT_WITH_DB:
            z = resp.index(b"\x00", off)
            db = resp[off:z].decode()
            off = z + 1
        cplugin = resp[off:resp.index(b"\x00", off)].decode() if ccaps & CLIENT_PLUGIN_AUTH else ""
        login = {"user": user, "db": db, "tls": self.tls, "client_plugin": cplugin, "caps": ccaps}
        pw = emu.password.encode()
        if cplugin != emu.plugin:
            nonce = os.urandom(20).translate(bytes.maketrans(b"\x00", b"\x01"))
            self.send(b"\xfe" + emu.plugin.encode() + b"\x00" + nonce + b"\x00")
            auth = self.read_packet()
            login["switched"] = True
        login["plugin"] = emu.plugin
        good = user == emu.user
        if emu.plugin == "mysql_native_password":
            good = good and auth == (native_scramble(pw, nonce) if pw else b"")
            login["path"] = "native"
        else:  # caching_sha2_password
            fast = good and auth == (sha2_scramble(pw, nonce) if pw else b"")
            if fast and emu.cached:
                self.send(b"\x01\x03")
                login["path"] = "fast"
            else:
                self.send(b"\x01\x04")
                got = self.read_packet()
                if got == b"\x02" and not self.tls:
                    with open(RSA_PUB, "rb") as f:
                        self.send(b"\x01" + f.read())
                    plain = rsa_decrypt(self.read_packet()) or b""
                    got = bytes(c ^ nonce[i % 20] for i, c in enumerate(plain))
                    login["path"] = "full-rsa"
                else:
                    login["path"] = "full-tls" if self.tls else "full-clear"
                    if not self.tls:  # MySQL refuses a clear password on an insecure transport
                        good = False
                good = good and got == pw + b"\x00"
                if good:
                    emu.cached = True
        if not good:
            login["path"] = "denied"
            emu.logins.append(login)
            self.send(err_packet(1045, "28000", f"Access denied for user '{user}'@'127.0.0.1' "
                                                f"(using password: {'YES' if pw else 'NO'})"))
            return
        emu.logins.append(login)
        self.send(ok_packet())
        while True:
            p = self.read_packet()
            self.seq = 1
            if not p or p[0] == 0x01:  # COM_QUIT
                return
            if p[0] != 0x03:
                self.send(err_packet(1047, "08S01", "Unknown command"))
                continue
            q = p[1:]
            if q[:11].upper() == b"INSERT INTO":
                if emu.hang_inserts:    # read, never answered: the client's deadline must act
                    emu.hung += 1
                    while self.sock.recv(65536):
                        pass
                    return
                if emu.fail_inserts:
                    self.send(err_packet(*emu.fail_inserts))
                    continue
                v = q.find(b" VALUES ")
                end = q.rfind(b" ON DUPLICATE KEY")
                body = q[v + 8:end if end > 0 else len(q)]
                rows = body.count(b"),(") + 1
                with emu.lock:
                    emu.rows += rows
                    emu.statements += 1
                    emu.last_ns = time.time_ns()
                    if emu.on_insert:
                        emu.on_insert(emu.rows, emu.last_ns, emu.statements)
                self.send(ok_packet(rows))
            else:
                emu.other.append(q.decode(errors="replace"))
                self.send(ok_packet())


class MySQLEmu:
    def __init__(self, user="ke", password="pw", plugin="caching_sha2_password",
                 default_plugin="caching_sha2_password", tls=None, require_tls=False, cached=False, port=0):
        self.user, self.password, self.plugin = user, password, plugin
        self.default_plugin = default_plugin
        self.tls, self.require_tls, self.cached = tls, require_tls, cached
        self.port = port
        self.rows = self.statements = self.last_ns = 0
        self.logins, self.other = [], []
        self.fail_inserts = None
        self.hang_inserts = False
        self.hung = 0
        self.on_insert = None
        self.lock = threading.Lock()
        self._sock = None

    def start(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(16)
        self.port = s.getsockname()[1]
        self._sock = s
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        sock = self._sock
        while True:
            try:
                c, _ = sock.accept()
            except OSError:
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        conn = Conn(self, c)
        try:
            conn.run()
        except (EOFError, OSError, ValueError, ssl.SSLError):
            pass
        finally:
            try:
                conn.sock.close()
            except OSError:
                pass

    def stop(self):
        if self._sock:
            self._sock.close()
            self._sock = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--plugin", default="mysql_native_password")
    ap.add_argument("--user", default="ke")
    ap.add_argument("--password", default="pw")
    ap.add_argument("--timeout", type=float, default=300)
    a = ap.parse_args()
    emu = MySQLEmu(user=a.user, password=a.password, plugin=a.plugin, default_plugin=a.plugin, port=a.port)

    def report(total, last_ns, statements):
        sys.stdout.write(f"events {total} {last_ns} {statements}\n")
        sys.stdout.flush()
    emu.on_insert = report
    emu.start()
    print(f"listening 127.0.0.1 {emu.port}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait(a.timeout)
    emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
