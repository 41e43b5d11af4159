"""The FROM scratch image: built offline with podman, run under podman.

podman runs here with runc and explicitly lowered limits (the sandbox has no
CAP_SYS_RESOURCE, so the runtime may only lower rlimits)."""
import io
import json
import os
import subprocess
import tarfile

from harness import ROOT, check, eq

PODMAN = ["podman", "--storage-driver", "vfs"]
RUN = PODMAN + ["run", "--runtime", "runc", "--rm", "--network=none", "--ulimit", "nofile=1024:1024",
                "--ulimit", "nproc=1024:1024"]
IMAGE = "localhost/kube-eventer:0.1.0"


def build():
    r = subprocess.run(["make", "-s", "image"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    eq(r.returncode, 0, r.stderr[-2000:])


def test_image_builds_offline_and_runs(t):
    build()
    r = subprocess.run(RUN + [IMAGE, "--version"], capture_output=True, text=True, timeout=60)
    eq(r.returncode, 0, r.stderr)
    check(r.stdout.startswith("kube-eventer 0.1.0"), r.stdout)
    r = subprocess.run(RUN + [IMAGE, "--check", "--source=kubernetes:https://kubernetes.default",
                              "--sink=webhook:https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x&method=POST"
                              "&header=Content-Type=application/json&reason=[^Unhealthy]"],
                       capture_output=True, text=True, timeout=60)
    eq(r.returncode, 0, r.stderr)
    eq(r.stdout.strip(), "configuration OK")
    r = subprocess.run(RUN + [IMAGE, "--check", "--source=kubernetes:", "--sink=webhook:http://x?level=Critical"],
                       capture_output=True, text=True, timeout=60)
    eq(r.returncode, 2)
    check("level" in r.stderr)


def test_image_contents(t):
    build()
    info = json.loads(subprocess.run(PODMAN + ["image", "inspect", IMAGE], capture_output=True, text=True,
                                     check=True).stdout)[0]
    eq(info["Config"]["User"], "65532:65532", "non-root")
    eq(info["Config"]["Entrypoint"], ["/kube-eventer"])
    check(info["Size"] < 4 * 1024 * 1024, info["Size"])
    tar = subprocess.run(PODMAN + ["save", "--format", "docker-archive", IMAGE], capture_output=True, check=True,
                         timeout=120).stdout
    names = set()
    with tarfile.open(fileobj=io.BytesIO(tar)) as outer:
        for m in outer.getmembers():
            if m.name.endswith(".tar") or m.name.endswith("/layer.tar"):
                with tarfile.open(fileobj=outer.extractfile(m)) as layer:
                    names |= {n.lstrip("./") for n in layer.getnames()}
    for path in ("kube-eventer", "etc/ssl/certs/ca-certificates.crt", "etc/passwd",
                 "usr/share/zoneinfo/Asia/Shanghai"):
        check(path in names, path)
    check(not any(n.startswith(("bin/", "usr/bin/", "lib/")) for n in names), "nothing but the binary and data")
