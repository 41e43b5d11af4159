#!/usr/bin/env python3
"""Self-test of tests/emu/sls.py with http.client only.

    python3 tests/emu/test_sls_selftest.py [-k SUBSTRING]

The signers are checked against aliyun-log-go-sdk's own test vectors, the LZ4 block
decoder against blocks made by the C build's liblz4 (build/tools/lz4block, made by
`make unit`), the PutLogs checks with requests this file builds and signs itself.
Prints "ok N - name (s)" / "not ok N - name" and ends with "N passed, N failed";
exits 1 on any failure.  Loopback only; every wait is bounded.
"""
import base64
import hashlib
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import sls  # noqa: E402
from receivers import Response  # noqa: E402

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


def eq(a, b, msg=""):
    if a != b:
        raise AssertionError(f"{msg + ': ' if msg else ''}{a!r} != {b!r}")


def lz4block(data):
    for p in ("build/tools/lz4block", "build/san/tools/lz4block"):
        tool = os.path.join(ROOT, p)
        if os.access(tool, os.X_OK):
            return subprocess.run([tool], input=data, capture_output=True, check=True, timeout=60).stdout
    raise AssertionError("build/tools/lz4block is missing: run `make unit` first")


# --- a client of our own -----------------------------------------------------------------
def _varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _ld(field, b):
    return _varint(field << 3 | 2) + _varint(len(b)) + b


def log_group(logs, topic="", source=""):
    """logs: [(time, [(k, v)])] -> LogGroup bytes."""
    out = b""
    for t, contents in logs:
        body = _varint(1 << 3) + _varint(t) + b"".join(
            _ld(2, _ld(1, k.encode()) + _ld(2, v.encode())) for k, v in contents)
        out += _ld(1, body)
    return out + _ld(3, topic.encode()) + _ld(4, source.encode())


def put(emu, raw, ak="AK", secret="SK", project="proj", logstore="store", region="cn-test", token=None,
        v1=False, path=None, tamper=None, when=None, body=None, rawsize=None):
    """Sign and send a PutLogs; -> (status, json or None, headers)."""
    payload = lz4block(raw) if body is None else body
    now = time.time() if when is None else when
    h = {"Host": f"{project}.127.0.0.1:{emu.port}", "Content-Type": "application/x-protobuf",
         "x-log-apiversion": "0.6.0", "x-log-compresstype": "lz4",
         "x-log-bodyrawsize": str(len(raw) if rawsize is None else rawsize), "User-Agent": "selftest"}
    if token:
        h["x-acs-security-token"] = token
    path = path or f"/logstores/{logstore}"
    if v1:
        md5 = hashlib.md5(payload).hexdigest().upper()
        h.update({"Date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now)), "Content-MD5": md5,
                  "x-log-signaturemethod": "hmac-sha1"})
        h["Authorization"] = sls.sign_v1("POST", path, h, secret, ak, md5, h["Content-Type"])
    else:
        sha = hashlib.sha256(payload).hexdigest()
        h.update({"x-log-date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)), "x-log-content-sha256": sha})
        h["Authorization"], _ = sls.sign_v4("POST", path, {}, h, sha, region, ak, secret)
    if tamper:
        tamper(h)
    c = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=10)
    c.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
    for k, v in h.items():
        c.putheader(k, v)
    c.putheader("Content-Length", str(len(payload)))
    c.endheaders(payload)
    r = c.getresponse()
    data = r.read()
    c.close()
    try:
        doc = json.loads(data) if data else None
    except ValueError:
        doc = None
    return r.status, doc, {k.lower(): v for k, v in r.getheaders()}


def code_of(res):
    return (res[0], res[1]["errorCode"] if res[1] else None)


RAW = log_group([(1709622489, [("eventId", "{}"), ("level", "Warning")]), (1709622490, [("k", "v")])],
                topic="t1")


# --- tests -----------------------------------------------------------------------------------
@test
def signers_match_the_sdk_vectors():
    """aliyun-log-go-sdk signature_v4_test.go: TestSignV4Case1..6, TestSignV1Case1..2."""
    body = "adasd= -asd zcas"
    sha = hashlib.sha256(body.encode()).hexdigest()
    empty = hashlib.sha256(b"").hexdigest()

    def hdrs(s):
        return {"hello": "world", "hello-Text": "a12X- ", " Ko ": "", "": "AA", "x-log-test": "het123",
                "x-acs-ppp": "dds", "x-log-date": "20220808T032330Z", "x-log-content-sha256": s}
    q = {" abc": "efg", " agc ": "", "": "efg", "A-bc": "eFg"}
    q5 = dict(q, **{"abs-ij*asd/vc": "a~js+d ada", "a abAas123/vc": "a~jdad a2ADFs+d ada"})
    cases = [("POST", "/logstores", q, hdrs(sha), sha, "cn-hangzhou",
              "a98f5632e93836e63839cd836a54055f480020a9364ca944e2d34f2eb9bf1bed"),
             ("POST", "/logstores", {}, {"x-log-date": "20220808T032330Z", "x-log-content-sha256": sha}, sha,
              "cn-shanghai", "8a10a5e723cb2e75964816de660b2c16a58af8bc0261f7f0722d832468c76ce8"),
             ("POST", "/logstores", q, hdrs(empty), empty, "cn-hangzhou",
              "5a66d8f8051983e0e9d08e0f960ef9252ef971eead5bb5c7acec8617a2eb2701"),
             ("GET", "/logstores", q, hdrs(empty), empty, "cn-hangzhou",
              "d92741852500791d662a8d469ff61627c0559ecd86c3f59b7bf6772b6c62666a"),
             ("POST", "/logstores/hello/a+*~bb/cc", q5, hdrs(sha), sha, "cn-hangzhou",
              "2c204068e961a8813a6bcf7ac422f7fa6e9bf9a5da493e0165dfe100854d18ff")]
    for method, path, query, h, s, region, want in cases:
        auth, _ = sls.sign_v4(method, path, query, h, s, region, "acsddda21dsd", "zxasdasdasw2")
        eq(auth, f"SLS4-HMAC-SHA256 Credential=acsddda21dsd/20220808/{region}/sls/aliyun_v4_request,"
                 f"Signature={want}")
    eq(sls.percent_encode("123abc!@#$%^&*()-=_+ ~|\\/"), "123abc%21%40%23%24%25%5E%26%2A%28%29-%3D_%2B%20~%7C%5C%2F")
    eq(sls.percent_encode("!@#$%^&*()=-+ ~./_[()]%20你好\000\u0111❤😓"),
       "%21%40%23%24%25%5E%26%2A%28%29%3D-%2B%20~.%2F_%5B%28%29%5D%2520%E4%BD%A0%E5%A5%BD%00%C4%91%E2%9D%A4%F0%9F%98%93")
    date = "Mon, 3 Jan 2010 08:33:47 GMT"
    h1 = {"x-log-apiversion": "0.6.0", "x-log-signaturemethod": "hmac-sha1", "x-log-bodyrawsize": "0", "Date": date}
    eq(sls.sign_v1("GET", "/logstores", h1, "mockAccessKeySecret", "mockAccessKeyID"),
       "LOG mockAccessKeyID:Rwm6cTKzoti4HWoe+GKcb6Kv07E=")
    body2 = bytes([10, 50, 10, 30, 8, 248, 178, 147, 158, 5, 18, 22, 10, 7, 84, 101, 115, 116, 75, 101, 121, 18, 11,
                   84, 101, 115, 116, 67, 111, 110, 116, 101, 110, 116, 26, 0, 34, 14, 49, 48, 46, 50, 51, 48, 46,
                   50, 48, 49, 46, 49, 49, 55])
    md5 = hashlib.md5(body2).hexdigest().upper()
    h2 = dict(h1, **{"x-log-bodyrawsize": "50", "Content-MD5": md5, "Content-Type": "application/x-protobuf",
                     "Content-Length": "50"})
    eq(sls.sign_v1("GET", "/logstores/app_log", h2, "mockAccessKeySecret", "mockAccessKeyID", md5,
                   "application/x-protobuf"), "LOG mockAccessKeyID:87xQWqFaOSewqRIma8kPjGYlXHc=")


@test
def lz4_decoder_reads_the_c_builds_blocks():
    rnd = random.Random(7)
    samples = [b"", b"a", b"hello hello hello hello hello\n", b"x" * 100000,
               bytes(rnd.getrandbits(8) for _ in range(5000)),
               b"".join(json.dumps({"n": i % 97, "reason": "BackOff", "pad": "y" * (i % 300)}).encode()
                        for i in range(20000)),
               bytes(rnd.choice(b"ab") for _ in range(70000)) + b"z" * 300 + b"q" * 15 + b"r" * 19]
    for s in samples:
        blk = lz4block(s)
        eq(sls.decompress_block(blk, len(s)) if s else b"", s, f"{len(s)}-byte sample")
    for bad, why in ((b"\x10", "literals past the end"), (b"\x00\x00\x00", "bad match offset"),
                     (b"\x10a\x05\x00", "bad match offset"), (b"\xf0", "truncated literal length"),
                     (b"\x1fa\x01\x00", "truncated match length")):
        try:
            sls.decompress_block(bad, 1000)
            raise AssertionError(f"{bad!r} decoded")
        except ValueError as e:
            check(why in str(e), f"{bad!r}: {e}")
    try:
        sls.decompress_block(lz4block(b"x" * 1000), 999)
        raise AssertionError("output past the limit decoded")
    except ValueError:
        pass


@test
def log_group_decoder():
    g = sls.decode_log_group(RAW)
    eq([(x["time"], x["contents"]) for x in g["logs"]],
       [(1709622489, [("eventId", "{}"), ("level", "Warning")]), (1709622490, [("k", "v")])])
    eq((g["topic"], g["source"], g["fields"]), ("t1", "", [1, 1, 3, 4]))
    eq(sls.count_logs(RAW), 2)
    for bad in (RAW[:-1], b"\x0a\x03\x12\x01\x00", b"\x0a\x00", b"\x38\x01", b"\x0a\x04\x08\x01\x12\x00"):
        try:
            sls.decode_log_group(bad)
            raise AssertionError(f"{bad!r} decoded")
        except sls.PBError:
            pass


@test
def putlogs_accepted_and_stored():
    emu = sls.SLS(keys={"AK": "SK"}, region="cn-test")
    try:
        st, body, h = put(emu, RAW)
        eq(st, 200, body)
        check(len(h.get("x-log-requestid", "")) == 24, h)
        eq(put(emu, RAW, path="/logstores/store/shards/lb")[0], 200)
        eq(put(emu, RAW, v1=True)[0], 200)
        logs = emu.wait_logs(6, 5)
        eq(logs[0]["contents"], {"eventId": "{}", "level": "Warning"})
        eq((logs[0]["project"], logs[0]["logstore"], logs[0]["topic"], logs[0]["time"]),
           ("proj", "store", "t1", 1709622489))
        eq([r["auth"] for r in emu.requests_seen()], ["v4", "v4", "v1"])
    finally:
        emu.stop()


@test
def signature_checks_are_strict():
    emu = sls.SLS(keys={"AK": "SK"}, region="cn-test")
    try:
        eq(code_of(put(emu, RAW, secret="wrong")), (401, "SignatureNotMatch"))
        eq(code_of(put(emu, RAW, ak="nobody")), (401, "InvalidAccessKeyId"))
        eq(code_of(put(emu, RAW, region="cn-other")), (401, "SignatureNotMatch"))
        eq(code_of(put(emu, RAW, when=time.time() - 3600)), (400, "RequestTimeExpired"))
        # a signed header changed, or added after signing, breaks the signature
        eq(code_of(put(emu, RAW, tamper=lambda h: h.update({"x-log-bodyrawsize": str(len(RAW) + 1)}))),
           (401, "SignatureNotMatch"))
        eq(code_of(put(emu, RAW, tamper=lambda h: h.update({"x-log-extra": "1"}))), (401, "SignatureNotMatch"))
        eq(code_of(put(emu, RAW, tamper=lambda h: h.update({"Host": "other.127.0.0.1"}))), (401, "SignatureNotMatch"))
        eq(code_of(put(emu, RAW, tamper=lambda h: h.update({"x-log-content-sha256": "0" * 64}))),
           (400, "InvalidContentSha256"))
        eq(code_of(put(emu, RAW, v1=True, secret="wrong")), (401, "SignatureNotMatch"))
        eq(code_of(put(emu, RAW, v1=True, tamper=lambda h: h.update({"Content-MD5": "0" * 32}))),
           (400, "InvalidContentMd5"))
        eq(code_of(put(emu, RAW, tamper=lambda h: h.pop("Authorization"))), (401, "Unauthorized"))
        # temporary keys: the token must come along, and they end
        emu.add_sts("STS.1", "tsec", "TOKEN1", time.time() + 60)
        eq(put(emu, RAW, ak="STS.1", secret="tsec", token="TOKEN1")[0], 200)
        eq(code_of(put(emu, RAW, ak="STS.1", secret="tsec")), (401, "InvalidSecurityToken"))
        emu.add_sts("STS.2", "tsec", "TOKEN2", time.time() - 1)
        eq(code_of(put(emu, RAW, ak="STS.2", secret="tsec", token="TOKEN2")), (401, "SecurityTokenExpired"))
        eq(len(emu.logs()), 2, "only the accepted request stored")
    finally:
        emu.stop()


@test
def body_checks_and_faults():
    emu = sls.SLS(keys={"AK": "SK"}, region="cn-test", projects={"proj"}, logstores={"store"})
    try:
        eq(code_of(put(emu, RAW, rawsize=len(RAW) + 1)), (400, "PostBodyUncompressError"))
        eq(code_of(put(emu, b"\x0a\x05garbage")), (400, "PostBodyInvalid"))
        many = log_group([(1, [("k", "v")])] * 4097)
        eq(code_of(put(emu, many)), (413, "PostBodyTooLarge"))
        eq(code_of(put(emu, log_group([(1, [("", "v")])]))), (400, "InvalidKey"))
        eq(code_of(put(emu, RAW, project="other")), (404, "ProjectNotExist"))
        eq(code_of(put(emu, RAW, logstore="other")), (404, "LogStoreNotExist"))
        eq(code_of(put(emu, RAW, tamper=lambda h: h.update({"x-log-apiversion": "0.5.0"}))),
           (400, "InvalidAPIVersion"))
        eq(code_of(put(emu, RAW, tamper=lambda h: h.update({"Content-Type": "application/json"}))),
           (415, "InvalidContentType"))
        emu.refuse_logs_if(lambda c: c.get("k") == "poison")
        eq(code_of(put(emu, log_group([(1, [("k", "ok")]), (1, [("k", "poison")])]))), (400, "PostBodyInvalid"))
        eq(put(emu, log_group([(1, [("k", "ok")])]))[0], 200)
        emu.fail_next(2, 403, "WriteQuotaExceed", "Write quota is exceeded.")
        eq(code_of(put(emu, RAW)), (403, "WriteQuotaExceed"))
        eq(code_of(put(emu, RAW)), (403, "WriteQuotaExceed"))
        eq(put(emu, RAW)[0], 200)
        emu.script(Response(502, "bad gateway"))
        eq(put(emu, RAW)[0], 502)
        eq(len(emu.logs()), 3)
        # down and up on the same port, the logs kept
        port = emu.port
        emu.down()
        try:
            put(emu, RAW)
            raise AssertionError("answered while down")
        except OSError:
            pass
        emu.up()
        eq(emu.port, port)
        eq(put(emu, RAW)[0], 200)
        eq(len(emu.logs()), 5)
    finally:
        emu.stop()


def _get(md, method, path, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", md.port, timeout=10)
    c.request(method, path, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data.decode()


@test
def metadata_service_and_token_config():
    emu = sls.SLS(keys={}, region="cn-test")
    md = sls.Metadata(region="cn-test", role="Role1", ttl=30, imds_v2="required", sls=[emu])
    try:
        eq(_get(md, "GET", "/latest/meta-data/region-id")[0], 401, "IMDSv2 required")
        st, tok = _get(md, "PUT", "/latest/api/token", {"X-aliyun-ecs-metadata-token-ttl-seconds": "60"})
        eq(st, 200)
        t = {"X-aliyun-ecs-metadata-token": tok}
        eq(_get(md, "GET", "/latest/meta-data/region-id", t), (200, "cn-test"))
        eq(_get(md, "GET", "/latest/meta-data/ram/security-credentials/", t), (200, "Role1"))
        st, body = _get(md, "GET", "/latest/meta-data/ram/security-credentials/Role1", t)
        eq(st, 200)
        c = json.loads(body)
        eq(c["Code"], "Success")
        check(abs(time.mktime(time.strptime(c["Expiration"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
                  - time.time() - 30) < 5, c["Expiration"])
        # the keys it handed out work at the linked SLS
        eq(put(emu, RAW, ak=c["AccessKeyId"], secret=c["AccessKeySecret"], token=c["SecurityToken"])[0], 200)
        md.role = None
        eq(_get(md, "GET", "/latest/meta-data/ram/security-credentials/", t)[0], 404)
        md.imds_v2 = "off"
        eq(_get(md, "PUT", "/latest/api/token", {"X-aliyun-ecs-metadata-token-ttl-seconds": "60"})[0], 404)
        # token-config: each field is base64(IV || AES-CBC) that openssl decrypts back
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "token-config")
            sls.token_config(p, "0123456789abcdef0123456789abcdef", "STS.x", "sec/+=", "TOK", time.time() + 600)
            doc = json.load(open(p))
            raw = base64.b64decode(doc["access.key.secret"])
            plain = subprocess.run(["openssl", "enc", "-d", "-aes-256-cbc", "-K",
                                    b"0123456789abcdef0123456789abcdef".hex(), "-iv", raw[:16].hex()],
                                   input=raw[16:], capture_output=True, check=True).stdout
            eq(plain, b"sec/+=")
            check(doc["expiration"].endswith("Z") and doc["keyring"] == "0123456789abcdef0123456789abcdef")
    finally:
        md.stop()
        emu.stop()


# --------------------------------------------------------------------------- runner

def main():
    k = sys.argv[sys.argv.index("-k") + 1] if "-k" in sys.argv else ""
    sys.stdout.reconfigure(line_buffering=True)
    passed = failed = n = 0
    for fn in TESTS:
        if k not in fn.__name__:
            continue
        n += 1
        t0 = time.monotonic()
        try:
            fn()
            passed += 1
            print(f"ok {n} - {fn.__name__} ({time.monotonic() - t0:.2f}s)")
        except Exception as e:   # noqa: BLE001
            failed += 1
            print(f"not ok {n} - {fn.__name__} ({time.monotonic() - t0:.2f}s)")
            for line in "".join(traceback.format_exception(type(e), e, e.__traceback__)[-4:]).splitlines():
                print(f"#   {line}")
    print(f"# threads left {threading.active_count()}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
