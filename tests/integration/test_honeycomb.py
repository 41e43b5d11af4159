"""The honeycomb sink against the Honeycomb Events API emulator (tests/emu/honeycomb.py)."""
import datetime
import time

from harness import check, eq, event, event_list, wait_until
from honeycomb import BATCH_MAX, Honeycomb
from receivers import Response

QUICK = ("test_events_land_with_upstreams_data_keys_and_the_event_time",)

UTC = datetime.timezone.utc
SENT = 'eventer_sink_sent_total{sink="honeycomb[0]",type="honeycomb"}'


def _hc(t, key, **kw):
    hc = Honeycomb(keys=(key,), **kw)
    t.cleanup(hc.stop)
    return hc


def _events(n, tag, **kw):
    """n events, each with a unique involved object name (the field Honeycomb stores)."""
    return [event(name=f"{tag}-{i}", obj=f"{tag}-pod-{i}", uid=f"{tag}-uid-{i}", rv=str(100 + i),
                  ts=f"2024-03-05T07:{i // 60 % 60:02d}:{i % 60:02d}Z", **kw) for i in range(n)]


def _run(t, uri, events, *args, env=None, timeout=60):
    rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", "--flush-timeout=20s", f"--sink={uri}", *args,
                          stdin=event_list(events).encode(), env=env, timeout=timeout)
    eq(rc, 0, err[-2500:])
    return err


def _names(hc):
    return sorted(e["data"]["name"] for e in hc.events())


def test_events_land_with_upstreams_data_keys_and_the_event_time(t):
    key = t.secret("hcKey-0a1b2c3d4e")
    hc = _hc(t, key)
    evs = _events(3, "d", message='quote " backslash \\ newline \n tab \t <b>&')
    evs[0]["involvedObject"]["fieldPath"] = "spec.containers{web}"
    evs[0]["count"] = 5
    evs[1]["involvedObject"].update(kind="Node", namespace="")
    evs[1]["type"] = "Normal"
    # an events.k8s.io-written event: no lastTimestamp, the time is eventTime (microseconds)
    evs[2].update(lastTimestamp=None, firstTimestamp=None, eventTime="2024-03-06T01:02:03.456789Z",
                  count=0, source={}, reportingComponent="kubelet")
    _run(t, f"honeycomb:?dataset=k8s-events&writekey={key}&apihost={hc.url}/", evs)
    got = {e["data"]["name"]: e for e in hc.events("k8s-events")}
    eq(sorted(got), ["d-pod-0", "d-pod-1", "d-pod-2"])
    e0 = got["d-pod-0"]
    eq(e0["data"], {"namespace": "default", "kind": "Pod", "name": "d-pod-0", "subobject": "spec.containers{web}",
                    "source.component": "kubelet", "source.host": "node-1", "count": 5, "type": "Warning",
                    "reason": "BackOff", "message": evs[0]["message"]})
    eq(list(e0["data"]), ["namespace", "kind", "name", "subobject", "source.component", "source.host", "count",
                          "type", "reason", "message"], "upstream's field order")
    eq(e0["keys"], ["data", "time"], "Honeycomb's documented keys, not upstream's Data/Timestamp")
    check(e0["time_given"], "Honeycomb read the event's time")
    eq(e0["time"], datetime.datetime(2024, 3, 5, 7, 0, 0, tzinfo=UTC))
    eq((got["d-pod-1"]["data"]["namespace"], got["d-pod-1"]["data"]["kind"], got["d-pod-1"]["data"]["type"]),
       ("", "Node", "Normal"))
    e2 = got["d-pod-2"]
    eq(e2["time_raw"], "2024-03-06T01:02:03.456789Z")
    eq((e2["data"]["count"], e2["data"]["source.component"], e2["data"]["source.host"]), (1, "", ""))
    b = hc.batches()
    eq(len(b), 1, "one request for the three")
    eq((b[0]["status"], b[0]["statuses"]), (200, [{"status": 202}] * 3))
    eq(b[0]["headers"]["content-type"], "application/json")
    eq(b[0]["headers"]["x-honeycomb-team"], key)
    eq(hc.requests[0].path, "/1/batch/k8s-events", "the apihost's trailing slash is not doubled")


def test_writekey_from_the_environment_and_upstreams_defaults(t):
    key = t.secret("hcEnvKey-9f8e7d6c")
    hc = _hc(t, key)
    err = _run(t, f"honeycomb:?apihost={hc.url}", _events(2, "env"), env={"HONEYCOMB_WRITEKEY": key})
    eq(_names(hc), ["env-pod-0", "env-pod-1"])
    eq(hc.requests[0].path, "/1/batch/heapster", "upstream's default dataset")
    check("honeycomb[0]" in err, err[-1500:])


def test_a_batch_over_the_size_limit_is_split(t):
    """15 events of ~400 KB are 6 MB: more than one batch request may carry (5 MB)."""
    hc = _hc(t, "k")
    evs = _events(15, "big")
    for i, e in enumerate(evs):
        e["message"] = f"{i}:" + "m" * 400_000
    _run(t, f"honeycomb:?writekey=k&apihost={hc.url}&batch_bytes={BATCH_MAX - 1}&queue_bytes=33554432", evs)
    eq(_names(hc), sorted(f"big-pod-{i}" for i in range(15)))
    b = hc.batches()
    check(len(b) >= 2, f"{len(b)} request(s)")
    check(all(x["bytes"] <= BATCH_MAX and x["status"] == 200 for x in b), [(x["bytes"], x["status"]) for x in b])
    eq(sum(x["n"] for x in b), 15, "each event sent once")
    # every message whole (two batches may be in flight: their order of arrival varies)
    eq(sorted(len(e["data"]["message"]) for e in hc.events()), sorted(len(f"{i}:") + 400_000 for i in range(15)))


def test_a_request_refused_as_too_large_is_halved(t):
    """A proxy with a smaller body limit (here 200 KB) answers 413: the batch is halved until it passes."""
    hc = _hc(t, "k", max_body=200_000)
    evs = _events(10, "half")
    for e in evs:
        e["message"] = "h" * 30_000
    err = _run(t, f"honeycomb:?writekey=k&apihost={hc.url}&flush_interval=100ms", evs)
    eq(_names(hc), sorted(f"half-pod-{i}" for i in range(10)))
    statuses = [x["status"] for x in hc.batches()]
    eq(statuses[0], 413)
    check(all(s == 200 for s in statuses[1:]), statuses)
    eq(len(hc.events()), 10, "none twice")
    check("413" in err and "smaller batches" in err, err[-1500:])


def test_only_failed_events_are_sent_again(t):
    hc = _hc(t, "k")
    h = hc.fail_events(lambda ds, data: data["name"] in ("r-pod-3", "r-pod-7"), status=503, times=1)
    bad = hc.fail_events(lambda ds, data: data["name"] == "r-pod-5", status=400, error="Event has too many columns.",
                         times=None)
    err = _run(t, f"honeycomb:?writekey=k&apihost={hc.url}&flush_interval=100ms", _events(10, "r"))
    eq((h.hits, bad.hits), (2, 1))
    eq([x["n"] for x in hc.batches()], [10, 2], "the second request carries only the two refused with 503")
    eq(_names(hc), sorted(f"r-pod-{i}" for i in range(10) if i != 5))
    eq(len(hc.events()), 9, "each stored once")
    check("2 to retry" in err and "1 dropped" in err, err[-1500:])
    check("dropped Pod default/r-pod-5" in err and "Event has too many columns." in err, err[-1500:])


def test_whole_request_429_and_503_are_retried(t):
    hc = _hc(t, "k")
    hc.script(Response(429, {"error": "rate limited"}, headers={"Retry-After": "1"}), Response(503, "busy"))
    err = _run(t, f"honeycomb:?writekey=k&apihost={hc.url}", _events(4, "w"))
    eq([r.status for r in hc.requests], [429, 503, 200])
    eq(_names(hc), sorted(f"w-pod-{i}" for i in range(4)))
    check("HTTP 429" in err and "HTTP 503" in err, err[-1500:])


def test_down_for_10s_then_up_delivers_each_once(t):
    hc = _hc(t, "k")
    k = t.ke("--source=file:-", "--healthz-ip=127.0.0.1", "--healthz-port=0", "--flush-timeout=30s",
             f"--sink=honeycomb:?writekey=k&apihost={hc.url}&flush_interval=200ms&batch_size=20", stdin=True)
    k.feed(event_list(_events(30, "a")))
    wait_until(lambda: k.metric(SENT) == 30, 30, msg="first 30 delivered")
    hc.down()
    k.feed(event_list(_events(50, "b")))
    k.wait_log(r"honeycomb\[0\].*(refused|unreachable)", 30)
    time.sleep(10)
    hc.up()
    wait_until(lambda: k.metric(SENT) == 80, 90, msg="the 50 sent while it was down")
    names = [e["data"]["name"] for e in hc.events()]
    eq(len(names), 80)
    eq(sorted(set(names)), sorted([f"a-pod-{i}" for i in range(30)] + [f"b-pod-{i}" for i in range(50)]),
       "none lost, none twice")
    k.close_stdin()
    eq(k.stop(), 0)


def test_a_bad_key_is_a_clear_error_and_never_logged(t):
    hc = _hc(t, "the-right-key")
    bad = t.secret("wr0ngHoneyKey-77aa")
    err = _run(t, f"honeycomb:?writekey={bad}&apihost={hc.url}", _events(3, "bad"), "-v=4")
    check("honeycomb[0]" in err and "HTTP 401" in err and "write key" in err and "unknown API key" in err,
          err[-1500:])
    check("3 dropped" in err, err[-1500:])
    eq(hc.event_count(), 0)
    eq(len(hc.requests), 1, "not retried")
    check(bad not in err)


def test_samplerate_keeps_one_event_in_n_and_says_so(t):
    hc = _hc(t, "k")
    _run(t, f"honeycomb:?writekey=k&apihost={hc.url}&samplerate=3", _events(60, "s"))
    evs = hc.events()
    check(5 <= len(evs) <= 40, f"{len(evs)} of 60 kept")
    eq({e["samplerate"] for e in evs}, {3})
    eq(len({e["data"]["name"] for e in evs}), len(evs))


def test_bad_uris_exit_2_naming_the_sink_and_parameter(t):
    for uri, what in (("honeycomb:?writekey=k&apihost=ftp://x", "apihost"),
                      ("honeycomb:?dataset=x", "writekey"),
                      ("honeycomb:?writekey=k&dataset=a/b", "dataset"),
                      ("honeycomb:?writekey=k&samplerate=0", "samplerate"),
                      ("honeycomb:?writekey=k&batch_bytes=6000000", "batch_bytes")):
        rc, _, err = t.run_ke("--source=file:-", f"--sink={uri}", stdin=b"", env={"HONEYCOMB_WRITEKEY": ""})
        eq(rc, 2, uri)
        check(f"--sink #1: honeycomb: {what}" in err, err)
