"""The influxdb sink against a real InfluxDB (Debian's influxdb 1.6, started per test on loopback)."""
import json
import resource
import signal
import time

import influx
from harness import check, eq, event, event_list, sanitized, wait_until

QUICK = ("test_points_as_upstream_writes_them",)


def _events(n, tag, base=1709622000, **kw):
    """n events one second apart from base (Unix seconds)."""
    return [event(name=f"{tag}-{i}", obj=f"{tag}-pod-{i}", uid=f"{tag}-uid-{i}", rv=str(i + 1),
                  ts=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + i)), **kw) for i in range(n)]


def _sent(k, sink):
    return k.metric(f'eventer_sink_sent_total{{sink="{sink}",type="influxdb"}}')


def test_points_as_upstream_writes_them(t):
    db = influx.for_case(t)
    evs = _events(3, "up", message='Back-off "x"\nline 2, a=b \\ ok \u4e2d\U0001F600')
    evs[1]["involvedObject"]["kind"] = "Node"
    evs[1]["type"] = "Normal"
    evs[2]["source"] = {"component": "kubelet", "host": "node 1,a=b"}
    rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", "--flush-timeout=20s",
                          f"--sink=influxdb:{db.url}?db=k8s&cluster_name=prod",
                          f"--sink=influxdb:{db.url}?db=wf&withfields=true",
                          stdin=event_list(evs).encode(), timeout=60)
    eq(rc, 0, err[-2000:])
    pts = db.points("log/events", "k8s")
    eq(len(pts), 3, "every event, Normal too: data sinks record everything")
    by_uid = {p["tags"]["uid"]: p for p in pts}
    p0, p1, p2 = by_uid["up-uid-0"], by_uid["up-uid-1"], by_uid["up-uid-2"]
    eq(p0["tags"], {"cluster_name": "prod", "hostname": "node-1", "pod_id": "obj-up-pod-0",
                    "pod_name": "up-pod-0", "uid": "up-uid-0"})
    eq(p1["tags"], {"cluster_name": "prod", "hostname": "node-1", "uid": "up-uid-1"}, "no pod tags for a Node")
    eq(p2["tags"]["hostname"], "node 1,a=b")
    eq(p0["time"], 1709622000 * 10**9, "nanoseconds of the effective time")
    # the value is json.MarshalIndent(event, "", " "): the object without kind/apiVersion
    value = p0["fields"]["value"]
    check(value.startswith('{\n "metadata": {\n  "name": "up-0",'), value[:80])
    want = dict(evs[0])
    del want["kind"], want["apiVersion"]
    eq(json.loads(value), want)

    wf = db.points("events", "wf")
    eq(len(wf), 3)
    w0 = {p["tags"]["uid"]: p for p in wf}["up-uid-0"]
    eq(w0["tags"], {"cluster_name": "default", "component": "kubelet", "hostname": "node-1", "kind": "Pod",
                    "namespace_name": "default", "object_name": "up-pod-0", "pod_id": "obj-up-pod-0",
                    "reason": "BackOff", "type": "Warning", "uid": "up-uid-0"})
    eq(w0["fields"], {"message": evs[0]["message"]})
    # upstream names the default policy "default"
    eq([(r["name"], r["default"]) for r in db.retention_policies("k8s")], [("default", True)])


def test_retention_and_rp(t):
    db = influx.for_case(t)
    db.query('CREATE DATABASE "other"')
    db.query('CREATE RETENTION POLICY "week" ON "other" DURATION 7d REPLICATION 1')
    rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", "--flush-timeout=20s",
                          f"--sink=influxdb:{db.url}?db=ret&retention=30d",
                          f"--sink=influxdb:{db.url}?db=other&rp=week",
                          f"--sink=influxdb:{db.url}?db=other&rp=nope&retries=1",
                          stdin=event_list(_events(2, "r", base=int(time.time()) - 60)).encode(), timeout=60)
    eq(rc, 0, err[-2000:])
    rps = db.retention_policies("ret")
    eq([(r["name"], r["duration"], r["default"]) for r in rps], [("default", "720h0m0s", True)])
    eq(len(db.points("log/events", "ret")), 2)
    eq(len(db.points("log/events", "other", rp="week")), 2, "rp= is honoured")
    eq(len(db.points("log/events", "other", rp="autogen")), 0)
    # a policy that does not exist is a clear error, not a retry loop
    check("retention policy not found: nope" in err, err[-2000:])
    check("influxdb[2]" in err)
    # points older than the policy keeps are refused one by one, and the rest is written
    rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", "--flush-timeout=20s",
                          f"--sink=influxdb:{db.url}?db=ret",
                          stdin=event_list(_events(2, "new", base=int(time.time()) - 60) +
                                           _events(1, "old", base=int(time.time()) - 86400 * 60)).encode(),
                          timeout=60)
    eq(rc, 0, err[-2000:])
    eq(sorted(p["tags"]["uid"] for p in db.points("log/events", "ret")),
       ["new-uid-0", "new-uid-1", "r-uid-0", "r-uid-1"])
    check("dropped Pod default/old-pod-0" in err and "points beyond retention policy" in err, err[-2000:])


def test_wrong_password_is_a_clear_error(t):
    db = influx.for_case(t, auth=True)
    pw = t.secret("wr0ng-Passw0rd")
    k = t.ke("--source=file:-", "--healthz-ip=127.0.0.1", "--healthz-port=0",
             f"--sink=influxdb:{db.url}?db=k8s&user={db.user}&pw={pw}", stdin=True)
    k.feed(event_list(_events(2, "pw")))
    k.wait_log(r"sink influxdb\[0\].*HTTP 401: authorization failed", 30)
    wait_until(lambda: k.metric('eventer_sink_failed_total{sink="influxdb[0]",type="influxdb"}') == 2, 30,
               msg="both events dropped")
    check(pw not in k.log_text())
    k.close_stdin()
    eq(k.stop(), 0)
    # the right password works
    good = t.secret(db.password)
    rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", "--flush-timeout=20s",
                          f"--sink=influxdb:{db.url}?db=k8s&user={db.user}&pw={good}",
                          stdin=event_list(_events(2, "pw")).encode(), timeout=60)
    eq(rc, 0, err[-2000:])
    eq(len(db.points("log/events", "k8s")), 2)


def test_down_for_10s_then_up_delivers_each_once(t):
    db = influx.for_case(t)
    db.query('CREATE DATABASE "k8s"')
    k = t.ke("--source=file:-", "--healthz-ip=127.0.0.1", "--healthz-port=0", "--flush-timeout=30s",
             f"--sink=influxdb:{db.url}?db=k8s&flush_interval=200ms&batch_size=20", stdin=True)
    k.feed(event_list(_events(30, "a")))
    wait_until(lambda: _sent(k, "influxdb[0]") == 30, 30, msg="first 30 delivered")
    db.stop()
    k.feed(event_list(_events(50, "b")))
    k.wait_log(r"influxdb\[0\].*(refused|unreachable)", 30)
    time.sleep(10)
    db.start()
    wait_until(lambda: _sent(k, "influxdb[0]") == 80, 90, msg="the 50 sent while it was down")
    pts = db.points("log/events", "k8s")
    eq(len(pts), 80)
    eq(len({p["tags"]["uid"] for p in pts}), 80)
    m = k.metrics()
    eq(m['eventer_sink_failed_total{sink="influxdb[0]",type="influxdb"}'], 0)
    eq(m['eventer_sink_dropped_total{sink="influxdb[0]",type="influxdb"}'], 0)
    k.close_stdin()
    eq(k.stop(), 0)


def test_storm_with_the_backend_down_stays_bounded(t):
    """100 000 events while InfluxDB is down: the queue holds what it may, the rest is
    counted as dropped, memory stays small; once it is up, what was queued arrives once."""
    db = influx.for_case(t)
    db.stop()
    n = 100000
    k = t.ke("--source=file:-", "--healthz-ip=127.0.0.1", "--healthz-port=0", "--flush-timeout=30s",
             f"--sink=influxdb:{db.url}?db=k8s&retries=1000", stdin=True)
    k.feed(event_list(_events(n, "s")))
    mkey = '{sink="influxdb[0]",type="influxdb"}'
    wait_until(lambda: k.metric("eventer_sink_matched_total" + mkey) == n, 180, msg="every event offered")
    m = k.metrics()
    dropped = m["eventer_sink_dropped_total" + mkey]
    queued = n - dropped  # waiting, or in a request that is failing
    check(0 < queued < n, f"queued {queued}, dropped {dropped}")
    check(m["eventer_sink_queue_bytes" + mkey] <= 2 << 20, "within queue_bytes")
    eq(m["eventer_sink_sent_total" + mkey], 0)
    if not sanitized():
        with open(f"/proc/{k.proc.pid}/status") as f:
            hwm = int(next(line for line in f if line.startswith("VmHWM")).split()[1])
        check(hwm <= 8 * 1024, f"peak RSS {hwm} KiB > 8 MiB")
    db.start()
    wait_until(lambda: _sent(k, "influxdb[0]") == queued, 120, msg="the queued events delivered")
    eq(len(db.points("log/events", "k8s")), queued)
    k.close_stdin()
    eq(k.stop(), 0)


def test_sigterm_flushes_a_partial_batch(t):
    db = influx.for_case(t)
    k = t.ke("--source=file:-", "--healthz-ip=127.0.0.1", "--healthz-port=0", "--flush-timeout=20s",
             f"--sink=influxdb:{db.url}?db=k8s&flush_interval=30s", stdin=True)
    k.feed(event_list(_events(3, "f")))
    wait_until(lambda: k.metric('eventer_sink_queue_length{sink="influxdb[0]",type="influxdb"}') == 3, 30,
               msg="3 events waiting for their batch")
    wait_until(lambda: "k8s" in db.databases(), 30, msg="the database created at start")
    eq(len(db.points("log/events", "k8s")), 0)
    t0 = time.monotonic()
    eq(k.stop(), 0)
    check(time.monotonic() - t0 < 15, "did not wait for flush_interval")
    eq(len(db.points("log/events", "k8s")), 3)


def test_https_with_a_ca(t):
    db = influx.for_case(t, tls=True)
    rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", "--flush-timeout=20s",
                          f"--sink=influxdb:{db.url}?db=k8s&cacert={db.ca}",
                          stdin=event_list(_events(2, "tls")).encode(), timeout=60)
    eq(rc, 0, err[-2000:])
    eq(len(db.points("log/events", "k8s")), 2)
    # without the CA the server is not trusted: nothing written, and the log says why
    rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", "--flush-timeout=3s",
                          f"--sink=influxdb:{db.url}?db=k8s2",
                          stdin=event_list(_events(1, "tls")).encode(), timeout=60)
    check("certificate" in err.lower() or "TLS" in err, err[-1500:])
    check("k8s2" not in db.databases())


def test_token_for_the_v1_api_of_influxdb_2(t):
    """InfluxDB 2/3 take v1 writes with "Authorization: Token"; they cannot CREATE DATABASE."""
    from receivers import Recorder, Response
    with Recorder(default=Response(204)) as r:
        tok = t.secret("tok-InfluxDB2-0123456789")
        _run = t.run_ke("--source=file:-", "--healthz-port=0", "--flush-timeout=20s",
                        f"--sink=influxdb:{r.url}?db=bucket&rp=autogen&token={tok}",
                        stdin=event_list(_events(3, "v2")).encode(), timeout=60)
        eq(_run[0], 0, _run[2][-2000:])
        reqs = r.requests
        eq([(q.method, q.path) for q in reqs], [("POST", "/write")], "no /query: no CREATE DATABASE")
        eq(reqs[0].params, {"db": ["bucket"], "rp": ["autogen"], "precision": ["ns"]})
        eq(reqs[0].header("authorization"), f"Token {tok}")
        eq(reqs[0].body.count(b"log/events,"), 3, "three points in one request")
        check(tok not in _run[2])


def test_bad_uris_exit_2(t):
    for uri, what in (("influxdb:ftp://h:8086", "http://"), ("influxdb:http://h?retention=7%20days", "retention"),
                      ("influxdb:http://h?withfields=maybe", "withfields"),
                      ("influxdb:http://h?flush_interval=1h", "flush_interval")):
        rc, _, err = t.run_ke("--source=file:-", f"--sink={uri}", stdin=b"")
        eq(rc, 2, uri)
        check(what in err and "--sink #1" in err, err)
