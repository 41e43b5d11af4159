"""The sls sink against the Log Service emulator (tests/emu/sls.py), its metadata service and
token-config fixtures.  Every run points the metadata URL and the token-config path at loopback
or nowhere: no test may reach the real 100.100.100.200."""
import json
import time
import urllib.parse

from harness import check, eq, event, event_list, free_port, wait_until
from sls import SLS, Metadata, token_config

QUICK = ("test_logs_like_upstream",)

REGION = "cn-test"


def _sls(t, **kw):
    s = SLS(region=REGION, **kw)
    t.cleanup(s.stop)
    return s


def _env(t, **kw):
    """An environment without the operator's SLS settings; metadata on a dead loopback port."""
    e = {"RegionId": "", "AccessKeyId": "", "AccessKeySecret": "", "SLS_ENDPOINT": "",
         "ALIBABA_CLOUD_IMDS_ENDPOINT": "", "ALIBABA_CLOUD_ECS_METADATA": "",
         "KE_SLS_METADATA_URL": f"http://127.0.0.1:{free_port()}", "KE_SLS_TOKEN_CONFIG": t.path("no-token-config")}
    e.update(kw)
    return e


def _events(n, tag, **kw):
    return [event(name=f"{tag}-{i}", obj=f"{tag}-pod-{i}", uid=f"{tag}-uid-{i}", rv=str(100 + i),
                  ts=f"2024-03-05T07:{i // 60 % 60:02d}:{i % 60:02d}Z", **kw) for i in range(n)]


def _keys(t, s, ak="LTAI5tTestKey", secret="TestSecret/+=9"):
    s.keys[ak] = secret
    return f"accessKeyId={ak}&accessKeySecret={urllib.parse.quote(t.secret(secret), safe='')}"


def _run(t, uri, events, env=None, timeout=60):
    rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", "--flush-timeout=20s", f"--sink={uri}",
                          stdin=event_list(events).encode(), env=env or _env(t), timeout=timeout)
    eq(rc, 0, err[-2500:])
    return err


def _upstream_event_json(e):
    """Go's json.MarshalIndent(event, "", " ") of the typed Event: no kind/apiVersion, one-space indent."""
    d = {k: v for k, v in e.items() if k not in ("kind", "apiVersion")}
    return json.dumps(d, indent=1, ensure_ascii=False)


def _by_uid(logs):
    out = {}
    for x in logs:
        c = x["contents"]
        uid = json.loads(c["eventId"])["metadata"]["uid"] if c["eventId"].startswith("{") else c["eventId"]
        out.setdefault(uid, []).append(x)
    return out


def test_logs_like_upstream(t):
    s = _sls(t)
    evs = _events(3, "u", message="Back-off restarting failed container 5 times")
    evs[1]["involvedObject"].update(kind="Node", namespace="")
    evs[1]["type"] = "Normal"
    evs[2]["lastTimestamp"] = "2024-03-06T00:00:01Z"
    evs[2]["source"]["host"] = ""
    _run(t, f"sls:{s.url}?project=k8s-log-c1&logStore=k8s-event&topic=k8s-cluster-dev&regionId={REGION}"
            f"&{_keys(t, s)}&label=ClusterId,c1&label=Region,{REGION}&label=broken", evs)
    logs = _by_uid(s.logs())
    eq(sorted(logs), ["u-uid-0", "u-uid-1", "u-uid-2"])
    pod = logs["u-uid-0"][0]
    eq((pod["project"], pod["logstore"], pod["topic"], pod["source"]), ("k8s-log-c1", "k8s-event", "k8s-cluster-dev", ""))
    eq(pod["keys"], ["eventId", "hostname", "level", "pod_id", "pod_name", "ClusterId", "Region"])
    eq(pod["contents"]["eventId"], _upstream_event_json(evs[0]), "eventId: the whole event, MarshalIndent")
    eq({k: pod["contents"][k] for k in pod["keys"][1:]},
       {"hostname": "node-1", "level": "Warning", "pod_id": "obj-u-pod-0", "pod_name": "u-pod-0",
        "ClusterId": "c1", "Region": REGION})
    eq(pod["time"], 1709622000, "Time: the effective event time (2024-03-05T07:00:00Z)")
    node = logs["u-uid-1"][0]
    eq(node["keys"], ["eventId", "hostname", "level", "ClusterId", "Region"], "no pod keys for a Node")
    eq(node["contents"]["level"], "Normal")
    eq(logs["u-uid-2"][0]["time"], 1709683201)
    eq(logs["u-uid-2"][0]["contents"]["hostname"], "")
    puts = s.requests_seen()
    eq([(p["status"], p["n_logs"], p["auth"]) for p in puts], [(200, 3, "v4")], "one signed request, one LogGroup")
    h = puts[0]["headers"]
    eq((h["x-log-apiversion"], h["x-log-compresstype"], h["content-type"], h["user-agent"]),
       ("0.6.0", "lz4", "application/x-protobuf", "ack-kube-eventer"))
    check(puts[0]["body_size"] < puts[0]["raw_size"], "LZ4 made it smaller")


def test_uid_mode_v1_signature_and_sls_endpoint_env(t):
    s = _sls(t)
    evs = _events(4, "v")
    # SLS_ENDPOINT without a scheme: plain HTTP, as upstream; the URL host is upstream's placeholder
    env = _env(t, SLS_ENDPOINT=s.url[len("http://"):], RegionId=REGION)
    _run(t, f"sls:https://sls.aliyuncs.com?project=p&logStore=l&{_keys(t, s)}&event_id=uid&sign_version=v1", evs,
         env=env)
    logs = s.logs()
    eq(sorted(x["contents"]["eventId"] for x in logs), [f"v-uid-{i}" for i in range(4)])
    e0 = [x for x in logs if x["contents"]["eventId"] == "v-uid-0"][0]
    eq(e0["keys"][:2], ["eventId", "event"])
    eq(json.loads(e0["contents"]["event"]), {k: v for k, v in evs[0].items() if k not in ("kind", "apiVersion")})
    eq({p["auth"] for p in s.requests_seen()}, {"v1"})


def test_down_for_10s_then_up_delivers_each_once(t):
    s = _sls(t)
    k = t.ke("--source=file:-", "--healthz-ip=127.0.0.1", "--healthz-port=0", "--flush-timeout=30s",
             f"--sink=sls:{s.url}?project=p&logStore=l&regionId={REGION}&{_keys(t, s)}"
             "&flush_interval=200ms&batch_size=20", stdin=True, env=_env(t))
    sent = lambda: k.metric('eventer_sink_sent_total{sink="sls[0]",type="sls"}')  # noqa: E731
    k.feed(event_list(_events(30, "a")))
    wait_until(lambda: sent() == 30, 30, msg="first 30 delivered")
    s.down()
    k.feed(event_list(_events(50, "b")))
    k.wait_log(r"sls\[0\].*(refused|unreachable|connect)", 30)
    time.sleep(10)
    s.up()
    wait_until(lambda: sent() == 80, 90, msg="the 50 sent while it was down")
    k.close_stdin()
    eq(k.stop(), 0)
    logs = _by_uid(s.logs())
    eq(len(logs), 80)
    check(all(len(v) == 1 for v in logs.values()), "each event stored once")


def test_quota_and_server_errors_retried_poison_isolated(t):
    s = _sls(t)
    s.fail_next(2, 403, "WriteQuotaExceed", "Write quota is exceeded.")
    evs = _events(8, "q")
    evs[5]["message"] = "POISON"
    s.refuse_logs_if(lambda c: '"POISON"' in c.get("eventId", ""))
    err = _run(t, f"sls:{s.url}?project=p&logStore=l&regionId={REGION}&{_keys(t, s)}&flush_interval=100ms", evs)
    logs = _by_uid(s.logs())
    eq(sorted(logs), sorted(f"q-uid-{i}" for i in range(8) if i != 5))
    check(all(len(v) == 1 for v in logs.values()), "each stored once")
    check("WriteQuotaExceed" in err and "request id" in err, err[-2000:])
    check("dropped Pod default/q-pod-5" in err and "PostBodyInvalid" in err, err[-2000:])
    codes = [p["code"] for p in s.requests_seen()]
    eq(codes.count("WriteQuotaExceed"), 2, codes)
    check(codes.count("PostBodyInvalid") >= 2, codes)   # halved until the poison log was alone


def test_bad_credentials_clear_error_no_secret_logged(t):
    s = _sls(t)
    s.keys["LTAI5tTestKey"] = "the-right-one"
    bad = t.secret("wr0ng-Secret-Value")
    err = _run(t, f"sls:{s.url}?project=p&logStore=l&regionId={REGION}&accessKeyId=LTAI5tTestKey"
                  f"&accessKeySecret={bad}", _events(3, "c"))
    check("sls[0]" in err and "HTTP 401 SignatureNotMatch" in err and "request id" in err, err[-2000:])
    eq(s.logs(), [])
    eq(len(s.requests_seen()), 1, "a 401 is not retried")
    # an unknown key id, through the environment
    err = _run(t, f"sls:{s.url}?project=p&logStore=l", _events(1, "d"),
               env=_env(t, AccessKeyId="LTAI5tUnknown", AccessKeySecret=t.secret("an0ther-Secret"), RegionId=REGION))
    check("HTTP 401 InvalidAccessKeyId" in err, err[-2000:])


def test_ram_role_credentials_from_metadata_refreshed_before_expiry(t):
    s = _sls(t)
    md = Metadata(region=REGION, role="KubeEventerRole", ttl=20, imds_v2="required", sls=[s])
    t.cleanup(md.stop)
    k = t.ke("--source=file:-", "--healthz-ip=127.0.0.1", "--healthz-port=0", "--flush-timeout=20s",
             f"--sink=sls:{s.url}?project=p&logStore=l&flush_interval=200ms", stdin=True,
             env=_env(t, KE_SLS_METADATA_URL=md.url))
    sent = lambda: k.metric('eventer_sink_sent_total{sink="sls[0]",type="sls"}')  # noqa: E731
    total = 0
    for round_ in range(4):                     # ~40 s: two 20 s key lifetimes
        k.feed(event_list(_events(5, f"r{round_}")))
        total += 5
        wait_until(lambda: sent() == total, 30, msg=f"round {round_} delivered")
        time.sleep(11)
    k.close_stdin()
    eq(k.stop(), 0)
    for c in md.issued:
        t.secret(c[1])
        t.secret(c[2])
    check(len(md.issued) >= 3, f"keys refreshed: {len(md.issued)} issued")
    # refreshed at half their 20 s life (10 minutes early does not fit), not when they run out
    gaps = [b[3] - a[3] for a, b in zip(md.issued, md.issued[1:])]
    check(all(8 <= g <= 13 for g in gaps), f"refresh intervals {gaps}")
    eq([p["code"] for p in s.requests_seen() if p["status"] != 200], [], "never sent with expired keys")
    eq(len(_by_uid(s.logs())), 20)
    log = k.log_text()
    check("region cn-test (ECS metadata)" in log and "credentials from the ECS RAM role" in log, log[-2000:])
    paths = [r.path for r in md.requests]
    check("/latest/api/token" in paths and "/latest/meta-data/ram/security-credentials/" in paths, paths[:10])


def test_expired_sts_from_token_config_refreshed_without_losing_a_batch(t):
    s = _sls(t)
    cfg = t.path("token-config")
    keyring = "0123456789abcdef"
    first = ("STS.First0001", t.secret("first-Secret-1"), t.secret("CAISfirsttoken1"), time.time() + 3600)
    token_config(cfg, keyring, *first)
    s.add_sts(*first)
    k = t.ke("--source=file:-", "--healthz-ip=127.0.0.1", "--healthz-port=0", "--flush-timeout=20s",
             f"--sink=sls:{s.url}?project=p&logStore=l&regionId={REGION}&flush_interval=200ms", stdin=True,
             env=_env(t, KE_SLS_TOKEN_CONFIG=cfg))
    sent = lambda: k.metric('eventer_sink_sent_total{sink="sls[0]",type="sls"}')  # noqa: E731
    k.feed(event_list(_events(5, "f")))
    wait_until(lambda: sent() == 5, 30, msg="first batch")
    # the service ends the first keys early (revoked, clocks apart); the addon has rotated the file
    second = ("STS.Second002", t.secret("second-Secret-2"), t.secret("CAISsecondtoken2"), time.time() + 3600)
    token_config(cfg, keyring, *second)
    s.add_sts(*second)
    s.add_sts(first[0], first[1], first[2], time.time() - 1)
    k.feed(event_list(_events(5, "g")))
    wait_until(lambda: sent() == 10, 60, msg="the batch refused with 401, sent again with the new keys")
    k.close_stdin()
    eq(k.stop(), 0)
    logs = _by_uid(s.logs())
    eq(len(logs), 10)
    check(all(len(v) == 1 for v in logs.values()))
    eq({x[0]["ak"] for uid, x in logs.items() if uid.startswith("g-")}, {"STS.Second002"})
    eq([p["code"] for p in s.requests_seen() if p["status"] != 200], ["SecurityTokenExpired"])
    check(f"credentials from {cfg}" in k.log_text(), k.log_text()[-1500:])


def test_no_ram_role_is_a_clear_wait_not_a_crash(t):
    md = Metadata(region=REGION, role=None, imds_v2="off")
    t.cleanup(md.stop)
    k = t.ke("--source=file:-", "--healthz-ip=127.0.0.1", "--healthz-port=0", "--flush-timeout=2s",
             f"--sink=sls:http://127.0.0.1:{free_port()}?project=p&logStore=l", stdin=True, env=_env(t, KE_SLS_METADATA_URL=md.url))
    k.feed(event_list(_events(2, "n")))
    k.wait_log(r"sls\[0\]: no RAM role attached to this ECS instance .*retrying in", 30)
    eq(k.stop(), 0)


def test_bad_uris_exit_2(t):
    for uri, what in (("sls:?logStore=l", "project"),
                      ("sls:https://sls.aliyuncs.com?project=p", "logStore"),
                      ("sls:?project=my.project&logStore=l", "project"),
                      ("sls:?project=p&logStore=l&accessKeyId=AK", "accessKeySecret"),
                      ("sls:?project=p&logStore=l&batch_size=10000", "batch_size"),
                      ("sls:?project=p&logStore=l&event_id=both", "event_id"),
                      ("sls:ftp://10.1.2.3?project=p&logStore=l", "http")):
        rc, _, err = t.run_ke("--source=file:-", f"--sink={uri}", stdin=b"", env=_env(t))
        eq(rc, 2, uri)
        check(what in err and "--sink #1" in err, err)
