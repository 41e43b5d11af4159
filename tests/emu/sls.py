"""Alibaba Cloud Log Service (SLS) emulator for kube-eventer's tests, plus the ECS metadata
service and ACK's token-config file that its credentials come from.

Python 3.11 standard library only, loopback only.  Built on receivers.Recorder (threaded
HTTP/1.1, keep-alive, scripted responses: `script(Response(503), Response.close(), ...)`
answers the next requests before any emulation).

    sls = SLS(keys={"AKID": "secret"}, region="cn-hangzhou")
    sls.url                      # http://127.0.0.1:PORT -- give it as the sink URL (or SLS_ENDPOINT)
    ...run the sink with project=P&logStore=L&regionId=cn-hangzhou&accessKeyId=AKID&accessKeySecret=secret
    sls.wait_logs(n, timeout=30)
    sls.logs(project=None, logstore=None)   # [{"time", "contents": {k: v}, "keys": [k, ...],
                                            #   "topic", "source", "tags", "project", "logstore"}]
    sls.requests_seen()          # one dict per PutLogs that passed the checks or was refused:
                                 # status, code, project, logstore, n_logs, raw_size, body_size,
                                 # headers (lower-case), auth ("v4"|"v1"), ak, token
    sls.fail_next(n, status=503, code="ServerBusy", message=...)  # the next n PutLogs refused
    sls.refuse_logs_if(pred, code="PostBodyInvalid")  # 400 for a LogGroup holding a log with pred(contents)
    sls.down() / sls.up()        # stop listening and come back on the same port, logs kept
    sls.add_sts(ak, secret, token, expires_at)      # temporary keys: refused with 401 after expires_at

What a PutLogs must be to be stored (each check answers as the service does, with
{"errorCode", "errorMessage"} and an x-log-requestid header):
  * POST /logstores/<logstore> (what aliyun-log-go-sdk's PutLogs sends) or
    /logstores/<logstore>/shards/lb (the API reference's path); Host is <project>.<endpoint>
    -- the project is the Host's first label, and must be in `projects` (None = any):
    404 ProjectNotExist / LogStoreNotExist (`logstores`, None = any).
  * headers x-log-apiversion 0.6.0 (400 MissingAPIVersion / InvalidAPIVersion),
    x-log-bodyrawsize (400 MissingBodyRawSize / InvalidBodyRawSize: it must equal the
    decompressed size), Content-Type application/x-protobuf (415 InvalidContentType),
    x-log-compresstype lz4 or absent (400 InvalidCompressType).
  * the signature, checked strictly by this module's own implementation of both schemes
    (sign_v4 / sign_v1, written from aliyun-log-go-sdk's signature_v4.go and signature.go
    and checked against that SDK's own test vectors by the self-test):
      SLS4-HMAC-SHA256: x-log-date within 15 minutes of now (400 RequestTimeExpired),
      x-log-content-sha256 equal to the SHA-256 of the body received (400
      InvalidContentSha256 -- the name is this emulator's), the Credential scope's date
      equal to x-log-date's and its region equal to `region` (401 SignatureNotMatch),
      every header the client signed present, the signed header list equal to the set
      the SDK signs (so a client that leaves out x-log-* or host is caught).
      LOG <ak>:<sig>: Date within 15 minutes, Content-MD5 equal to the body's MD5 (400
      InvalidContentMd5, also this emulator's name), x-log-signaturemethod hmac-sha1.
    Unknown access key: 401 InvalidAccessKeyId.  Bad signature: 401 SignatureNotMatch.
    Temporary keys need x-acs-security-token equal to theirs (401 InvalidSecurityToken)
    and are refused after their expiry with 401 SecurityTokenExpired.  These last three
    names and the messages are this emulator's choice: the documented common codes are
    401 Unauthorized / SignatureNotMatch (alibabacloud.com/help/doc-detail/29013.htm).
  * the body: an LZ4 block (this module's decompress_block, ~30 lines, written from the
    LZ4 block format description lz4/doc/lz4_Block_format.md; 400
    PostBodyUncompressError when it does not decode to exactly bodyrawsize bytes), then a
    LogGroup protobuf (log.proto of the SDKs: LogGroup{1 Logs, 2 Category, 3 Topic,
    4 Source, 5 MachineUUID, 6 LogTags}, Log{1 Time (required), 2 Contents, 4 TimeNs},
    LogContent{1 Key, 2 Value} both required; any other field, a wrong wire type, a
    truncated message or a missing required field: 400 PostBodyInvalid), at most 4096 logs
    and 5 MiB raw (413 PostBodyTooLarge), keys not empty (400 InvalidKey).

Credential sources (for the sink's STS paths):
    md = Metadata(region="cn-hangzhou", role="KubeEventerRole", ttl=3600, imds_v2="optional")
    md.url                       # http://127.0.0.1:PORT -- give it as KE_SLS_METADATA_URL
    md.creds                     # the current (ak, secret, token, expires_at); register them
                                 # with an SLS through SLS(..., metadata=md) or sls.add_sts(...)
    Serves PUT /latest/api/token (X-aliyun-ecs-metadata-token-ttl-seconds -> a token),
    GET /latest/meta-data/region-id, GET /latest/meta-data/ram/security-credentials/
    (the role name; 404 when role=None, as an instance without a RAM role answers) and
    .../security-credentials/<role> ({"AccessKeyId", "AccessKeySecret", "SecurityToken",
    "Expiration", "LastUpdated", "Code": "Success"}), each fetch issuing NEW keys valid
    `ttl` seconds (and telling the SLS it is linked to).  imds_v2="required" answers 401
    without X-aliyun-ecs-metadata-token, "off" answers the token PUT with 404.
    token_config(path, keyring, ak, secret, token, expires_at) writes ACK's
    /var/addon/token-config: fields encrypted with AES-128/256-CBC by the openssl CLI.

Standalone: `python3 tests/emu/sls.py` prints {"url", "pid"} and serves until SIGTERM;
`python3 tests/emu/sls.py --sign-vector` prints the PutLogs signature vector that
tests/unit/test_sls.c checks.
"""
import base64
import calendar
import hashlib
import hmac
import json
import os
import subprocess
import threading
import time
import urllib.parse

from receivers import Recorder, Response

MAX_LOGS = 4096
MAX_RAW = 5 << 20
SKEW = 15 * 60


# --------------------------------------------------------------------------------------
# LZ4 block format (lz4/doc/lz4_Block_format.md): sequences of
#   token (literal length << 4 | match length - 4), [more literal length bytes], literals,
#   offset (2 bytes little endian), [more match length bytes]
# the last sequence has literals only.
# --------------------------------------------------------------------------------------
def decompress_block(src, limit):
    """Decode one raw LZ4 block; raise ValueError on malformed input or output past limit."""
    out = bytearray()
    i, n = 0, len(src)
    while i < n:
        token = src[i]
        i += 1
        lit = token >> 4
        if lit == 15:
            while True:
                if i >= n:
                    raise ValueError("truncated literal length")
                b = src[i]
                i += 1
                lit += b
                if b != 255:
                    break
        if i + lit > n or len(out) + lit > limit:
            raise ValueError("literals past the end")
        out += src[i:i + lit]
        i += lit
        if i == n:
            return bytes(out)                   # the last sequence: literals only
        if i + 2 > n:
            raise ValueError("truncated offset")
        off = src[i] | src[i + 1] << 8
        i += 2
        if off == 0 or off > len(out):
            raise ValueError("bad match offset")
        mlen = token & 15
        if mlen == 15:
            while True:
                if i >= n:
                    raise ValueError("truncated match length")
                b = src[i]
                i += 1
                mlen += b
                if b != 255:
                    break
        mlen += 4
        if len(out) + mlen > limit:
            raise ValueError("output past the limit")
        start = len(out) - off
        for k in range(mlen):                   # byte by byte: a match may overlap itself
            out.append(out[start + k])
    raise ValueError("empty block")


# --------------------------------------------------------------------------------------
# protobuf (proto2) decoding of log.proto's messages
# --------------------------------------------------------------------------------------
class PBError(ValueError):
    pass


def _varint(b, i):
    v = shift = 0
    while True:
        if i >= len(b):
            raise PBError("truncated varint")
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        if not c & 0x80:
            return v, i
        shift += 7
        if shift > 63:
            raise PBError("varint too long")


def _fields(b):
    """Yield (field number, wire type, value) of a message; value: int or bytes."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        field, wt = key >> 3, key & 7
        if field == 0:
            raise PBError("field number 0")
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 2:
            ln, i = _varint(b, i)
            if i + ln > len(b):
                raise PBError("truncated length-delimited field")
            v, i = b[i:i + ln], i + ln
        elif wt == 5:
            if i + 4 > len(b):
                raise PBError("truncated fixed32")
            v, i = int.from_bytes(b[i:i + 4], "little"), i + 4
        elif wt == 1:
            if i + 8 > len(b):
                raise PBError("truncated fixed64")
            v, i = int.from_bytes(b[i:i + 8], "little"), i + 8
        else:
            raise PBError(f"wire type {wt}")
        yield field, wt, v


def _string(v, wt, what):
    if wt != 2:
        raise PBError(f"{what}: wrong wire type")
    try:
        return v.decode("utf-8")
    except UnicodeDecodeError:
        raise PBError(f"{what}: not UTF-8")


def _pair(b, what):
    k = v = None
    for f, wt, x in _fields(b):
        if f == 1:
            k = _string(x, wt, what + ".Key")
        elif f == 2:
            v = _string(x, wt, what + ".Value")
        else:
            raise PBError(f"{what}: unknown field {f}")
    if k is None or v is None:
        raise PBError(f"{what}: Key and Value are required")
    return k, v


def decode_log_group(b):
    """-> {"logs": [{"time", "time_ns", "contents": [(k, v)]}], "topic", "source", "category",
    "machine_uuid", "tags": [(k, v)], "fields": [field numbers in order]}; raises PBError."""
    g = {"logs": [], "topic": None, "source": None, "category": None, "machine_uuid": None, "tags": [],
         "fields": []}
    for f, wt, v in _fields(b):
        g["fields"].append(f)
        if f == 1:
            if wt != 2:
                raise PBError("Logs: wrong wire type")
            log = {"time": None, "time_ns": None, "contents": []}
            for lf, lwt, lv in _fields(v):
                if lf == 1 and lwt == 0:
                    if lv > 0xFFFFFFFF:
                        raise PBError("Log.Time past uint32")
                    log["time"] = lv
                elif lf == 2:
                    if lwt != 2:
                        raise PBError("Log.Contents: wrong wire type")
                    log["contents"].append(_pair(lv, "LogContent"))
                elif lf == 4 and lwt == 5:
                    log["time_ns"] = lv
                else:
                    raise PBError(f"Log: unexpected field {lf}/{lwt}")
            if log["time"] is None:
                raise PBError("Log.Time is required")
            g["logs"].append(log)
        elif f in (2, 3, 4, 5):
            g[{2: "category", 3: "topic", 4: "source", 5: "machine_uuid"}[f]] = _string(v, wt, f"field {f}")
        elif f == 6:
            if wt != 2:
                raise PBError("LogTags: wrong wire type")
            g["tags"].append(_pair(v, "LogTag"))
        else:
            raise PBError(f"LogGroup: unknown field {f}")
    return g


def count_logs(b):
    """LogGroup field-1 entries, without decoding them (the benchmark's datahole)."""
    return sum(1 for f, _, _ in _fields(b) if f == 1)


# --------------------------------------------------------------------------------------
# signatures, from aliyun-log-go-sdk signature_v4.go (SignerV4) and signature.go (SignerV1)
# --------------------------------------------------------------------------------------
def percent_encode(s):
    """Go's url.QueryEscape, "+" -> "%20" (SignerV4.percentEncode)."""
    return urllib.parse.quote(s, safe="-_.~")


def _v4_signed(name):
    n = name.lower()
    if n.startswith("x-log-meta-"):
        return False
    return n.startswith("x-log-") or n.startswith("x-acs-") or n in ("host", "content-type")


def canonical_v4(method, path, query, headers, payload_sha):
    """query: {key: value} (decoded); headers: {name: value} as sent."""
    signed = sorted((k.lower(), v) for k, v in headers.items() if _v4_signed(k))
    q = "&".join(k + ("=" + percent_encode(v) if v else "") for k, v in sorted(query.items()))
    return "\n".join([method, path, q, "".join(f"{k}:{v}\n" for k, v in signed),
                      ";".join(k for k, _ in signed), payload_sha]), ";".join(k for k, _ in signed)


def _hmac256(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sign_v4(method, path, query, headers, payload_sha, region, ak, secret):
    """-> (Authorization value, canonical request). headers must hold x-log-date."""
    date_time = headers["x-log-date"]
    date = date_time[:8]
    canon, _ = canonical_v4(method, path, query, headers, payload_sha)
    scope = f"{date}/{region}/sls/aliyun_v4_request"
    sts = "\n".join(["SLS4-HMAC-SHA256", date_time, scope, hashlib.sha256(canon.encode()).hexdigest()])
    key = ("aliyun_v4" + secret).encode()
    for part in (date, region, "sls", "aliyun_v4_request"):
        key = _hmac256(key, part)
    sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    return f"SLS4-HMAC-SHA256 Credential={ak}/{scope},Signature={sig}", canon


def sign_v1(method, resource, headers, secret, ak, content_md5="", content_type=""):
    slsh = sorted((k.strip().lower(), v.strip()) for k, v in headers.items()
                  if k.strip().lower().startswith(("x-log-", "x-acs-")))
    s = "\n".join([method, content_md5, content_type, headers.get("Date", headers.get("date", "")),
                   "\n".join(f"{k}:{v}" for k, v in slsh), resource])
    return f"LOG {ak}:" + base64.b64encode(hmac.new(secret.encode(), s.encode(), hashlib.sha1).digest()).decode()


SIGN_VECTOR = dict(
    method="POST", path="/logstores/kube-events", query={},
    headers={"Host": "k8s-events.cn-hangzhou-intranet.log.aliyuncs.com", "Content-Type": "application/x-protobuf",
             "x-log-apiversion": "0.6.0", "x-log-compresstype": "lz4", "x-log-bodyrawsize": "1234",
             "x-log-date": "20240305T070809Z",
             "x-log-content-sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
             "x-acs-security-token": "CAIS+token/with=odd chars", "User-Agent": "ack-kube-eventer"},
    region="cn-hangzhou", ak="STS.testAccessKeyId", secret="testSecret/+=")


def sign_vector():
    v = SIGN_VECTOR
    auth, canon = sign_v4(v["method"], v["path"], v["query"], v["headers"], v["headers"]["x-log-content-sha256"],
                          v["region"], v["ak"], v["secret"])
    return auth, canon
