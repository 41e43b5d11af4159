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


# --------------------------------------------------------------------------------------
# the service
# --------------------------------------------------------------------------------------
def _iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _request_id():
    return os.urandom(12).hex().upper()


class _Refuse(Exception):
    def __init__(self, status, code, message):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class SLS(Recorder):
    """The PutLogs side of Log Service.  See the module docstring."""

    def __init__(self, keys=None, region="cn-hangzhou", *, projects=None, logstores=None, skew=SKEW, **kw):
        self.keys = dict(keys or {})          # long-lived: {ak: secret}
        self.sts = {}                          # temporary: {ak: (secret, token, expires_at)}
        self.region = region
        self.projects = set(projects) if projects else None
        self.logstores = set(logstores) if logstores else None
        self.skew = skew
        self._lock = threading.Lock()
        self._logs = []
        self._puts = []
        self._faults = []                      # [status, code, message, remaining]
        self._refusers = []                    # (pred, status, code)
        self._logs_cv = threading.Condition(self._lock)
        super().__init__(**kw)

    # --- programming ------------------------------------------------------------------
    def add_sts(self, ak, secret, token, expires_at):
        with self._lock:
            self.sts[ak] = (secret, token, expires_at)

    def fail_next(self, n, status=503, code="ServerBusy", message="The server is busy, please try again later."):
        """The next n PutLogs that pass every check are refused with this error (nothing stored)."""
        with self._lock:
            self._faults.append([status, code, message, n])

    def refuse_logs_if(self, pred, status=400, code="PostBodyInvalid", message="a log in the group is invalid"):
        """A LogGroup holding a log for which pred({key: value}) is true is refused whole."""
        with self._lock:
            self._refusers.append((pred, status, code, message))

    def down(self):
        self.stop()

    def up(self):
        self.start()
        return self

    # --- inspection ---------------------------------------------------------------------
    def logs(self, project=None, logstore=None):
        with self._lock:
            return [dict(x) for x in self._logs
                    if (project is None or x["project"] == project) and (logstore is None or x["logstore"] == logstore)]

    def requests_seen(self):
        with self._lock:
            return [dict(p) for p in self._puts]

    def wait_logs(self, n, timeout=30.0):
        end = time.monotonic() + timeout
        with self._logs_cv:
            while len(self._logs) < n:
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"SLS: {len(self._logs)} log(s) after {timeout}s, wanted {n}")
                self._logs_cv.wait(min(left, 0.25))
            return [dict(x) for x in self._logs]

    # --- the handler ----------------------------------------------------------------------
    def handle(self, req):
        rec = {"t": time.monotonic(), "status": 200, "code": "", "project": None, "logstore": None, "n_logs": 0,
               "raw_size": None, "body_size": len(req.body), "headers": dict(req.headers), "auth": None,
               "ak": None, "token": req.headers.get("x-acs-security-token"), "path": req.path}
        try:
            logs = self._put_logs(req, rec)
            with self._lock:
                for f in self._faults:
                    if f[3] > 0:
                        f[3] -= 1
                        raise _Refuse(f[0], f[1], f[2])
                self._logs.extend(logs)
                self._logs_cv.notify_all()
            status, body = 200, b""
        except _Refuse as e:
            rec["status"], rec["code"], rec["message"] = e.status, e.code, e.message
            status, body = e.status, {"errorCode": e.code, "errorMessage": e.message}
        with self._lock:
            self._puts.append(rec)
        return Response(status, body, headers={"x-log-requestid": _request_id(), "Server": "sls-emulator"})

    def _put_logs(self, req, rec):
        parts = req.path.split("/")
        if req.method != "POST" or len(parts) not in (3, 5) or parts[1] != "logstores" or \
                (len(parts) == 5 and parts[3:] != ["shards", "lb"]):
            raise _Refuse(404, "RequestPathNotFound" if req.method == "POST" else "MethodNotAllowed",
                          f"{req.method} {req.path} is not a PutLogs path (this emulator knows only PutLogs)")
        logstore = urllib.parse.unquote(parts[2])
        host = req.headers.get("host", "")
        if "." not in host:
            raise _Refuse(400, "MissingHost", "Host must be <project>.<endpoint>")
        project = host.split(".", 1)[0]
        rec["project"], rec["logstore"] = project, logstore
        h = req.headers
        if "x-log-apiversion" not in h:
            raise _Refuse(400, "MissingAPIVersion", "x-log-apiversion does not exist in http header")
        if h["x-log-apiversion"] != "0.6.0":
            raise _Refuse(400, "InvalidAPIVersion", f"x-log-apiversion {h['x-log-apiversion']} is unsupported")
        if "x-log-bodyrawsize" not in h:
            raise _Refuse(400, "MissingBodyRawSize", "x-log-bodyrawsize does not exist in header when it is necessary")
        if not h["x-log-bodyrawsize"].isdigit():
            raise _Refuse(400, "InvalidBodyRawSize", "x-log-bodyrawsize is invalid")
        if h.get("content-type") != "application/x-protobuf":
            raise _Refuse(415, "InvalidContentType", f"Content-Type {h.get('content-type')} is unsupported")
        ct = h.get("x-log-compresstype")
        if ct not in (None, "lz4"):
            raise _Refuse(400, "InvalidCompressType", f"x-log-compresstype {ct} is unsupported")
        self._check_auth(req, rec)
        if self.projects is not None and project not in self.projects:
            raise _Refuse(404, "ProjectNotExist", f"The Project does not exist : {project}")
        if self.logstores is not None and logstore not in self.logstores:
            raise _Refuse(404, "LogStoreNotExist", f"logstore {logstore} does not exist")
        raw_size = int(h["x-log-bodyrawsize"])
        rec["raw_size"] = raw_size
        if raw_size > MAX_RAW:
            raise _Refuse(413, "PostBodyTooLarge", f"body size {raw_size} must little than {MAX_RAW}")
        raw = req.body
        if ct == "lz4":
            try:
                raw = decompress_block(req.body, raw_size)
            except ValueError as e:
                raise _Refuse(400, "PostBodyUncompressError", f"cannot decompress the body: {e}")
        if len(raw) != raw_size:
            raise _Refuse(400, "PostBodyUncompressError" if ct else "InvalidBodyRawSize",
                          f"the body is {len(raw)} bytes, x-log-bodyrawsize says {raw_size}")
        try:
            g = decode_log_group(raw)
        except PBError as e:
            raise _Refuse(400, "PostBodyInvalid", f"the LogGroup cannot be decoded: {e}")
        rec["n_logs"] = len(g["logs"])
        rec["group"] = {k: g[k] for k in ("topic", "source", "tags", "fields")}
        if len(g["logs"]) > MAX_LOGS:
            raise _Refuse(413, "PostBodyTooLarge", f"{len(g['logs'])} logs, at most {MAX_LOGS}")
        out = []
        with self._lock:
            refusers = list(self._refusers)
        for log in g["logs"]:
            contents = dict(log["contents"])
            if any(not k for k, _ in log["contents"]):
                raise _Refuse(400, "InvalidKey", "a log content key is empty")
            for pred, status, code, message in refusers:
                if pred(contents):
                    raise _Refuse(status, code, message)
            out.append({"time": log["time"], "time_ns": log["time_ns"], "contents": contents,
                        "keys": [k for k, _ in log["contents"]], "topic": g["topic"], "source": g["source"],
                        "tags": g["tags"], "project": project, "logstore": logstore, "ak": rec["ak"]})
        return out

    def _secret_for(self, ak, token, rec):
        with self._lock:
            if ak in self.keys:
                return self.keys[ak]
            sts = self.sts.get(ak)
        if sts is None:
            raise _Refuse(401, "InvalidAccessKeyId", "The AccessKeyId is invalid.")
        secret, want_token, expires_at = sts
        if token != want_token:
            raise _Refuse(401, "InvalidSecurityToken", "The security token you provided is invalid.")
        if time.time() >= expires_at:
            raise _Refuse(401, "SecurityTokenExpired", "The security token you provided has expired.")
        return secret

    def _check_auth(self, req, rec):
        h = req.headers
        auth = h.get("authorization", "")
        named = dict(req.header_list)
        query = {k: v[0] for k, v in req.params.items()}
        if auth.startswith("SLS4-HMAC-SHA256 "):
            rec["auth"] = "v4"
            fields = dict(p.split("=", 1) for p in auth[len("SLS4-HMAC-SHA256 "):].split(",") if "=" in p)
            cred = fields.get("Credential", "").split("/")
            if len(cred) != 5 or cred[3:] != ["sls", "aliyun_v4_request"] or "Signature" not in fields:
                raise _Refuse(401, "SignatureNotMatch", "malformed SLS4-HMAC-SHA256 Authorization")
            ak, date, region = cred[0], cred[1], cred[2]
            rec["ak"] = ak
            dt = h.get("x-log-date", "")
            try:
                when = calendar.timegm(time.strptime(dt, "%Y%m%dT%H%M%SZ"))
            except ValueError:
                raise _Refuse(400, "InvalidRequestTime", f"x-log-date {dt!r} is not YYYYMMDDTHHMMSSZ")
            if abs(time.time() - when) > self.skew:
                raise _Refuse(400, "RequestTimeExpired", f"Request time {dt} has been expired")
            if date != dt[:8] or region != self.region:
                raise _Refuse(401, "SignatureNotMatch", f"the credential scope {date}/{region} does not match")
            sha = hashlib.sha256(req.body).hexdigest()
            if h.get("x-log-content-sha256") != sha:
                raise _Refuse(400, "InvalidContentSha256", "x-log-content-sha256 is not the SHA-256 of the body")
            secret = self._secret_for(ak, h.get("x-acs-security-token"), rec)
            want, _ = sign_v4(req.method, req.path, query, named, sha, self.region, ak, secret)
            if not hmac.compare_digest(want, auth):
                raise _Refuse(401, "SignatureNotMatch", "Signature not matched.")
        elif auth.startswith("LOG "):
            rec["auth"] = "v1"
            ak, _, sig = auth[4:].partition(":")
            rec["ak"] = ak
            import email.utils
            try:
                when = email.utils.parsedate_to_datetime(h.get("date", "")).timestamp()
            except (TypeError, ValueError):
                raise _Refuse(400, "InvalidDateFormat", f"Date {h.get('date')!r} must follow RFC822")
            if abs(time.time() - when) > self.skew:
                raise _Refuse(400, "RequestTimeExpired", f"Request time {h.get('date')} has been expired")
            md5 = hashlib.md5(req.body).hexdigest().upper()
            if h.get("content-md5") != md5:
                raise _Refuse(400, "InvalidContentMd5", "Content-MD5 is not the MD5 of the body")
            if h.get("x-log-signaturemethod") != "hmac-sha1":
                raise _Refuse(400, "InvalidSignatureMethod", "x-log-signaturemethod must be hmac-sha1")
            secret = self._secret_for(ak, h.get("x-acs-security-token"), rec)
            resource = req.path + ("?" + "&".join(f"{k}={v}" for k, v in sorted(query.items())) if query else "")
            want = sign_v1(req.method, resource, named, secret, ak, md5, h.get("content-type", ""))
            if not hmac.compare_digest(want, auth):
                raise _Refuse(401, "SignatureNotMatch", "Signature not matched.")
        else:
            raise _Refuse(401, "Unauthorized", "no Authorization header")


# --------------------------------------------------------------------------------------
# credentials: the ECS metadata service, ACK's token-config file
# --------------------------------------------------------------------------------------
class Metadata(Recorder):
    """ECS instance metadata: region-id and RAM role credentials (see the module docstring)."""

    def __init__(self, region="cn-hangzhou", role="KubeEventerRole", ttl=3600, imds_v2="optional", sls=None, **kw):
        self.region, self.role, self.ttl, self.imds_v2 = region, role, ttl, imds_v2
        self.sls = list(sls or [])
        self.issued = []               # every (ak, secret, token, expires_at) handed out
        self.tokens = set()
        self._mlock = threading.Lock()
        super().__init__(**kw)

    @property
    def creds(self):
        with self._mlock:
            return self.issued[-1] if self.issued else None

    def issue(self):
        n = len(self.issued) + 1
        c = (f"STS.NK{n:04d}{os.urandom(4).hex()}", f"sec-{os.urandom(12).hex()}",
             f"CAIS{os.urandom(24).hex()}", time.time() + self.ttl)
        with self._mlock:
            self.issued.append(c)
        for s in self.sls:
            s.add_sts(*c)
        return c

    def handle(self, req):
        if req.method == "PUT" and req.path == "/latest/api/token":
            if self.imds_v2 == "off":
                return Response(404, "Not Found")
            if "x-aliyun-ecs-metadata-token-ttl-seconds" not in req.headers:
                return Response(400, "X-aliyun-ecs-metadata-token-ttl-seconds is required")
            tok = os.urandom(16).hex()
            with self._mlock:
                self.tokens.add(tok)
            return Response(200, tok, headers={"Content-Type": "text/plain"})
        if req.method != "GET":
            return Response(405, "Method Not Allowed")
        if self.imds_v2 == "required" and req.headers.get("x-aliyun-ecs-metadata-token") not in self.tokens:
            return Response(401, "Unauthorized")
        if req.path == "/latest/meta-data/region-id":
            return Response(200, self.region, headers={"Content-Type": "text/plain"})
        base = "/latest/meta-data/ram/security-credentials/"
        if req.path == base:
            return Response(200, self.role, headers={"Content-Type": "text/plain"}) if self.role \
                else Response(404, "Not Found")
        if self.role and req.path == base + self.role:
            ak, secret, token, exp = self.issue()
            return Response(200, {"AccessKeyId": ak, "AccessKeySecret": secret, "SecurityToken": token,
                                  "Expiration": _iso(exp), "LastUpdated": _iso(time.time()), "Code": "Success"})
        return Response(404, "Not Found")


def _encrypt(plain, keyring):
    """base64(IV || AES-CBC(keyring, PKCS#5 padded plain)) by the openssl CLI."""
    iv = os.urandom(16)
    cipher = {16: "aes-128-cbc", 24: "aes-192-cbc", 32: "aes-256-cbc"}[len(keyring)]
    ct = subprocess.run(["openssl", "enc", "-" + cipher, "-K", keyring.encode().hex(), "-iv", iv.hex()],
                        input=plain.encode(), capture_output=True, check=True).stdout
    return base64.b64encode(iv + ct).decode()


def token_config(path, keyring, ak, secret, token, expires_at):
    """Write ACK's token-config file (atomically, as a rotating addon would)."""
    doc = {"access.key.id": _encrypt(ak, keyring), "access.key.secret": _encrypt(secret, keyring),
           "security.token": _encrypt(token, keyring), "expiration": _iso(expires_at), "keyring": keyring}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, path)


def main(argv):
    if "--sign-vector" in argv:
        auth, canon = sign_vector()
        print(json.dumps(SIGN_VECTOR, indent=1))
        print(canon)
        print(auth)
        return 0
    import signal
    s = SLS(keys={"AKID": "secret"})
    print(json.dumps({"url": s.url, "pid": os.getpid(), "keys": s.keys, "region": s.region}), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    s.stop()
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main(sys.argv[1:]))
