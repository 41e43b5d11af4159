"""Operations: /healthz and /metrics, slow and many clients, signals, logs,
the CI gate, proxies and TLS verification of sinks."""
import json
import os
import resource
import signal
import socket
import threading
import time

import harness
from harness import check, eq, event, event_list, kubeconfig, pki, wait_until
from kubeapi import KubeAPI
from receivers import ConnectProxy, Recorder

QUICK = ("test_healthz_follows_the_api_server", "test_once_gate_exit_codes")


def watching(t, api, *extra, kc=None, env=None):
    kc = kc or kubeconfig(t, api, token="t0")
    api.set_tokens({"t0"})
    k = t.ke(f"--source=kubernetes:?inClusterConfig=false&auth={kc}", "--sink=stdout:?format=json&level=Normal",
             "--healthz-ip=127.0.0.1", "--healthz-port=0", *extra, env=env)
    api.wait_for(lambda: api.open_watch_count() == 1, 10, "the watch")
    return k


def test_healthz_follows_the_api_server(t):
    with KubeAPI(pki()) as api:
        k = watching(t, api, "--healthz-timeout=2s")
        eq(k.get("/healthz"), (200, "ok\n"))
        eq(k.get("/healtz"), (200, "ok\n"), "upstream's spelling too")
        # connected once the watch's response headers are in (the emulator saw the request first)
        wait_until(lambda: k.metric("eventer_watch_connected") == 1, 10, msg="the watch connected")
        m = k.metrics()
        check('kube_eventer_build_info{version="0.1.0"' in "".join(m), m.keys())
        api.stop()
        wait_until(lambda: k.get("/healthz")[0] == 503, 10, msg="503 once the API server is gone for 2 s")
        status, body = k.get("/healthz")
        check("no answer from the API server" in body, body)
        api.start()
        wait_until(lambda: k.get("/healthz")[0] == 200, 15, msg="healthy again")


def test_metrics_keep_kube_eventer_names(t):
    with KubeAPI(pki()) as api:
        k = watching(t, api)
        api.add_event(ns="a", obj="p1", reason="BackOff", message="Back-off restarting failed container x")
        api.add_event(ns="b", obj="p2", reason="Pulled", type_="Normal", message="ok")
        api.add_event(kind="Node", obj="n1", reason="NodeNotReady", message="PLEG is not healthy: x")
        wait_until(lambda: len(k.stdout_lines) >= 3, 5)
        m = k.metrics()
        eq(m['eventer_events_warning_total{event_kind="pod_crash",kind="Pod",name="p1",namespace="a"}'], 1)
        eq(m['eventer_events_warning_total{event_kind="node_pleg_unhealthy",kind="Node",name="n1",namespace=""}'], 1)
        eq(m['eventer_events_normal_total{reason="Pulled",namespace="b"}'], 1)
        eq(m['eventer_events_total{type="Warning"}'], 2)
        eq(m['eventer_sink_sent_total{sink="stdout[0]",type="stdout"}'], 3)


def test_bad_requests(t):
    with KubeAPI(pki()) as api:
        k = watching(t, api)
        port = k.health_port
        for raw, want in ((b"GARBAGE\r\n\r\n", b"400"), (b"GET /nope HTTP/1.1\r\n\r\n", b"404"),
                          (b"POST /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n", b"405"),
                          (b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 8000 + b"\r\n\r\n", b"400")):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(raw)
            got = s.recv(100)
            s.close()
            check(got.startswith(b"HTTP/1.1 " + want), (raw[:20], got))


def test_slow_clients_are_closed(t):
    with KubeAPI(pki()) as api:
        k = watching(t, api)
        socks = []
        for _ in range(50):
            s = socket.create_connection(("127.0.0.1", k.health_port))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost")  # and never finish
            socks.append(s)
        t0 = time.monotonic()
        for s in socks:
            s.settimeout(10)
            check(s.recv(10) == b"", "closed by the server")
        check(time.monotonic() - t0 < 8, "within the request timeout")
        eq(k.get("/healthz")[0], 200)


def test_thousand_connections_bounded_memory(t):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 4096), hard), hard))
    with KubeAPI(pki()) as api:
        k = watching(t, api, env=None)
        port = k.health_port

        def rss():
            with open(f"/proc/{k.proc.pid}/status") as f:
                return int(next(line for line in f if line.startswith("VmRSS")).split()[1])
        before = rss()
        socks = []
        for i in range(1000):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /he")
            socks.append(s)
        time.sleep(0.5)
        during = rss()
        check(during - before < 1024, f"1000 open connections cost {during - before} KiB")
        eq(k.get("/healthz")[0], 200, "still serving")
        for s in socks:
            s.close()
        time.sleep(0.5)
        eq(k.get("/metrics")[0], 200)


def test_sighup_rereads_token_files_and_templates(t):
    with KubeAPI(pki()) as api:
        tf = t.write("token", "tok-a\n")
        kc = kubeconfig(t, api, token_file=tf)
        api.set_tokens({"tok-a", "tok-b"})
        api.set_configmap("ops", "tpl", {"content": "A {{ .Reason }}"})
        with Recorder() as r:
            k = t.ke(f"--source=kubernetes:?inClusterConfig=false&auth={kc}", "--healthz-port=0",
                     f"--sink=webhook:{r.url}?method=POST&custom_body_configmap=tpl&custom_body_configmap_namespace=ops")
            api.wait_for(lambda: api.open_watch_count() == 1, 10, "the watch")
            t.write("token", "tok-b\n")
            api.wait_for(lambda: sum(1 for q in api.requests if q["path"].endswith("/configmaps/tpl")) == 1, 5,
                         "the start-up GET")
            k.signal(signal.SIGHUP)
            k.wait_log("SIGHUP", 5)
            gets = lambda: sum(1 for q in api.requests if q["path"] == "/api/v1/namespaces/ops/configmaps/tpl")
            wait_until(lambda: gets() >= 2, 10, msg="the template fetched again")
            api.cut_watches()
            api.wait_for(lambda: api.watch_requests()[-1]["headers"].get("authorization") == "Bearer tok-b", 10,
                         "the new token used at once (not after the 60 s re-read)")


def test_json_logs_and_klog_flags(t):
    rc, out, err = t.run_ke("--source=file:-", "--sink=stdout:", "--healthz-port=0", "--log-format=json",
                            "--logtostderr", "--alsologtostderr=true", "--v=2", "--stderrthreshold=INFO",
                            stdin=event_list([event()]).encode())
    eq(rc, 0, err)
    lines = [json.loads(line) for line in err.splitlines()]
    check(all(set(d) == {"time", "level", "msg"} for d in lines), lines[:2])
    eq(sum("klog flags" in d["msg"] for d in lines), 1, "one warning for the ignored klog flags")
    check(any(d["level"] == "debug" for d in lines), "-v=2 enables debug")


def test_once_gate_exit_codes(t):
    with KubeAPI(pki()) as api:
        kc = kubeconfig(t, api, token="t0")
        api.set_tokens({"t0"})
        api.add_event(ns="ci-test", obj="web", reason="BackOff")
        api.add_event(ns="ci-test", obj="web", reason="Pulled", type_="Normal")
        api.add_event(ns="other", obj="db", reason="FailedScheduling")
        src = f"--source=kubernetes:?inClusterConfig=false&auth={kc}"
        rc, out, err = t.run_ke("--once", src, "--sink=stdout:?namespaces=ci-test&reason=BackOff,FailedScheduling")
        eq(rc, 1, err)
        eq(len(out.splitlines()), 1, out)
        check("BackOff" in out)
        rc, out, err = t.run_ke("--once", src, "--sink=stdout:?namespaces=ci-test&reason=OOMKilling")
        eq((rc, out), (0, ""), err)
        # --since: only what happened recently
        old = api.make_event(ns="ci-test", obj="old", reason="BackOff")
        for f in ("firstTimestamp", "lastTimestamp"):
            old[f] = "2020-01-01T00:00:00Z"
        old["metadata"]["creationTimestamp"] = "2020-01-01T00:00:00Z"
        api.add_event(old)
        rc, out, err = t.run_ke("--once", "--since=10m", src, "--sink=stdout:?namespaces=ci-test&reason=BackOff")
        eq(rc, 1)
        eq(len(out.splitlines()), 1, "the 2020 event is older than --since")
        check(api.watch_requests() == [], "a one-shot list, no watch")


def test_once_with_a_file(t):
    evs = [event(reason="Scheduled", type_="Normal"), event(reason="FailedMount")]
    rc, out, _ = t.run_ke("--once", "--source=file:-", "--sink=stdout:?reason=^Failed", stdin=event_list(evs).encode())
    eq(rc, 1)
    check("FailedMount" in out)
    rc, out, _ = t.run_ke("--once", "--source=file:-", "--sink=stdout:?reason=^Evicted$", stdin=event_list(evs).encode())
    eq(rc, 0)


def test_http_proxy_and_no_proxy(t):
    with Recorder() as r:
        proxy = ConnectProxy(routes={f"robot.test:{r.port}": ("127.0.0.1", r.port)})
        t.cleanup(proxy.stop)
        url = f"http://robot.test:{r.port}/hook?method=POST"
        rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", f"--sink=webhook:{url}",
                              stdin=event_list([event()]).encode(), env={"HTTP_PROXY": proxy.url})
        eq(rc, 0, err)
        eq(r.total, 1, "delivered through the proxy")
        eq(proxy.targets()[0], f"robot.test:{r.port}")
        rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", f"--sink=webhook:{url}&retries=0",
                              stdin=event_list([event()]).encode(),
                              env={"HTTP_PROXY": proxy.url, "NO_PROXY": "example.com,.test"})
        eq(len(proxy.records), 1, "NO_PROXY: not through the proxy")
        check("cannot resolve the host" in err, err)
        # loopback is never proxied (Go's rule)
        rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", f"--sink=webhook:{r.url}?method=POST",
                              stdin=event_list([event()]).encode(), env={"HTTP_PROXY": proxy.url})
        eq(r.total, 2)
        eq(len(proxy.records), 1)


def test_kubeconfig_proxy_url_carries_the_api_traffic(t):
    """A cluster's proxy-url is used for the API server, even on loopback and whatever NO_PROXY
    says (client-go's rule); the webhook sink keeps the environment's rules."""
    proxy = ConnectProxy()
    t.cleanup(proxy.stop)
    with KubeAPI(pki()) as api, Recorder() as r:
        kc = kubeconfig(t, api, token="t0", proxy_url=proxy.url)
        api.set_tokens({"t0"})
        t.ke(f"--source=kubernetes:?inClusterConfig=false&auth={kc}", f"--sink=webhook:{r.url}",
                 "--healthz-ip=127.0.0.1", "--healthz-port=0", env={"NO_PROXY": "127.0.0.1"})
        api.wait_for(lambda: api.open_watch_count() == 1, 10, "the watch, through the proxy")
        api.add_event(reason="BackOff", message="via proxy")
        r.wait_for(1, 5)
        targets = proxy.targets()
        check(targets and all(x == f"127.0.0.1:{api.port}" for x in targets), targets)


def test_sink_tls_is_verified(t):
    p = pki()
    with Recorder(certfile=p["server"], keyfile=p["server_key"]) as r:
        url = f"https://127.0.0.1:{r.port}/hook?method=POST&retries=0"
        rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", f"--sink=webhook:{url}",
                              stdin=event_list([event()]).encode(), env={"SSL_CERT_FILE": p["other_ca"]})
        eq(r.total, 0, "an untrusted certificate: nothing sent")
        check("TLS" in err, err)
        rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", f"--sink=webhook:{url}&cacert={p['ca']}",
                              stdin=event_list([event()]).encode(), env={"SSL_CERT_FILE": p["other_ca"]})
        eq(r.total, 1, "cacert= trusts the test CA")
        rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", f"--sink=webhook:{url}",
                              stdin=event_list([event()]).encode(), env={"SSL_CERT_FILE": p["ca"]})
        eq(r.total, 2, "SSL_CERT_FILE")
        rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", f"--sink=webhook:{url}&insecure_skip_verify=true",
                              stdin=event_list([event()]).encode(), env={"SSL_CERT_FILE": p["other_ca"]})
        eq(r.total, 3, "only when asked")


def test_shipped_binary_is_static_stripped_x86_64(t):
    """build/kube-eventer (whatever --bin is): an x86-64 ELF with no interpreter and
    no dynamic section (nothing to load at run time: FROM scratch works), no symbol table."""
    import struct
    from harness import ROOT
    with open(os.path.join(ROOT, "build", "kube-eventer"), "rb") as f:
        elf = f.read()
    eq(elf[:4], b"\x7fELF")
    eq(elf[4], 2, "64-bit")
    eq(struct.unpack_from("<H", elf, 18)[0], 62, "EM_X86_64")
    phoff, shoff = struct.unpack_from("<QQ", elf, 32)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", elf, 54)
    ptypes = [struct.unpack_from("<I", elf, phoff + i * phentsize)[0] for i in range(phnum)]
    check(3 not in ptypes, "PT_INTERP present: dynamically linked")
    check(2 not in ptypes, "PT_DYNAMIC present: dynamically linked")
    stypes = [struct.unpack_from("<I", elf, shoff + i * shentsize + 4)[0] for i in range(shnum)]
    check(2 not in stypes, "SHT_SYMTAB present: not stripped")
    check(len(elf) <= 1024 * 1024, f"{len(elf)} bytes: over the 1 MiB budget")


def test_a_stalled_stdout_does_not_stall_other_sinks(t):
    """Nobody reads stdout for a while: the webhook still gets every event at once, and the
    lines wait in the stdout sink's queue until the reader comes back."""
    import subprocess
    from receivers import Recorder
    n = 2000
    evs = [event(obj=f"s{i}", uid=f"stall-{i}", message=f"line {i} " + "y" * 100) for i in range(n)]
    with Recorder() as r:
        p = subprocess.Popen([harness.BIN, "--source=file:-", "--healthz-port=0", "--flush-timeout=30s",
                              "--sink=stdout:?queue_size=5000&queue_bytes=4194304",
                              f"--sink=webhook:{r.url}?method=POST"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        t.cleanup(lambda: p.kill() if p.poll() is None else None)
        data = event_list(evs).encode()

        def feed():
            try:
                p.stdin.write(data)
                p.stdin.close()
            except OSError:
                pass  # killed: the failure is reported below
        threading.Thread(target=feed, daemon=True).start()
        r.wait_for(n, 120)  # a blocking write to the full pipe would have stopped the loop long before
        out = p.stdout.read()  # now the reader comes back
        eq(p.wait(60), 0)
    lines = out.decode().splitlines()
    eq(len(lines), n)
    eq(sum(1 for i, line in enumerate(lines) if f"line {i} " in line), n, "every line, in order")
