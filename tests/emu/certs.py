"""Test PKI made with the openssl CLI, cached per directory.

make_pki(dir) -> dict of paths:
  ca, ca_key                 the test CA (EC P-256)
  server, server_key         API server / sink certificate signed by the CA: IP 127.0.0.1,
                             IP ::1, DNS localhost, DNS kubernetes, DNS kubernetes.default
  client, client_key         client certificate O=system:masters, CN=kube-eventer-test,
                             EC P-256 key as "EC PRIVATE KEY" (SEC1) like k3s's client-admin.key
  other_ca, other_ca_key     an unrelated CA (verification against it must fail)
  other_client, other_client_key
                             a client certificate CN=kube-eventer-test signed by the
                             unrelated CA (a server trusting only `ca` must refuse it)
  robots, robots_key         a certificate for the public chat API names (qyapi.weixin.qq.com,
                             oapi.dingtalk.com, open.feishu.cn, hooks.slack.com, robot.test),
                             for tests that route them through a proxy

Every certificate is valid for 10 years starting yesterday (so a clock a little
behind still accepts it). Files that exist are reused; a missing CA remakes
everything, a missing leaf remakes only that leaf. Concurrent callers (parallel
test processes) are serialised with a lock file in the directory.

    python3 certs.py DIR     make (or reuse) the PKI in DIR and print the paths as JSON
"""
import datetime
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile

FILES = {
    "ca": "ca.crt", "ca_key": "ca.key",
    "server": "server.crt", "server_key": "server.key",
    "client": "client.crt", "client_key": "client.key",
    "other_ca": "other-ca.crt", "other_ca_key": "other-ca.key",
    "other_client": "other-client.crt", "other_client_key": "other-client.key",
    "robots": "robots.crt", "robots_key": "robots.key",
}
DAYS = 3650
SERVER_SAN = "IP:127.0.0.1,IP:::1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default"
ROBOT_SAN = "DNS:qyapi.weixin.qq.com,DNS:oapi.dingtalk.com,DNS:open.feishu.cn,DNS:hooks.slack.com,DNS:robot.test"

_CNF = """\
[ ca ]
default_ca = ca_default
[ ca_default ]
database = {w}/index.txt
serial = {w}/serial
new_certs_dir = {w}
default_md = sha256
policy = policy_any
preserve = yes
unique_subject = no
copy_extensions = none
email_in_dn = no
[ policy_any ]
organizationName = optional
commonName = supplied
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
"""


def _run(*args):
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])}...: {r.stderr.decode(errors='replace')[-800:]}")


class _Maker:
    """openssl req + openssl ca (the only CLI way in OpenSSL 3.0 to set notBefore)."""

    def __init__(self, work):
        self.w = work
        self.cnf = os.path.join(work, "openssl.cnf")
        with open(self.cnf, "w") as f:
            f.write(_CNF.format(w=work))
        open(os.path.join(work, "index.txt"), "w").close()
        start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
        end = start + datetime.timedelta(days=DAYS)
        self.dates = ["-startdate", start.strftime("%Y%m%d%H%M%SZ"), "-enddate", end.strftime("%Y%m%d%H%M%SZ")]
        self.n = 0

    def _ext(self, text):
        self.n += 1
        p = os.path.join(self.w, f"ext{self.n}.cnf")
        with open(p, "w") as f:
            f.write("[ v3 ]\n" + text)
        return p

    def key(self, path):
        # "EC PRIVATE KEY" (SEC1): what k3s writes and what most clients must accept
        _run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", path)
        os.chmod(path, 0o600)

    def csr(self, key, subj):
        self.n += 1
        p = os.path.join(self.w, f"req{self.n}.csr")
        _run("openssl", "req", "-config", self.cnf, "-new", "-key", key, "-subj", subj, "-out", p)
        return p

    def sign(self, csr, out, ext, ca=None, ca_key=None):
        args = ["openssl", "ca", "-batch", "-config", self.cnf, "-notext", "-rand_serial", "-md", "sha256",
                *self.dates, "-in", csr, "-out", out, "-extfile", self._ext(ext), "-extensions", "v3"]
        if ca is None:
            args += ["-selfsign", "-keyfile", ca_key]
        else:
            args += ["-cert", ca, "-keyfile", ca_key]
        _run(*args)

    def ca(self, crt, key, cn):
        self.key(key)
        self.sign(self.csr(key, f"/CN={cn}"), crt,
                  "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
                  "subjectKeyIdentifier=hash\n", ca_key=key)

    def leaf(self, crt, key, subj, ca, ca_key, san=None, usage="serverAuth"):
        self.key(key)
        ext = (f"basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
               f"extendedKeyUsage={usage}\nauthorityKeyIdentifier=keyid\n")
        if san:
            ext += f"subjectAltName={san}\n"
        self.sign(self.csr(key, subj), crt, ext, ca=ca, ca_key=ca_key)


def make_pki(d):
    """Make (or reuse) the test PKI in directory d; returns {name: absolute path}."""
    d = os.path.abspath(d)
    os.makedirs(d, exist_ok=True)
    p = {k: os.path.join(d, v) for k, v in FILES.items()}
    if all(os.path.exists(v) for v in p.values()):
        return p
    with open(os.path.join(d, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            _make(d, p)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return p


def _make(d, p):
    have = {k for k, v in p.items() if os.path.exists(v)}
    work = tempfile.mkdtemp(prefix=".pki-", dir=d)
    try:
        m = _Maker(work)
        t = {k: os.path.join(work, v) for k, v in FILES.items()}   # made here, then renamed in place
        remake_ca = not {"ca", "ca_key"} <= have
        remake_other = not {"other_ca", "other_ca_key"} <= have
        todo = []
        if remake_ca:
            m.ca(t["ca"], t["ca_key"], "kube-eventer-test-ca")
            todo += ["ca", "ca_key"]
        if remake_other:
            m.ca(t["other_ca"], t["other_ca_key"], "unrelated-test-ca")
            todo += ["other_ca", "other_ca_key"]
        ca = (t if remake_ca else p)["ca"], (t if remake_ca else p)["ca_key"]
        oca = (t if remake_other else p)["other_ca"], (t if remake_other else p)["other_ca_key"]

        def need(name, again):
            return again or not {name, name + "_key"} <= have

        if need("server", remake_ca):
            m.leaf(t["server"], t["server_key"], "/CN=kube-apiserver", *ca, san=SERVER_SAN)
            todo += ["server", "server_key"]
        if need("client", remake_ca):
            m.leaf(t["client"], t["client_key"], "/O=system:masters/CN=kube-eventer-test", *ca, usage="clientAuth")
            todo += ["client", "client_key"]
        if need("robots", remake_ca):
            m.leaf(t["robots"], t["robots_key"], "/CN=robots", *ca, san=ROBOT_SAN)
            todo += ["robots", "robots_key"]
        if need("other_client", remake_other):
            m.leaf(t["other_client"], t["other_client_key"], "/O=system:masters/CN=kube-eventer-test", *oca,
                   usage="clientAuth")
            todo += ["other_client", "other_client_key"]
        # keys first, CAs last: a reader that sees a complete set sees a consistent one
        for k in sorted(todo, key=lambda k: (k in ("ca", "other_ca"), not k.endswith("_key"))):
            os.replace(t[k], p[k])
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: certs.py DIR")
    print(json.dumps(make_pki(sys.argv[1]), indent=1))
