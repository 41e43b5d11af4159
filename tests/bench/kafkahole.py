#!/usr/bin/env python3
"""kafkahole: a loopback Kafka broker that keeps nothing, for the kafka sink's benchmark and
for the one test librdkafka's mock cannot serve (its 2.0.2 mock checks producer sequences only
for transactional producers).

Python 3.11 standard library only; a thread per connection on 127.0.0.1. It speaks what a
producer needs, written from Kafka's protocol guide, with the classic encodings:

  ApiVersions v0-v2   Produce 0-8 (v3-v8 served), Fetch 0-11 (listed, not served), Metadata
                      0-8, ApiVersions 0-2, InitProducerId 0-1
                      (a newer ApiVersions gets UNSUPPORTED_VERSION in the v0 form, as brokers do)
  Metadata v0-v8      this one broker (node 1) leads every partition of any topic asked for
  InitProducerId v0-1 a new producer id each time (epoch 0)
  Produce v3-v8       counts the records of each RecordBatch (its header's count) and answers
                      NONE with running offsets; with a producer id it keeps Kafka's
                      idempotence rule per (producer, partition): a batch whose base sequence
                      is the next expected is written; one of the last five written batches
                      again is a duplicate, answered with its first offset and not counted;
                      anything else is OUT_OF_ORDER_SEQUENCE_NUMBER

    python3 tests/bench/kafkahole.py [--port 0] [--partitions 4] [--timeout S]
                                     [--lose-answer K[,K...]] [--tls CERT KEY [--client-ca CA]]
                                     [--sasl MECH,... --user U --password P]

--tls: the listener speaks TLS (with --client-ca it asks for and verifies a client
certificate). --sasl: SaslHandshake v0-1 and SaslAuthenticate v0-1 with PLAIN (RFC 4616)
and/or SCRAM-SHA-256/512 (RFC 5802, the server side, no channel binding) for one user;
before a login only ApiVersions and the SASL requests are served (the rest closes the
connection, as a broker does).

--lose-answer K: the K-th Produce request (1-based) is written, then the connection is closed
instead of answered -- the ambiguous failure an idempotent producer must resend without
duplicating. Prints "listening 127.0.0.1 PORT", then after every Produce that carried records
"events TOTAL LAST_NS REQUESTS" (as tests/bench/datahole.py) and, when a resent batch was
recognised, "duplicates N", flushed; exits 0 on SIGTERM/SIGINT or 1 at the
deadline (default 300 s).
"""
import argparse
import base64
import collections
import hashlib
import hmac
import os
import signal
import socket
import ssl
import struct
import sys
import threading
import time

LOCK = threading.Lock()
STATE = {"total": 0, "requests": 0, "dups": 0, "produce_seen": 0, "next_pid": 1000}
OFFSETS = collections.Counter()                 # (topic, partition) -> next offset
SEQ = {}                                        # (pid, topic, partition) -> deque of (first_seq, last_seq, offset)


def s16(b, o):
    return struct.unpack_from(">h", b, o)[0], o + 2


def s32(b, o):
    return struct.unpack_from(">i", b, o)[0], o + 4


def string(b, o):
    n, o = s16(b, o)
    if n < 0:
        return None, o
    return b[o:o + n].decode(), o + n


def pstr(s):
    if s is None:
        return struct.pack(">h", -1)
    e = s.encode()
    return struct.pack(">h", len(e)) + e


def api_versions(ver, args):
    if ver > 2:
        return struct.pack(">hi", 35, 1) + struct.pack(">hhh", 18, 0, 2)
    # Produce from v0 and Fetch, as Kafka 4 still lists them (KAFKA-18659): librdkafka decides
    # on RecordBatch v2 only when Produce v3 and Fetch v4 are listed. Neither v0-v2 Produce nor
    # Fetch is served: a client that sends them has the connection closed.
    rows = [(0, 0, 8), (1, 0, 11), (3, 0, 8), (18, 0, 2), (22, 0, 1)]
    if args.sasl:
        rows += [(17, 0, 1), (36, 0, 1)]
    b = struct.pack(">hi", 0, len(rows)) + b"".join(struct.pack(">hhh", *r) for r in rows)
    return b + (struct.pack(">i", 0) if ver >= 1 else b"")


def metadata(ver, body, port, parts):
    o = 0
    n, o = s32(body, o)
    topics = []
    for _ in range(max(n, 0)):
        t, o = string(body, o)
        topics.append(t)
    b = struct.pack(">i", 0) if ver >= 3 else b""
    b += struct.pack(">i", 1) + struct.pack(">i", 1) + pstr("127.0.0.1") + struct.pack(">i", port)
    if ver >= 1:
        b += pstr(None)
    if ver >= 2:
        b += pstr("kafkahole")
    if ver >= 1:
        b += struct.pack(">i", 1)
    b += struct.pack(">i", len(topics))
    for t in topics:
        b += struct.pack(">h", 0) + pstr(t) + (b"\0" if ver >= 1 else b"") + struct.pack(">i", parts)
        for p in range(parts):
            b += struct.pack(">hii", 0, p, 1)
            if ver >= 7:
                b += struct.pack(">i", 0)
            b += struct.pack(">ii", 1, 1) + struct.pack(">ii", 1, 1)
            if ver >= 5:
                b += struct.pack(">i", 0)
        if ver >= 8:
            b += struct.pack(">i", -2**31)
    if ver >= 8:
        b += struct.pack(">i", -2**31)
    return b


def append(topic, part, batch):
    """One RecordBatch: (error, base offset, records written)."""
    count = struct.unpack_from(">i", batch, 57)[0]
    pid, epoch, seq = struct.unpack_from(">qhi", batch, 43)
    key = (pid, topic, part)
    with LOCK:
        if pid >= 0:
            hist = SEQ.setdefault(key, collections.deque(maxlen=5))
            for first, last, off in hist:
                if first == seq and last == seq + count - 1:
                    STATE["dups"] += 1
                    return 0, off, 0  # as Kafka since 1.0: NONE and the original offset
            expected = hist[-1][1] + 1 if hist else 0
            if seq != expected:
                return 45, -1, 0
        off = OFFSETS[(topic, part)]
        OFFSETS[(topic, part)] += count
        if pid >= 0:
            SEQ[key].append((seq, seq + count - 1, off))
        STATE["total"] += count
    return 0, off, count


def produce(ver, body):
    o = 0
    _, o = string(body, o)          # transactional id
    acks, o = s16(body, o)
    _, o = s32(body, o)             # timeout
    nt, o = s32(body, o)
    out = struct.pack(">i", nt)
    written = 0
    for _ in range(nt):
        topic, o = string(body, o)
        np_, o = s32(body, o)
        out += pstr(topic) + struct.pack(">i", np_)
        for _ in range(np_):
            part, o = s32(body, o)
            n, o = s32(body, o)
            data = body[o:o + n]
            o += n
            err, base, first_err = 0, -1, True
            pos = 0
            while pos + 61 <= len(data):   # the batches in the records field
                blen = struct.unpack_from(">i", data, pos + 8)[0]
                e, off, c = append(topic, part, data[pos:pos + 12 + blen])
                written += c
                if first_err:
                    err, base, first_err = e, off, False
                pos += 12 + blen
            out += struct.pack(">ihqq", part, err, base, -1)
            if ver >= 5:
                out += struct.pack(">q", 0)
            if ver >= 8:
                out += struct.pack(">i", 0) + pstr(None)
    return out + struct.pack(">i", 0), acks, written


class Sasl:
    """The server side of one connection's login."""

    def __init__(self, args):
        self.args, self.mech, self.done, self.scram = args, None, not args.sasl, None

    def handshake(self, body):
        mech, _ = string(body, 0)
        ok = mech in self.args.sasl
        self.mech = mech if ok else None
        return struct.pack(">h", 0 if ok else 33) + struct.pack(">i", len(self.args.sasl)) + \
            b"".join(pstr(m) for m in self.args.sasl)

    def authenticate(self, ver, body):
        n = struct.unpack_from(">i", body, 0)[0]
        token = body[4:4 + n]
        err, msg, out = 0, None, b""
        if self.mech == "PLAIN":
            parts = token.split(b"\0")
            if len(parts) == 3 and parts[1].decode() == self.args.user and parts[2].decode() == self.args.password:
                self.done = True
            else:
                err, msg = 58, "Authentication failed: Invalid username or password"
        elif self.mech and self.mech.startswith("SCRAM-"):
            err, msg, out = self.scram_step(token)
        else:
            err, msg = 34, "no mechanism chosen"
        b = struct.pack(">h", err) + pstr(msg) + struct.pack(">i", len(out)) + out
        if ver >= 1:
            b += struct.pack(">q", 0)
        return b, err

    def scram_step(self, token):
        h = "sha256" if self.mech == "SCRAM-SHA-256" else "sha512"
        t = token.decode()
        if self.scram is None:
            if not t.startswith("n,,"):
                return 58, "Authentication failed: channel binding not supported", b""
            bare = t[3:]
            attrs = dict(a.split("=", 1) for a in bare.split(","))
            name = attrs.get("n", "").replace("=2C", ",").replace("=3D", "=")  # saslname
            if name != self.args.user:
                return 58, "Authentication failed: Invalid user credentials", b""
            salt = os.urandom(16)
            nonce = attrs["r"] + base64.b64encode(os.urandom(18)).decode()
            first = f"r={nonce},s={base64.b64encode(salt).decode()},i=4096"
            salted = hashlib.pbkdf2_hmac(h, self.args.password.encode(), salt, 4096)
            self.scram = {"bare": bare, "first": first, "nonce": nonce, "salted": salted}
            return 0, None, first.encode()
        st = self.scram
        without_proof, _, proof = t.rpartition(",p=")
        attrs = dict(a.split("=", 1) for a in without_proof.split(","))
        # as Kafka since 3.8.1: the nonce must END with ours (librdkafka before 2.6.1 sends the
        # client nonce twice, librdkafka #4895); the RFC's exact echo passes too
        if not attrs.get("r", "").endswith(st["nonce"]) or attrs.get("c") != "biws":
            return 58, "Authentication failed: bad nonce or channel binding", b""
        auth = f"{st['bare']},{st['first']},{without_proof}".encode()
        client_key = hmac.new(st["salted"], b"Client Key", h).digest()
        stored = hashlib.new(h, client_key).digest()
        sig = hmac.new(stored, auth, h).digest()
        got = bytes(a ^ b for a, b in zip(base64.b64decode(proof), sig))
        if hashlib.new(h, got).digest() != stored:
            return 58, "Authentication failed: Invalid user credentials", b""
        server_key = hmac.new(st["salted"], b"Server Key", h).digest()
        self.done = True
        return 0, None, ("v=" + base64.b64encode(hmac.new(server_key, auth, h).digest()).decode()).encode()


def serve(conn, port, args):
    buf = b""
    sasl = Sasl(args)
    try:
        while True:
            while len(buf) < 4 or len(buf) < 4 + struct.unpack_from(">i", buf, 0)[0]:
                chunk = conn.recv(1 << 20)
                if not chunk:
                    return
                buf += chunk
            size = struct.unpack_from(">i", buf, 0)[0]
            frame, buf = buf[4:4 + size], buf[4 + size:]
            api, ver, corr = struct.unpack_from(">hhi", frame, 0)
            _, o = string(frame, 8)
            body = frame[o:]
            if api == 18:
                resp = api_versions(ver, args)
            elif api == 17 and args.sasl:
                resp = sasl.handshake(body)
            elif api == 36 and args.sasl:
                resp, err = sasl.authenticate(ver, body)
                if err:         # a broker answers the failure, then closes
                    conn.sendall(struct.pack(">ii", len(resp) + 4, corr) + resp)
                    return
            elif not sasl.done:
                return
            elif api == 3:
                resp = metadata(ver, body, port, args.partitions)
            elif api == 22:
                with LOCK:
                    STATE["next_pid"] += 1
                    pid = STATE["next_pid"]
                resp = struct.pack(">ihqh", 0, 0, pid, 0)
            elif api == 0 and ver >= 3:
                resp, acks, written = produce(ver, body)
                with LOCK:
                    STATE["produce_seen"] += 1
                    nth = STATE["produce_seen"]
                    STATE["requests"] += 1
                    if written:
                        print(f"events {STATE['total']} {time.time_ns()} {STATE['requests']}", flush=True)
                    if STATE["dups"] != STATE.get("dups_told", 0):
                        STATE["dups_told"] = STATE["dups"]
                        print(f"duplicates {STATE['dups']}", flush=True)
                if nth in args.lose_answer:
                    return          # written, never answered: the connection just ends
                if acks == 0:
                    continue
            else:
                print(f"unknown-api {api} v{ver}", flush=True)
                return              # an api we do not speak: as a broker, close
            conn.sendall(struct.pack(">ii", len(resp) + 4, corr) + resp)
    except OSError:
        return
    except (struct.error, ValueError, KeyError, UnicodeDecodeError, IndexError) as e:
        print(f"bad-request {type(e).__name__}: {e}", flush=True)
        return
    finally:
        conn.close()


def handshake_then_serve(c, port, args, tls):
    if tls:
        try:
            c.settimeout(15)
            c = tls.wrap_socket(c, server_side=True)
            c.settimeout(None)
        except (OSError, ssl.SSLError) as e:
            print(f"tls-error {e}", flush=True)
            c.close()
            return
    serve(c, port, args)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--lose-answer", default="")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--client-ca")
    ap.add_argument("--sasl", default="")
    ap.add_argument("--user", default="")
    ap.add_argument("--password", default="")
    args = ap.parse_args()
    args.sasl = [m for m in args.sasl.split(",") if m]
    args.lose_answer = {int(x) for x in args.lose_answer.split(",") if x}
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.port))
    srv.listen(64)
    port = srv.getsockname()[1]
    tls = None
    if args.tls:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(*args.tls)
        if args.client_ca:
            tls.verify_mode = ssl.CERT_REQUIRED
            tls.load_verify_locations(args.client_ca)
    print(f"listening 127.0.0.1 {port}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    deadline = threading.Timer(args.timeout, lambda: (print("deadline", flush=True), os._exit(1)))
    deadline.daemon = True
    deadline.start()
    try:
        while True:
            c, _ = srv.accept()
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=handshake_then_serve, args=(c, port, args, tls), daemon=True).start()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
