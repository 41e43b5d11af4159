"""The elasticsearch sink against the Elasticsearch/OpenSearch emulator (tests/emu/elastic.py)."""
import json
import time

from elastic import Elastic
from harness import check, eq, event, event_list, wait_until
from receivers import Response

QUICK = ("test_documents_indices_and_types_per_server_version",)

FLAVORS = ("6.8.23", "7.17.9", "8.13.0", "opensearch-1.3.14", "opensearch-2.11.0")


def _es(t, flavor="7.17.9", **kw):
    es = Elastic(flavor=flavor, **kw)
    t.cleanup(es.stop)
    return es


def _events(n, tag, day="2024-03-05", **kw):
    return [event(name=f"{tag}-{i}", obj=f"{tag}-pod-{i}", uid=f"{tag}-uid-{i}", rv=str(100 + i),
                  ts=f"{day}T07:{i // 60 % 60:02d}:{i % 60:02d}Z", **kw) for i in range(n)]


def _run(t, uri, events, *args, timeout=60):
    rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", "--flush-timeout=20s", f"--sink={uri}", *args,
                          stdin=event_list(events).encode(), timeout=timeout)
    eq(rc, 0, err[-2500:])
    return err


def _expected_doc(e, cluster="default"):
    """What upstream's eventToPoint + json.Marshal make of an Event."""
    tags = {"cluster_name": cluster, "eventID": e["metadata"]["uid"], "hostname": e["source"].get("host", "")}
    if e["involvedObject"]["kind"] == "Pod":
        tags["pod_id"] = e["involvedObject"]["uid"]
        tags["pod_name"] = e["involvedObject"]["name"]
    return {"Count": e["count"], "Metadata": e["metadata"], "InvolvedObject": e["involvedObject"],
            "Source": e["source"], "FirstOccurrenceTimestamp": e["firstTimestamp"],
            "LastOccurrenceTimestamp": e["lastTimestamp"], "Message": e["message"], "Reason": e["reason"],
            "Type": e["type"], "EventTags": tags}


def test_documents_indices_and_types_per_server_version(t):
    evs = _events(3, "v", message='quote " backslash \\ newline \n tab \t <b>&')
    evs[1]["involvedObject"].update(kind="Node", namespace="")
    evs[1]["type"] = "Normal"
    evs[2]["lastTimestamp"] = "2024-03-06T00:00:01Z"  # the effective time picks the day
    for flavor in FLAVORS:
        es = _es(t, flavor)
        _run(t, f"elasticsearch:{es.url}?cluster_name=c1", evs)
        docs = {d["_id"]: d for d in es.docs()}
        eq(sorted(docs), ["v-uid-0-100", "v-uid-1-101", "v-uid-2-102"], flavor)
        d0 = docs["v-uid-0-100"]
        eq(d0["_index"], "heapster-2024.03.05", flavor)
        eq(docs["v-uid-2-102"]["_index"], "heapster-2024.03.06", flavor)
        sent_type = any(b'"_type"' in b["body"] for b in es.bulk_requests())
        eq(sent_type, flavor.startswith("6."), f"{flavor}: _type only below 7")
        if flavor.startswith("6."):
            eq(d0["_type"], "events", "upstream's type name")
        eq(d0["op"], "create", flavor)
        eq(d0["_source"], _expected_doc(evs[0], "c1"), flavor)
        eq(docs["v-uid-1-101"]["_source"]["EventTags"], {"cluster_name": "c1", "eventID": "v-uid-1",
                                                         "hostname": "node-1"}, "no pod tags for a Node")
        # each index made once, and aliased <index>-events as upstream
        eq(es.aliases().get("heapster-events"), {"heapster-2024.03.05", "heapster-2024.03.06"}, flavor)
        eq({n: i["created_by"] for n, i in es.indices().items()},
           {"heapster-2024.03.05": "put", "heapster-2024.03.06": "put"}, flavor)
        puts = [r for r in es.requests if r.method == "PUT"]
        eq(len(puts), 2, flavor)
        for b in es.bulk_requests():
            eq((b["status"], b["errors"], b["anomalies"]), (200, False, []), flavor)
            check("filter_path" in b["params"], "small replies")


def test_use_namespace_pipeline_and_auth(t):
    es = _es(t, "8.13.0", user="elastic", password="s3cr3t-Pw", pipelines=("k8s",))
    secret = t.secret("s3cr3t-Pw")
    _run(t, f"elasticsearch:?nodes={es.url}&index=k8s&use_namespace=true&pipeline=k8s"
            f"&esUserName=elastic&esUserSecret={secret}", _events(2, "ns"))
    docs = es.docs()
    eq(sorted(d["_index"] for d in docs), ["k8s-default-2024.03.05"] * 2)
    eq({d["pipeline"] for d in docs}, {"k8s"})
    # a wrong password is a clear error naming the sink; nothing is stored
    bad = t.secret("wr0ng-Pw")
    err = _run(t, f"elasticsearch:{es.url}?index=other&esUserName=elastic&esUserSecret={bad}", _events(1, "b"))
    check("elasticsearch[0]" in err and "401" in err, err[-2000:])
    eq(len(es.docs()), 2)
    # an API key instead
    es2 = _es(t, "8.13.0", api_key=("kid", "kkey"))
    import base64
    key = t.secret(base64.b64encode(b"kid:kkey").decode())
    _run(t, f"elasticsearch:{es2.url}?apiKey={key}", _events(2, "k"))
    eq(len(es2.docs()), 2)


def test_only_failed_items_are_sent_again(t):
    es = _es(t)
    evs = _events(10, "r")
    h = es.fail_items(lambda index, id_, src: id_ in ("r-uid-3-103", "r-uid-7-107"), status=429, times=1)
    err = _run(t, f"elasticsearch:{es.url}?flush_interval=100ms", evs)
    eq(h.hits, 2)
    bulks = es.bulk_requests()
    eq([b["n_actions"] for b in bulks], [10, 2], "the second request carries only the two refused items")
    eq(sorted(d["_id"] for d in es.docs()), sorted(f"r-uid-{i}-{100 + i}" for i in range(10)))
    check(all(d["_version"] == 1 for d in es.docs()), "each document written once")
    check("2 to retry" in err, err[-1500:])


def test_a_poison_item_is_isolated_and_dropped(t):
    es = _es(t)
    evs = _events(8, "p")
    evs[5]["message"] = "POISON"
    es.reject_bulk_if(lambda index, id_, src: src and src.get("Message") == "POISON", status=400,
                      error_type="illegal_argument_exception", reason="poisoned")
    err = _run(t, f"elasticsearch:{es.url}?flush_interval=100ms", evs)
    eq(sorted(d["_id"] for d in es.docs()), sorted(f"p-uid-{i}-{100 + i}" for i in range(8) if i != 5))
    check("dropped Pod default/p-pod-5" in err and "poisoned" in err, err[-2000:])


def test_a_large_reply_is_read_whole(t):
    """2000 items refused once with 429: the reply is ~250 KB, far past the 64 KiB
    the webhook sinks keep; every item must still be read, and stored once."""
    es = _es(t)
    n = 2000
    es.fail_items(lambda index, id_, src: True, status=429, times=1)
    _run(t, f"elasticsearch:{es.url}?batch_size={n}&batch_bytes=16777216&flush_interval=1s", _events(n, "l"))
    bulks = es.bulk_requests()
    eq([b["n_actions"] for b in bulks], [n, n])
    check(bulks[0]["errors"] and bulks[0]["failed"] == n)
    eq(es.doc_count(), n)


def test_down_for_10s_then_up_delivers_each_once(t):
    es = _es(t)
    k = t.ke("--source=file:-", "--healthz-ip=127.0.0.1", "--healthz-port=0", "--flush-timeout=30s",
             f"--sink=elasticsearch:{es.url}?flush_interval=200ms&batch_size=20", stdin=True)
    sent = lambda: k.metric('eventer_sink_sent_total{sink="elasticsearch[0]",type="elasticsearch"}')  # noqa: E731
    k.feed(event_list(_events(30, "a")))
    wait_until(lambda: sent() == 30, 30, msg="first 30 delivered")
    es.down()
    k.feed(event_list(_events(50, "b")))
    k.wait_log(r"elasticsearch\[0\].*(refused|unreachable)", 30)
    time.sleep(10)
    es.up()
    wait_until(lambda: sent() == 80, 90, msg="the 50 sent while it was down")
    docs = es.docs()
    eq(len(docs), 80)
    eq(len({d["_id"] for d in docs}), 80)
    check(all(d["_version"] == 1 for d in docs), "each document written once")
    k.close_stdin()
    eq(k.stop(), 0)


def test_version_unknown_then_ver_decides(t):
    # a writer without the monitor privilege cannot read GET /: ver= says what the server is
    es = _es(t, "6.8.23")
    es.script(Response(403, {"error": {"type": "security_exception", "reason": "action [cluster:monitor/main]"
                                                                                "is unauthorized"}, "status": 403}))
    err = _run(t, f"elasticsearch:{es.url}?ver=6", _events(2, "u"))
    check("cannot read the server version" in err, err[-1500:])
    eq({d["_type"] for d in es.docs()}, {"events"})
    # and a server that is not up at start is waited for
    es2 = _es(t, "8.13.0")
    es2.down()
    k = t.ke("--source=file:-", "--healthz-ip=127.0.0.1", "--healthz-port=0", "--flush-timeout=20s",
             f"--sink=elasticsearch:{es2.url}", stdin=True)
    k.feed(event_list(_events(3, "w")))
    k.wait_log(r"reading the server version: .*retrying", 30)
    es2.up()
    es2.wait_docs(3, 60)
    k.close_stdin()
    eq(k.stop(), 0)
    eq({d["_type"] for d in es2.docs()}, {None})


def test_data_stream_and_write_alias(t):
    es = _es(t, "8.13.0", data_streams=("logs-k8s-events",))
    _run(t, f"elasticsearch:{es.url}?data_stream=logs-k8s-events", _events(2, "ds"))
    docs = es.docs("logs-k8s-events")
    eq(len(docs), 2)
    eq(docs[0]["_source"]["@timestamp"], "2024-03-05T07:00:00Z")
    check(not [r for r in es.requests if r.method in ("PUT", "HEAD")], "templates/ILM own the indices")
    es2 = _es(t, "7.17.9")
    import urllib.request
    req = urllib.request.Request(f"{es2.url}/k8s-000001", method="PUT", data=json.dumps(
        {"aliases": {"k8s-write": {"is_write_index": True}}}).encode(), headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
    _run(t, f"elasticsearch:{es2.url}?write_alias=k8s-write", _events(2, "wa"))
    eq(sorted(d["_index"] for d in es2.docs()), ["k8s-000001", "k8s-000001"])


def test_bad_uris_exit_2(t):
    for uri, what in (("elasticsearch:?index=x", "no Elasticsearch node"),
                      ("elasticsearch:http://h:9200?ver=9", "ver"),
                      ("elasticsearch:http://h:9200?index=Upper", "index"),
                      ("elasticsearch:?nodes=h:9200", "nodes"),
                      ("elasticsearch:http://h:9200?sigv4=1", "sigv4")):
        rc, _, err = t.run_ke("--source=file:-", f"--sink={uri}", stdin=b"")
        eq(rc, 2, uri)
        check(what in err and "--sink #1" in err, err)
