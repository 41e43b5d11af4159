"""The kafka sink against librdkafka's mock cluster (tests/tools/kafkamock.c, Debian's
librdkafka-dev), read back with kcat (Debian's kcat, CRCs checked). Every event must arrive
exactly once, with upstream's value, the involved object's uid as key (on Java's murmur2
partition) and the effective time as record timestamp -- also across a broker that is down
at start or goes down, a moved leader, injected produce errors and Kafka-4-like versions."""
import collections
import json
import signal
import time

import kafka
from harness import check, eq, event, event_list, wait_until

QUICK = ("test_records_as_upstream_writes_them",)


def _events(n, tag, base=1709622000, objs=None, **kw):
    """n events one second apart; objs: how many involved objects they share (default: one each)."""
    objs = objs or n
    return [event(name=f"{tag}-{i}", obj=f"{tag}-pod-{i % objs}", uid=f"{tag}-uid-{i}", rv=str(i + 1),
                  ts=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + i)), **kw) for i in range(n)]


def _metric(k, name):
    return k.metric(f'eventer_sink_{name}{{sink="kafka[0]",type="kafka"}}')


def _once(recs, evs, msg=""):
    """Each event exactly once, in its object's order within the partition."""
    ids = [json.loads(r["payload"])["EventTags"]["eventID"] for r in recs]
    dup = [i for i, c in collections.Counter(ids).items() if c > 1]
    eq(dup, [], f"{msg}: duplicated")
    eq(sorted(ids), sorted(e["metadata"]["uid"] for e in evs), f"{msg}: the events")
    # per object, the records come in the order the events were offered
    pos = {e["metadata"]["uid"]: i for i, e in enumerate(evs)}
    by_key = collections.defaultdict(list)
    for r, i in zip(recs, ids):
        by_key[r["key"]].append(pos[i])
    for key, seq in by_key.items():
        eq(seq, sorted(seq), f"{msg}: order of {key}")


def test_records_as_upstream_writes_them(t):
    m = kafka.Mock(t, brokers=3, partitions=4)
    evs = _events(40, "up", objs=10, message='Back-off <x> & "y"\nline 2 \u4e2d\U0001F600')
    evs[1]["involvedObject"]["kind"] = "Node"
    evs[1]["involvedObject"]["namespace"] = ""
    evs[2]["source"] = {"component": "kubelet", "host": ""}
    evs[3]["lastTimestamp"] = None
    evs[3]["eventTime"] = "2024-03-05T07:08:09.123456Z"
    rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", "--flush-timeout=30s",
                          f"--sink=kafka:?{m.brokers_param(1)}", stdin=event_list(evs).encode(), timeout=90)
    eq(rc, 0, err[-3000:])
    recs = m.records()
    eq(len(recs), 40, err[-2000:])
    _once(recs, evs, "all")
    by_id = {json.loads(r["payload"])["EventTags"]["eventID"]: r for r in recs}
    for i, e in enumerate(evs):
        r = by_id[e["metadata"]["uid"]]
        key = e["involvedObject"]["uid"]
        eq(r["key"], key, "key = the involved object's uid")
        eq(r["partition"], kafka.partition_for(key, 4), "Java's murmur2 partition")
        eq(r["tstype"], "create")
        want_ts = 1709622000 + i
        eq(r["ts"], want_ts * 1000 if i != 3 else 1709622489123, "timestamp = effective time")
        v = json.loads(r["payload"])
        eq(list(v), ["EventValue", "EventTimestamp", "EventTags"], "upstream's field order")
        raw = dict(e)
        del raw["kind"], raw["apiVersion"]
        eq(json.loads(v["EventValue"]), raw, "EventValue = the Event")
        check(v["EventValue"].startswith('{\n "metadata": {\n  "name": '), "MarshalIndent, one space")
        eq(v["EventTimestamp"], time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(want_ts))
           if i != 3 else "2024-03-05T07:08:09.123456Z")
        tags = {"eventID": e["metadata"]["uid"], "hostname": e["source"]["host"]}
        if e["involvedObject"]["kind"] == "Pod":
            tags.update(pod_id=key, pod_name=e["involvedObject"]["name"])
        eq(v["EventTags"], tags)
        eq(list(v["EventTags"]), sorted(tags), "Go sorts map keys")
    # the raw bytes: Go escapes <, > and & in strings; we may too, but the JSON must read the same
    check("\\n" in recs[0]["payload"] and "\n" not in recs[0]["payload"], "one line per value")


def test_null_key_and_compression(t):
    for codec in ("gzip", "lz4", "snappy"):
        m = kafka.Mock(t, brokers=1, partitions=3)
        evs = _events(30, codec)
        rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", "--flush-timeout=30s",
                              f"--sink=kafka:?{m.brokers_param()}&compression={codec}&message_key=none",
                              stdin=event_list(evs).encode(), timeout=90)
        eq(rc, 0, err[-3000:])
        recs = m.records()
        eq(len(recs), 30, f"{codec}: {err[-2000:]}")
        _once(recs, evs, codec)
        eq({r["key"] for r in recs}, {None}, "message_key=none: upstream's null key")
        eq(json.loads(json.loads(recs[0]["payload"])["EventValue"])["reason"], "BackOff")
        if codec == "snappy":
            check("using lz4" in err, "snappy is sent as lz4, and says so")


def test_kafka4_like_versions(t):
    # Kafka 4.0 dropped Produce v0-v2 and Metadata v0-v3 (KIP-896); what is left must do
    m = kafka.Mock(t, brokers=1, partitions=2,
                   setup=[f"apiversion {kafka.PRODUCE} 3 7", f"apiversion {kafka.METADATA} 4 8"])
    evs = _events(10, "k4")
    rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", "--flush-timeout=30s", "-v=2",
                          f"--sink=kafka:?{m.brokers_param()}", stdin=event_list(evs).encode(), timeout=90)
    eq(rc, 0, err[-3000:])
    check("Produce v7, Metadata v8" in err, err[-2000:])
    _once(m.records(), evs, "kafka 4")
    # a broker older than 0.11 (no RecordBatch v2) is refused with a clear reason
    old = kafka.Mock(t, brokers=1, partitions=1, setup=[f"apiversion {kafka.PRODUCE} 0 2"])
    k = t.ke("--source=file:-", "--healthz-port=0", f"--sink=kafka:?{old.brokers_param()}", stdin=True)
    k.feed(event_list(_events(2, "old")))
    k.wait_log(r"we need Produce v3-v8 \(Kafka 0\.11 or later\)", 30)
    eq(old.records(), [])
    eq(k.stop(30), 0)


def test_down_at_start_then_up_delivers_each_once(t):
    m = kafka.Mock(t, brokers=1, partitions=4, setup=["down 1"])
    k = t.ke("--source=file:-", "--healthz-port=0", "--flush-timeout=30s",
             f"--sink=kafka:?{m.brokers_param()}&flush_interval=200ms&batch_size=25", stdin=True)
    evs = _events(60, "ds", objs=7)
    k.feed(event_list(evs))
    k.wait_log(r"broker 127\.0\.0\.1:\d+: .*retrying with backoff", 30)
    wait_until(lambda: _metric(k, "queue_length") + _metric(k, "in_flight") >= 60, 30,
               msg="every event queued while the broker is down")
    eq(_metric(k, "sent_total"), 0)
    time.sleep(1)
    m.cmd("up 1")
    wait_until(lambda: _metric(k, "sent_total") == 60, 90, msg="all delivered once the broker is up")
    _once(m.records(), evs, "down at start")
    eq(_metric(k, "failed_total"), 0)
    eq(k.stop(30), 0)


def test_down_mid_stream_then_up(t):
    m = kafka.Mock(t, brokers=1, partitions=4)
    k = t.ke("--source=file:-", "--healthz-port=0", "--flush-timeout=30s",
             f"--sink=kafka:?{m.brokers_param()}&flush_interval=200ms&batch_size=20", stdin=True)
    a, b = _events(30, "ma", objs=5), _events(50, "mb", base=1709623000, objs=5)
    k.feed(event_list(a))
    wait_until(lambda: _metric(k, "sent_total") == 30, 60, msg="the first events")
    m.cmd("down 1")
    k.feed(event_list(b))
    time.sleep(2)
    m.cmd("up 1")
    wait_until(lambda: _metric(k, "sent_total") == 80, 90, msg="the rest once the broker is back")
    _once(m.records(), a + b, "down mid-stream")
    eq(k.stop(30), 0)


def test_leader_moves(t):
    m = kafka.Mock(t, brokers=3, partitions=3)
    k = t.ke("--source=file:-", "--healthz-port=0", "--flush-timeout=30s", "-v=2",
             f"--sink=kafka:?{m.brokers_param()}&flush_interval=200ms", stdin=True)
    a = _events(30, "la", objs=9)
    k.feed(event_list(a))
    wait_until(lambda: _metric(k, "sent_total") == 30, 60, msg="before the move")
    for p in range(3):
        m.cmd(f"leader {p} {(p + 1) % 3 + 1}")
    b = _events(30, "lb", base=1709623000, objs=9)
    k.feed(event_list(b))
    wait_until(lambda: _metric(k, "sent_total") == 60, 90, msg="after the move")
    k.wait_log(r"NOT_LEADER_OR_FOLLOWER|leader\(s\) moved", 10)
    _once(m.records(), a + b, "leader moved")
    eq(_metric(k, "failed_total"), 0)
    eq(k.stop(30), 0)


def test_injected_produce_errors_are_retried_or_dropped(t):
    m = kafka.Mock(t, brokers=1, partitions=2)
    # retriable: resent (the same batch) until written; a closed connection likewise
    m.cmd(f"errors {kafka.PRODUCE} 6 19 7 {kafka.TRANSPORT} 5 20 13")
    evs = _events(20, "ie", objs=4)
    rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", "--flush-timeout=60s",
                          f"--sink=kafka:?{m.brokers_param()}", stdin=event_list(evs).encode(), timeout=120)
    eq(rc, 0, err[-3000:])
    check("partition(s) to resend" in err, err[-2000:])
    _once(m.records(), evs, "retried")
    # refused for good: TOPIC_AUTHORIZATION_FAILED drops, counted and logged; later events go on
    m2 = kafka.Mock(t, brokers=1, partitions=1)
    m2.cmd(f"errors {kafka.PRODUCE} 29")
    k = t.ke("--source=file:-", "--healthz-port=0", f"--sink=kafka:?{m2.brokers_param()}&flush_interval=100ms",
             stdin=True)
    k.feed(event_list(_events(3, "bad")))
    wait_until(lambda: _metric(k, "failed_total") == 3, 60, msg="the refused batch dropped")
    k.wait_log(r"TOPIC_AUTHORIZATION_FAILED", 10)
    good = _events(4, "good", base=1709625000)
    k.feed(event_list(good))
    wait_until(lambda: _metric(k, "sent_total") == 4, 60, msg="the next batch")
    _once(m2.records(), good, "after a refusal")
    eq(k.stop(30), 0)


def test_producer_id_lost_rebuilds_without_loss(t):
    # UNKNOWN_PRODUCER_ID / OUT_OF_ORDER_SEQUENCE_NUMBER: a new producer id, the batch rebuilt
    m = kafka.Mock(t, brokers=1, partitions=1)
    m.cmd(f"errors {kafka.PRODUCE} 59 45")
    evs = _events(10, "pid")
    rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", "--flush-timeout=60s",
                          f"--sink=kafka:?{m.brokers_param()}", stdin=event_list(evs).encode(), timeout=120)
    eq(rc, 0, err[-3000:])
    eq(err.count("idempotent producer id"), 3, "a new producer id after each loss\n" + err[-2000:])
    _once(m.records(), evs, "rebuilt")


def test_sigterm_flushes_a_partial_batch(t):
    m = kafka.Mock(t, brokers=1, partitions=2)
    k = t.ke("--source=file:-", "--healthz-port=0", "--flush-timeout=20s",
             f"--sink=kafka:?{m.brokers_param()}&flush_interval=30s", stdin=True)
    evs = _events(3, "term")
    k.feed(event_list(evs))
    wait_until(lambda: _metric(k, "queue_length") == 3, 30, msg="queued, waiting for flush_interval")
    k.signal(signal.SIGTERM)
    eq(k.wait(30), 0)
    _once(m.records(), evs, "flushed on SIGTERM")


def test_secrets_never_logged(t):
    pw = t.secret("kafka-pw-s3cr#t")
    m = kafka.Mock(t, brokers=1, partitions=1)
    # the mock has no SASL: the handshake fails, and the log says so without the password
    k = t.ke("--source=file:-", "--healthz-port=0", "-v=4",
             f"--sink=kafka:?{m.brokers_param()}&user=alice&password={pw.replace('#', '%23')}"
             "&sasl_mechanism=SCRAM-SHA-512", stdin=True)
    k.feed(event_list(_events(1, "sec")))
    k.wait_log(r"broker 127\.0\.0\.1:\d+: .*(SASL|closed|protocol)", 30)
    check(pw not in k.log_text())
    eq(k.stop(30), 0)


def test_bad_uris_exit_2(t):
    cases = [
        ("kafka:?eventstopic=x", "brokers: required"),
        ("kafka:?brokers=localhost", "brokers: \"localhost\" is not host:port"),
        ("kafka:?brokers=a:9092,b:x", "brokers: \"b:x\""),
        ("kafka:?brokers=::1:9092", "brokers:"),
        ("kafka:?brokers=a:9092&compression=brotli", "compression: \"brotli\""),
        ("kafka:?brokers=a:9092&compression=zstd", "compression: \"zstd\""),
        ("kafka:?brokers=a:9092&user=alice", "password: SASL needs both"),
        ("kafka:?brokers=a:9092&password=x", "user: SASL needs both"),
        ("kafka:?brokers=a:9092&sasl_mechanism=SCRAM-SHA-256", "sasl_mechanism: SCRAM-SHA-256 needs user"),
        ("kafka:?brokers=a:9092&user=u&password=p&sasl_mechanism=GSSAPI", "sasl_mechanism: \"GSSAPI\""),
        ("kafka:?brokers=a:9092&acks=0", "acks: \"0\""),
        ("kafka:?brokers=a:9092&acks=1&idempotence=true", "idempotence: needs acks=all"),
        ("kafka:?brokers=a:9092&eventstopic=bad/name", "eventstopic:"),
        ("kafka:?brokers=a:9092&cert=/etc/hostname", "key: a client certificate needs both"),
        ("kafka:?brokers=a:9092&tls=true&cacert=/nonexistent/ca.pem", "cacert: cannot read"),
        ("kafka:?brokers=a:9092&message_key=name", "message_key:"),
        ("kafka:kafka-0:9092", "give the brokers as parameters"),
    ]
    for uri, want in cases:
        rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", f"--sink={uri}", stdin=b"", timeout=20)
        eq(rc, 2, f"{uri}: {err[-500:]}")
        check(want in err, f"{uri}: wanted {want!r} in:\n{err[-800:]}")
    # upstream's own spellings start (and --check says so, without a network)
    rc, out, err = t.run_ke("--source=file:-", "--check",
                            "--sink=kafka:?brokers=k-0:9092&brokers=k-1:9092&eventstopic=ev&compression=gzip"
                            "&user=u&password=p&insecuressl=true&cacert=/etc/hostname", timeout=20)
    eq(rc, 0, err[-800:])


def test_lost_answers_are_resent_without_duplicates(t):
    # The broker wrote the batch but the answer never came (the connection died): the producer
    # cannot know, resends the very same batch, and the broker's idempotence recognises it.
    # librdkafka 2.0's mock checks sequences only for transactional producers, so this runs
    # against kafkahole.py, which keeps Kafka's rule for idempotent ones too.
    evs = _events(200, "lost", objs=13)
    hole = kafka.Hole(t, lose_answer="2,3,5")
    rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", "--flush-timeout=60s",
                          f"--sink=kafka:?brokers=127.0.0.1:{hole.port}&batch_size=20",
                          stdin=event_list(evs).encode(), timeout=120)
    eq(rc, 0, err[-3000:])
    check("connection lost with requests in flight" in err or "resend" in err, err[-2000:])
    wait_until(lambda: hole.total >= 200, 30, msg="every event written")
    time.sleep(0.5)
    eq(hole.total, 200, "each event written once")
    check(hole.dups >= 3, f"the resent batches were recognised ({hole.dups})")
    # the control: without idempotence the same faults write the lost batches twice
    hole2 = kafka.Hole(t, lose_answer="2,3,5")
    rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", "--flush-timeout=60s",
                          f"--sink=kafka:?brokers=127.0.0.1:{hole2.port}&batch_size=20&idempotence=false",
                          stdin=event_list(evs).encode(), timeout=120)
    eq(rc, 0, err[-3000:])
    wait_until(lambda: hole2.total > 200, 30, msg="duplicates without idempotence")
    eq(hole2.dups, 0)


def test_sasl_ssl_plain_and_scram(t):
    # librdkafka 2.0's mock has no SASL and no TLS: kafkahole.py serves both (its SCRAM server
    # side is Python's hashlib/hmac, independent of ours), behind a TLS listener with our test CA
    from harness import pki
    p = pki()
    pw = t.secret("pa$$:w0rd,=x")
    enc = pw.replace("$", "%24").replace(":", "%3A").replace(",", "%2C").replace("=", "%3D")
    for mech in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        hole = kafka.Hole(t, extra=("--tls", p["server"], p["server_key"], "--sasl", mech,
                                    "--user", "eve=1,a", "--password", pw))
        evs = _events(30, mech.lower().replace("-", ""))
        rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", "--flush-timeout=30s", "-v=2",
                              f"--sink=kafka:?brokers=127.0.0.1:{hole.port}&cacert={p['ca']}&user=eve%3D1%2Ca"
                              f"&password={enc}&sasl_mechanism={mech}", stdin=event_list(evs).encode(), timeout=90)
        eq(rc, 0, err[-3000:])
        wait_until(lambda: hole.total >= 30, 30, msg=f"{mech}: every event")
        eq(hole.total, 30, mech)
        check(f"SASL {mech} as eve=1,a" in err, err[-2000:])
    # a wrong password: the broker's reason in the log, nothing written, the secret nowhere
    hole = kafka.Hole(t, extra=("--tls", p["server"], p["server_key"], "--sasl", "SCRAM-SHA-256",
                                "--user", "eve", "--password", pw))
    k = t.ke("--source=file:-", "--healthz-port=0",
             f"--sink=kafka:?brokers=127.0.0.1:{hole.port}&tls=true&cacert={p['ca']}&user=eve"
             f"&password={t.secret('not-the-password')}&sasl_mechanism=SCRAM-SHA-256", stdin=True)
    k.feed(event_list(_events(2, "wrong")))
    k.wait_log(r"SASL SCRAM-SHA-256 authentication failed: SASL_AUTHENTICATION_FAILED: "
               r"Authentication failed: Invalid user credentials", 30)
    eq(hole.total, 0)
    eq(k.stop(30), 0)
    # the mechanism the broker does not offer
    hole = kafka.Hole(t, extra=("--sasl", "PLAIN", "--user", "eve", "--password", "x"))
    k = t.ke("--source=file:-", "--healthz-port=0",
             f"--sink=kafka:?brokers=127.0.0.1:{hole.port}&user=eve&password=x&sasl_mechanism=SCRAM-SHA-512",
             stdin=True)
    k.wait_log(r"SASL SCRAM-SHA-512: UNSUPPORTED_SASL_MECHANISM \(the broker offers: PLAIN\)", 30)
    eq(k.stop(30), 0)


def test_tls_verification_and_client_certificates(t):
    from harness import pki
    p = pki()
    # mutual TLS, upstream's cacert/cert/key
    hole = kafka.Hole(t, extra=("--tls", p["server"], p["server_key"], "--client-ca", p["ca"]))
    evs = _events(10, "mtls")
    rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", "--flush-timeout=30s",
                          f"--sink=kafka:?brokers=127.0.0.1:{hole.port}&cacert={p['ca']}&cert={p['client']}"
                          f"&key={p['client_key']}", stdin=event_list(evs).encode(), timeout=90)
    eq(rc, 0, err[-3000:])
    wait_until(lambda: hole.total >= 10, 30, msg="mutual TLS")
    # an unknown CA: refused with the reason, nothing written; insecuressl=true gets through
    hole = kafka.Hole(t, extra=("--tls", p["server"], p["server_key"]))
    k = t.ke("--source=file:-", "--healthz-port=0",
             f"--sink=kafka:?brokers=127.0.0.1:{hole.port}&cacert={p['other_ca']}", stdin=True)
    k.feed(event_list(_events(2, "badca")))
    k.wait_log(r"broker 127\.0\.0\.1:\d+: .*(verif|certificate)", 30)
    eq(hole.total, 0)
    eq(k.stop(30), 0)
    rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", "--flush-timeout=30s",
                          f"--sink=kafka:?brokers=127.0.0.1:{hole.port}&tls=true&insecuressl=true",
                          stdin=event_list(_events(3, "insec")).encode(), timeout=90)
    eq(rc, 0, err[-3000:])
    wait_until(lambda: hole.total >= 3, 30, msg="insecuressl")
