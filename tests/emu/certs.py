"""Test PKI made with the openssl CLI (cached per directory).

make_pki(dir) -> dict of paths:
  ca, ca_key            the test CA (EC P-256)
  server, server_key    API server / sink certificate: IP 127.0.0.1, IP ::1, DNS localhost, DNS kubernetes
  client, client_key    client certificate CN=kube-eventer-test (EC key, as k3s issues)
  other_ca              an unrelated CA (verification against it must fail)
  robots, robots_key    a certificate for the public chat API names (qyapi.weixin.qq.com,
                        oapi.dingtalk.com, open.feishu.cn, hooks.slack.com), for proxied tests
"""
import os
import subprocess


def _run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_pki(d):
    os.makedirs(d, exist_ok=True)
    p = {k: os.path.join(d, v) for k, v in {
        "ca": "ca.crt", "ca_key": "ca.key", "server": "server.crt", "server_key": "server.key",
        "client": "client.crt", "client_key": "client.key", "other_ca": "other-ca.crt",
        "other_ca_key": "other-ca.key", "robots": "robots.crt", "robots_key": "robots.key"}.items()}
    if all(os.path.exists(v) for v in p.values()):
        return p
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for ca, key, cn in ((p["ca"], p["ca_key"], "kube-eventer-test-ca"),
                        (p["other_ca"], p["other_ca_key"], "unrelated-ca")):
        _run("openssl", "req", "-x509", *ec, "-keyout", key, "-out", ca, "-days", "3650",
             "-subj", f"/CN={cn}", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    ext = os.path.join(d, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default\n"
                "extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n")
    csr = os.path.join(d, "server.csr")
    _run("openssl", "req", "-new", *ec, "-keyout", p["server_key"], "-out", csr, "-subj", "/CN=kube-apiserver")
    _run("openssl", "x509", "-req", "-in", csr, "-CA", p["ca"], "-CAkey", p["ca_key"], "-CAcreateserial",
         "-out", p["server"], "-days", "3650", "-extfile", ext)
    cext = os.path.join(d, "client.ext")
    with open(cext, "w") as f:
        f.write("extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n")
    ccsr = os.path.join(d, "client.csr")
    # "EC PRIVATE KEY" (SEC1) like k3s's client-admin.key
    _run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", p["client_key"])
    _run("openssl", "req", "-new", "-key", p["client_key"], "-out", ccsr,
         "-subj", "/O=system:masters/CN=kube-eventer-test")
    _run("openssl", "x509", "-req", "-in", ccsr, "-CA", p["ca"], "-CAkey", p["ca_key"], "-CAcreateserial",
         "-out", p["client"], "-days", "3650", "-extfile", cext)
    rext = os.path.join(d, "robots.ext")
    with open(rext, "w") as f:
        f.write("subjectAltName=DNS:qyapi.weixin.qq.com,DNS:oapi.dingtalk.com,DNS:open.feishu.cn,"
                "DNS:hooks.slack.com,DNS:robot.test\nextendedKeyUsage=serverAuth\n")
    rcsr = os.path.join(d, "robots.csr")
    _run("openssl", "req", "-new", *ec, "-keyout", p["robots_key"], "-out", rcsr, "-subj", "/CN=robots")
    _run("openssl", "x509", "-req", "-in", rcsr, "-CA", p["ca"], "-CAkey", p["ca_key"], "-CAcreateserial",
         "-out", p["robots"], "-days", "3650", "-extfile", rext)
    return p
