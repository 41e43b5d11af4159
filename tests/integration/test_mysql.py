"""The mysql sink against a real MariaDB (Debian's mariadb-server 10.11, started per test on a
free loopback port with a temporary datadir: tests/integration/mariadb.py).

Rows are read back with HEX() through the mariadb client, so every byte is checked."""
import os
import re
import time

import mariadb
from harness import ROOT, check, eq, event, event_list, wait_until

QUICK = ("test_rows_exactly_once_as_upstream_writes_them",)

# every character a DSN or a URL could trip on ('$' only through the environment: in the URI
# itself it starts a variable, as in upstream's os.ExpandEnv)
NASTY_PW = "p%zz#x@y:z&w?/v+(1)"
ENV_PW = NASTY_PW + "$1 %41"


def _events(n, tag, base=1709622000, **kw):
    return [event(name=f"{tag}-{i}", obj=f"{tag}-pod-{i}", uid=f"{tag}-uid-{i}", rv=str(i + 1),
                  ts=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + i)), **kw) for i in range(n)]


def _dsn(db, user, pw, params="", database="k8s"):
    return f"mysql:?{user}:{pw}@tcp(127.0.0.1:{db.port})/{database}" + (f"?{params}" if params else "")


def _load(db, schema, table="kube_event", database="k8s"):
    with open(os.path.join(ROOT, "configs", "mysql", f"{schema}.sql")) as f:
        ddl = f.read().replace("`kube_event`", f"`{table}`")
    db.sql(ddl, db=database)


def _server(t, tls=False, pw=NASTY_PW, user="ke"):
    db = mariadb.for_case(t, tls=tls)
    db.sql("CREATE DATABASE k8s")
    db.create_user(user, pw, grants=["ALL ON k8s.*"])
    return db


def _sent(k, i=0):
    return k.metric(f'eventer_sink_sent_total{{sink="mysql[{i}]",type="mysql"}}')


def _run(t, sink, events, env=None, timeout=90):
    rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", "--flush-timeout=30s", f"--sink={sink}",
                          stdin=event_list(events).encode(), env=env, timeout=timeout)
    return rc, err


UP_COLS = ["namespace", "kind", "name", "type", "reason", "message", "event_id", "first_occurrence_time",
           "last_occurrence_time"]
V2_COLS = ["cluster_name", "namespace", "kind", "name", "type", "reason", "message", "event_id", "count",
           "first_occurrence_time", "last_occurrence_time"]


def test_rows_exactly_once_as_upstream_writes_them(t):
    """Upstream's table and columns, times as Go's Time.String() in the process zone; the
    password holds % # @ : & ? / + ( ) $ and never reaches a log; text arrives byte for byte."""
    db = _server(t, pw=ENV_PW)
    t.secret(ENV_PW)
    _load(db, "upstream")
    msgs = ["it's \"quoted\" \\ back\\slash \\' '' \\\\", "中文 emoji 😀 𝄞 and U+2028 \u2028 done",
            "tab\there\nnewline\r\nCRLF", "'); DROP TABLE kube_event; --", "", "x" * 255]
    evs = _events(40, "up")
    for i, m in enumerate(msgs):
        evs[i]["message"] = m
    evs[10]["involvedObject"].update(kind="Node", namespace="", name="node-1")
    evs[11]["type"] = "Normal"
    evs[12]["lastTimestamp"] = None         # effective time: eventTime, then firstTimestamp
    evs[13]["firstTimestamp"] = None
    # the password comes from the environment (how a Secret reaches it): '$' and all
    rc, err = _run(t, _dsn(db, "ke", "${MYSQL_PW}"), evs, env={"TZ": "Asia/Shanghai", "MYSQL_PW": ENV_PW})
    eq(rc, 0, err[-3000:])
    check(re.search(r"sink mysql\[0\]: connected to 127\.0\.0\.1:\d+ \(10\.11\.[^,]*MariaDB[^,]*, no TLS, "
                    r"mysql_native_password\)", err), err[-2000:])
    rows = db.rows("k8s.kube_event", UP_COLS)
    eq(len(rows), 40, "each event once")
    by = {r["event_id"]: r for r in rows}
    eq(len(by), 40)
    for i, e in enumerate(evs):
        r = by[e["metadata"]["uid"]]
        eq(r["message"], e["message"], f"message {i}")
        eq(r["name"], e["involvedObject"]["name"])
        eq(r["namespace"], e["involvedObject"]["namespace"])
        eq(r["kind"], e["involvedObject"]["kind"])
        eq(r["reason"], "BackOff")
        eq(r["type"], e["type"])
    r0 = by["up-uid-0"]
    eq(r0["first_occurrence_time"], "2024-03-05 15:00:00 +0800 CST")
    eq(r0["last_occurrence_time"], "2024-03-05 15:00:00 +0800 CST")
    eq(by["up-uid-12"]["last_occurrence_time"], "2024-03-05 15:00:12 +0800 CST", "effective time")
    eq(by["up-uid-13"]["first_occurrence_time"], "0001-01-01 00:00:00 +0000 UTC", "Go's zero time")
    eq(db.value("SELECT COUNT(*) FROM k8s.kube_event WHERE update_time IS NOT NULL"), "40")
    check("p%zz" not in err and ENV_PW not in err)
    # the connection ended with COM_QUIT: the server counts no aborted client
    eq(db.sql("SHOW GLOBAL STATUS LIKE 'Aborted_clients'"), [["Aborted_clients", "0"]])
    check("?ke:***@tcp(127.0.0.1:" in err, "the DSN is logged redacted")


def test_schema_v2_created_and_never_duplicated(t):
    """schema=v2&create_table=true: the table of configs/mysql/v2.sql, UTC DATETIME(6), count,
    cluster_name, 64 KiB messages; the same events sent again store nothing twice."""
    db = _server(t)
    evs = _events(30, "v2", count=3)
    evs[0]["message"] = "m" * 20000 + "😀"
    evs[1]["message"] = "ü" * 40000                      # 80 000 bytes: cut to 65 535 at a character
    evs[2]["lastTimestamp"] = "2024-03-05T07:08:09.764227Z"
    evs[3]["series"] = {"count": 9, "lastObservedTime": "2024-03-06T01:02:03.000004Z"}
    evs[3]["lastTimestamp"] = None
    sink = _dsn(db, "ke", NASTY_PW, "schema=v2&create_table=true&cluster_name=prod&table=events")
    rc, err = _run(t, sink, evs, env={"TZ": "Asia/Shanghai"})
    eq(rc, 0, err[-3000:])
    rows = db.rows("k8s.events", V2_COLS)
    eq(len(rows), 30)
    by = {r["event_id"]: r for r in rows}
    eq(by["v2-uid-0"]["message"], evs[0]["message"])
    eq(by["v2-uid-1"]["message"], "ü" * 32767, "65 535 bytes at most, whole characters")
    eq(by["v2-uid-0"]["cluster_name"], "prod")
    eq(by["v2-uid-0"]["count"], "3")
    eq(by["v2-uid-0"]["first_occurrence_time"], "2024-03-05 07:00:00.000000", "UTC, whatever TZ says")
    eq(by["v2-uid-2"]["last_occurrence_time"], "2024-03-05 07:08:09.764227")
    eq(by["v2-uid-3"]["count"], "9")
    eq(by["v2-uid-3"]["last_occurrence_time"], "2024-03-06 01:02:03.000004")
    # the same events again (a retry whose first answer was lost looks like this): nothing new
    rc, err = _run(t, sink, evs)
    eq(rc, 0, err[-3000:])
    eq(db.value("SELECT COUNT(*) FROM k8s.events"), "30", "no duplicates")
    check("dropped" not in err and "Duplicate" not in err, "taken as already there, not refused: " + err[-2000:])
    # a count bump is a new row, as upstream writes one per change
    evs[5]["count"] = 4
    rc, err = _run(t, sink, [evs[5]])
    eq(rc, 0, err[-3000:])
    eq(db.value("SELECT COUNT(*) FROM k8s.events WHERE event_id='v2-uid-5'"), "2")
    # create_table made exactly the table of configs/mysql/v2.sql
    _load(db, "v2", table="from_file")
    ours = db.sql("SHOW CREATE TABLE k8s.events")[0][1]
    theirs = db.sql("SHOW CREATE TABLE k8s.from_file")[0][1]
    eq(re.sub(r" AUTO_INCREMENT=\d+", "", ours).replace("`events`", "`t`"),
       theirs.replace("`from_file`", "`t`"))


def test_upstream_table_created_as_configs_says(t):
    db = _server(t)
    rc, err = _run(t, _dsn(db, "ke", NASTY_PW, "create_table=true"), _events(2, "c"))
    eq(rc, 0, err[-3000:])
    eq(db.value("SELECT COUNT(*) FROM k8s.kube_event"), "2")
    _load(db, "upstream", table="from_file")
    ours = db.sql("SHOW CREATE TABLE k8s.kube_event")[0][1]
    theirs = db.sql("SHOW CREATE TABLE k8s.from_file")[0][1]
    eq(re.sub(r" AUTO_INCREMENT=\d+", "", ours).replace("`kube_event`", "`t`"),
       theirs.replace("`from_file`", "`t`"))


def test_a_refused_row_is_isolated_and_dropped(t):
    """Strict mode: a message too long for upstream's varchar(255), and an emoji for a utf8mb3
    table, fail their whole statement; the sink halves the batch until the row is alone, drops
    it with the server's words, and stores every other row once."""
    db = _server(t)
    _load(db, "upstream")
    evs = _events(30, "s")
    evs[17]["message"] = "L" * 300
    k = t.ke("--source=file:-", "--healthz-ip=127.0.0.1", "--healthz-port=0", "--flush-timeout=30s",
             f"--sink={_dsn(db, 'ke', NASTY_PW)}", stdin=event_list(evs).encode())
    eq(k.wait(60), 0, k.log_text()[-3000:])
    log = k.log_text()
    check(re.search(r"sink mysql\[0\]: dropped Pod default/s-pod-17 BackOff: Error 1406 \(22001\): Data too long "
                    r"for column 'message' at row 1 \(message_max=255 cuts messages to fit\)", log), log[-3000:])
    rows = db.rows("k8s.kube_event", ["event_id"])
    eq(sorted(r["event_id"] for r in rows), sorted(f"s-uid-{i}" for i in range(30) if i != 17))
    check(k.count_log("dropped Pod") == 1, "one line for the one row dropped")

    # message_max=255 keeps it, cut
    rc, err = _run(t, _dsn(db, "ke", NASTY_PW, "message_max=255"), [evs[17]])
    eq(rc, 0, err[-3000:])
    eq(db.rows("k8s.kube_event", ["message"], where="event_id='s-uid-17'"), [{"message": "L" * 255}])

    # a utf8mb3 table (upstream's docs had one): 4-byte characters are refused, one row at a time
    db.sql("CREATE TABLE k8s.mb3 (id bigint AUTO_INCREMENT PRIMARY KEY, namespace varchar(255), "
           "kind varchar(255), name varchar(255), type varchar(255), reason varchar(255), message text, "
           "event_id varchar(255), first_occurrence_time varchar(255), last_occurrence_time varchar(255)) "
           "CHARSET=utf8")
    evs = _events(8, "mb")
    evs[3]["message"] = "smile 😀"
    rc, err = _run(t, _dsn(db, "ke", NASTY_PW, "table=mb3"), evs)
    eq(rc, 0, err[-3000:])
    check("Error 1366 (22007): Incorrect string value" in err, err[-2000:])
    eq(sorted(r["event_id"] for r in db.rows("k8s.mb3", ["event_id"])),
       sorted(f"mb-uid-{i}" for i in range(8) if i != 3))


def test_missing_table_drops_with_the_servers_words(t):
    db = _server(t)
    k = t.ke("--source=file:-", "--healthz-ip=127.0.0.1", "--healthz-port=0", "--flush-timeout=30s",
             f"--sink={_dsn(db, 'ke', NASTY_PW, 'table=nope')}", stdin=True)
    k.feed(event_list(_events(5, "m")))
    k.wait_log(r"sink mysql\[0\]: Error 1146 \(42S02\): Table 'k8s\.nope' doesn't exist: 0 of 5 delivered, "
               r"5 dropped", 30)
    wait_until(lambda: k.metric('eventer_sink_failed_total{sink="mysql[0]",type="mysql"}') == 5, 30)
    k.close_stdin()
    eq(k.stop(), 0)


def test_tls_with_the_test_ca(t):
    """tls=true with cacert= against an account that REQUIRE SSL; skip-verify and preferred;
    the server's certificate checked (no CA: refused); a server without TLS."""
    db = _server(t, tls=True)
    db.sql("ALTER USER 'ke'@'127.0.0.1' REQUIRE SSL")
    _load(db, "upstream")
    rc, err = _run(t, _dsn(db, "ke", NASTY_PW, f"tls=true&cacert={db.ca}"), _events(3, "tls"))
    eq(rc, 0, err[-3000:])
    check(re.search(r"connected to 127\.0\.0\.1:\d+ \([^)]*, TLS, mysql_native_password\)", err), err[-2000:])
    eq(db.value("SELECT COUNT(*) FROM k8s.kube_event"), "3")
    for mode in ("skip-verify", "preferred"):
        rc, err = _run(t, _dsn(db, "ke", NASTY_PW, f"tls={mode}"), _events(2, mode))
        eq(rc, 0, err[-3000:])
        check(", TLS, " in err, err[-2000:])
    eq(db.value("SELECT COUNT(*) FROM k8s.kube_event"), "7")
    # a cacert= alone means TLS
    rc, err = _run(t, _dsn(db, "ke", NASTY_PW, f"cacert={db.ca}"), _events(1, "cao"))
    eq(rc, 0, err[-3000:])
    eq(db.value("SELECT COUNT(*) FROM k8s.kube_event"), "8")
    # without the CA the server is not trusted; without TLS the account refuses us
    for params, says in (("tls=true", r"certificate|verif|X509"), ("", r"Error 1045 \(28000\): Access denied")):
        k = t.ke("--source=file:-", "--healthz-ip=127.0.0.1", "--healthz-port=0",
                 f"--sink={_dsn(db, 'ke', NASTY_PW, params)}", stdin=True)
        k.wait_log(r"sink mysql\[0\]: cannot connect to 127\.0\.0\.1:\d+: .*(" + says + ")", 30)
        k.close_stdin()
        eq(k.stop(), 0)
    eq(db.value("SELECT COUNT(*) FROM k8s.kube_event"), "8")


def test_tls_against_a_server_without_it(t):
    db = _server(t)
    _load(db, "upstream")
    k = t.ke("--source=file:-", "--healthz-ip=127.0.0.1", "--healthz-port=0",
             f"--sink={_dsn(db, 'ke', NASTY_PW, 'tls=true')}", stdin=True)
    k.wait_log(r"cannot connect to .*: the server does not offer TLS \(tls=preferred falls back to plain\)", 30)
    k.close_stdin()
    eq(k.stop(), 0)
    rc, err = _run(t, _dsn(db, "ke", NASTY_PW, "tls=preferred"), _events(2, "pref"))
    eq(rc, 0, err[-3000:])
    check(", no TLS, " in err)
    eq(db.value("SELECT COUNT(*) FROM k8s.kube_event"), "2")


def test_wrong_password_backs_off_then_delivers_once_fixed(t):
    """The server's ERR packet in the log, attempts spaced out by a growing backoff (not a
    spin), the password never logged; once the account accepts it, the waiting rows arrive."""
    db = _server(t)
    _load(db, "upstream")
    wrong = t.secret("wr0ng-Pa55#w@rd")
    k = t.ke("--source=file:-", "--healthz-ip=127.0.0.1", "--healthz-port=0", "--flush-timeout=30s",
             f"--sink={_dsn(db, 'ke', wrong)}", stdin=True)
    k.feed(event_list(_events(5, "pw")))
    k.wait_log(r"sink mysql\[0\]: cannot connect to 127\.0\.0\.1:\d+: Error 1045 \(28000\): Access denied for "
               r"user 'ke'@'127\.0\.0\.1' \(using password: YES\); trying again in \d", 30)
    time.sleep(8)
    n = k.count_log("Error 1045")
    check(2 <= n <= 5, f"{n} attempts in ~8 s: a backoff (1, 2, 4 s ...), not a spin")
    delays = [float(x) for x in re.findall(r"trying again in ([0-9.]+)s", k.log_text())]
    check(delays[-1] > delays[0], f"growing delays {delays}")
    eq(_sent(k), 0)
    db.sql(f"ALTER USER 'ke'@'127.0.0.1' IDENTIFIED BY {mariadb.quote(wrong)}")
    wait_until(lambda: _sent(k) == 5, 90, msg="the rows once the password is right")
    eq(db.value("SELECT COUNT(*) FROM k8s.kube_event"), "5")
    eq(k.metric('eventer_sink_failed_total{sink="mysql[0]",type="mysql"}'), 0, "nothing lost while waiting")
    k.close_stdin()
    eq(k.stop(), 0)
    check(wrong not in k.log_text())


def test_server_restart_mid_stream_loses_nothing(t):
    """Events keep coming while MariaDB shuts down, stays down and comes back, and again while it
    is killed (SIGKILL, InnoDB recovers what was committed): every event is stored exactly once
    (v2's unique key absorbs a batch whose answer was lost)."""
    import threading
    db = _server(t)
    _load(db, "v2")
    k = t.ke("--source=file:-", "--healthz-ip=127.0.0.1", "--healthz-port=0", "--flush-timeout=60s",
             f"--sink={_dsn(db, 'ke', NASTY_PW, 'schema=v2&flush_interval=100ms&batch_size=50')}", stdin=True)
    total = [0]

    def feed(first, last, pause):
        for chunk in range(first, last):
            k.feed(event_list(_events(100, f"r{chunk}")))
            total[0] += 100
            time.sleep(pause)
    feed(0, 4, 0.1)
    wait_until(lambda: _sent(k) >= 100, 30, msg="some delivered before the restart")
    db.stop()
    feed(4, 8, 0.2)
    k.wait_log(r"sink mysql\[0\]: (cannot connect|.*connection to .* lost)", 30)
    time.sleep(2)
    db.start()
    feed(8, 10, 0)
    wait_until(lambda: _sent(k) == total[0], 120, msg=f"all {total[0]} delivered")
    # a crash while batches are in flight
    base = total[0]
    feeder = threading.Thread(target=feed, args=(10, 20, 0.05))
    feeder.start()
    wait_until(lambda: _sent(k) >= base + 100, 30, msg="batches flowing")
    db.kill()
    feeder.join()
    time.sleep(1)
    db.start()
    wait_until(lambda: _sent(k) == total[0], 120, msg=f"all {total[0]} delivered after the crash")
    eq(db.value("SELECT COUNT(*) FROM k8s.kube_event"), str(total[0]))
    eq(db.value("SELECT COUNT(DISTINCT event_id) FROM k8s.kube_event"), str(total[0]))
    m = k.metrics()
    eq(m['eventer_sink_failed_total{sink="mysql[0]",type="mysql"}'], 0)
    eq(m['eventer_sink_dropped_total{sink="mysql[0]",type="mysql"}'], 0)
    k.close_stdin()
    eq(k.stop(), 0)


def test_killed_idle_connection_reconnects(t):
    """KILL of our idle connection, and a short wait_timeout: the next batch reconnects."""
    db = _server(t)
    _load(db, "upstream")
    k = t.ke("--source=file:-", "--healthz-ip=127.0.0.1", "--healthz-port=0", "--flush-timeout=30s",
             f"--sink={_dsn(db, 'ke', NASTY_PW, 'flush_interval=100ms')}", stdin=True)
    k.feed(event_list(_events(5, "k0")))
    wait_until(lambda: _sent(k) == 5, 30)
    ids = wait_until(lambda: db.connection_ids("ke"), 10, msg="our connection")
    db.sql(f"KILL {ids[0]}")
    k.wait_log(r"connection to 127\.0\.0\.1:\d+ closed while idle", 30)
    k.feed(event_list(_events(5, "k1")))
    wait_until(lambda: _sent(k) == 10, 30, msg="delivered on a new connection")
    db.sql("SET GLOBAL wait_timeout=1")
    ids = wait_until(lambda: [i for i in db.connection_ids("ke") if i not in ids], 10, msg="the new connection")
    k.feed(event_list(_events(5, "k2")))    # (this connection predates wait_timeout=1)
    wait_until(lambda: _sent(k) == 15, 30)
    db.sql(f"KILL {ids[0]}")
    k.feed(event_list(_events(5, "k3")))
    wait_until(lambda: _sent(k) == 20, 30, msg="after the second kill")
    wait_until(lambda: not db.connection_ids("ke"), 30, msg="the server's idle timeout")
    k.feed(event_list(_events(5, "k4")))
    wait_until(lambda: _sent(k) == 25, 30, msg="after the idle timeout")
    eq(db.value("SELECT COUNT(*) FROM k8s.kube_event"), "25")
    eq(k.metric('eventer_sink_failed_total{sink="mysql[0]",type="mysql"}'), 0)
    k.close_stdin()
    eq(k.stop(), 0)


def test_session_variables_from_the_dsn(t):
    """go-sql-driver sets unknown DSN params as session variables: so do we. sql_mode='' (not
    strict) lets the server cut a long message instead of refusing it; an unknown variable is
    the server's clear error."""
    db = _server(t)
    _load(db, "upstream")
    evs = _events(2, "sv")
    evs[0]["message"] = "Z" * 300
    rc, err = _run(t, _dsn(db, "ke", NASTY_PW, "sql_mode=%27%27&charset=utf8&parseTime=true"), evs)
    eq(rc, 0, err[-3000:])
    check("session variables from the DSN: sql_mode=''" in err, err[-2000:])
    eq(db.rows("k8s.kube_event", ["message"], where="event_id='sv-uid-0'"), [{"message": "Z" * 255}])
    k = t.ke("--source=file:-", "--healthz-ip=127.0.0.1", "--healthz-port=0",
             f"--sink={_dsn(db, 'ke', NASTY_PW, 'no_such_var=1')}", stdin=True)
    k.wait_log(r"cannot connect to .*: Error 1193 \(HY000\): Unknown system variable 'no_such_var'", 30)
    k.close_stdin()
    eq(k.stop(), 0)


def test_bad_dsns_exit_2(t):
    t.secret("S3cr3t-pw")
    for uri, what in (("mysql:?root:S3cr3t-pw@localhost:3306/k8s", "tcp("),
                      ("mysql:?root:S3cr3t-pw@tcp(h:3306)/k8s?tls=maybe", 'tls: "maybe"'),
                      ("mysql:?root:S3cr3t-pw@tcp(h:3306)/k8s?schema=v3", "schema"),
                      ("mysql:?root:S3cr3t-pw@tcp(h:3306)/k8s?table=a.b.c", "table"),
                      ("mysql:?root:S3cr3t-pw@tcp(h:3306)/k8s?table=%zz", '"table"'),
                      ("mysql:?root:S3cr3t-pw@unix(/run/mysqld.sock)/k8s", "unix"),
                      ("mysql:", "missing the DSN")):
        rc, out, err = t.run_ke("--source=file:-", f"--sink={uri}", stdin=b"")
        eq(rc, 2, uri)
        check(what in err and "--sink #1" in err, err)
        check("S3cr3t" not in err + out, err)
    # --check accepts a good one and names nothing secret
    rc, out, err = t.run_ke("--check", "--source=file:-", "--sink=mysql:?root:S3cr3t-pw@tcp(h:3306)/k8s?tls=true")
    eq(rc, 0, out + err)
    check("configuration OK" in out and "S3cr3t" not in out + err, out + err)


def test_caching_sha2_password_as_mysql8_does_it(t):
    """MySQL 8's default plugin, against tests/emu/mysqlemu.py (MariaDB has none): full
    authentication with the server's RSA key without TLS, in clear over TLS, the fast path once
    the server has the account cached, plugin switches both ways, and a wrong password."""
    from harness import pki
    from mysqlemu import MySQLEmu
    pw = t.secret("sha2-P@ss:w%rd#&?/")
    for tls in (None, pki()):
        with MySQLEmu(user="ke", password=pw, plugin="caching_sha2_password", tls=tls) as emu:
            params = f"tls=true&cacert={pki()['ca']}" if tls else ""
            sink = f"mysql:?ke:{pw}@tcp(127.0.0.1:{emu.port})/k8s" + (f"?{params}" if params else "")
            for run in range(2):
                rc, err = _run(t, sink, _events(3, f"sha2-{run}"))
                eq(rc, 0, err[-3000:])
                check("caching_sha2_password)" in err, err[-2000:])
            eq(emu.rows, 6)
            eq([(x["path"], x["tls"], x["db"]) for x in emu.logins],
               [("full-tls" if tls else "full-rsa", bool(tls), "k8s"), ("fast", bool(tls), "k8s")])
            check(pw not in err)
    # the greeting offers one plugin, the account uses the other: AuthSwitchRequest
    for account, greeting in (("caching_sha2_password", "mysql_native_password"),
                              ("mysql_native_password", "caching_sha2_password")):
        with MySQLEmu(user="ke", password=pw, plugin=account, default_plugin=greeting, cached=True) as emu:
            rc, err = _run(t, f"mysql:?ke:{pw}@tcp(127.0.0.1:{emu.port})/k8s", _events(2, "sw"))
            eq(rc, 0, err[-3000:])
            eq(emu.rows, 2)
            eq(emu.logins[0]["switched"], True)
            eq(emu.logins[0]["client_plugin"], greeting)
            check(f"{account})" in err, err[-2000:])
    # a wrong password: the server's words, and backoff
    with MySQLEmu(user="ke", password=pw, plugin="caching_sha2_password", cached=True) as emu:
        k = t.ke("--source=file:-", "--healthz-ip=127.0.0.1", "--healthz-port=0",
                 f"--sink=mysql:?ke:not-{pw}@tcp(127.0.0.1:{emu.port})/k8s", stdin=True)
        k.wait_log(r"cannot connect to .*: Error 1045 \(28000\): Access denied for user 'ke'@'127\.0\.0\.1' "
                   r"\(using password: YES\); trying again in", 30)
        k.close_stdin()
        eq(k.stop(), 0)
        eq(emu.rows, 0)
        check(pw not in k.log_text())


def test_insert_errors_by_class(t):
    """What the server says about an INSERT decides: a lock wait is retried (and the batch
    arrives once the server takes it), a denied table is dropped at once."""
    from mysqlemu import MySQLEmu
    with MySQLEmu(user="ke", password="pw", plugin="mysql_native_password") as emu:
        emu.fail_inserts = (1205, "HY000", "Lock wait timeout exceeded; try restarting transaction")
        k = t.ke("--source=file:-", "--healthz-ip=127.0.0.1", "--healthz-port=0", "--flush-timeout=30s",
                 f"--sink=mysql:?ke:pw@tcp(127.0.0.1:{emu.port})/k8s", stdin=True)
        k.feed(event_list(_events(4, "lk")))
        k.wait_log(r"sink mysql\[0\]: Error 1205 \(HY000\): Lock wait timeout exceeded; try restarting "
                   r"transaction: 0 of 4 delivered, 4 to retry", 30)
        emu.fail_inserts = None
        wait_until(lambda: _sent(k) == 4, 30, msg="retried and taken")
        eq(emu.rows, 4)
        emu.fail_inserts = (1142, "42000", "INSERT command denied to user 'ke'@'127.0.0.1' for table 'kube_event'")
        k.feed(event_list(_events(3, "dn")))
        k.wait_log(r"Error 1142 \(42000\): INSERT command denied .*: 0 of 3 delivered, 3 dropped", 30)
        eq(k.metric('eventer_sink_failed_total{sink="mysql[0]",type="mysql"}'), 3)
        k.close_stdin()
        eq(k.stop(), 0)


class _LosesAnAnswer:
    """A TCP proxy in front of MariaDB that, once armed, lets the next INSERT through and then
    cuts the connection instead of passing the server's OK back: the rows are committed, the
    sink cannot know it. The ambiguous failure a unique key must absorb."""

    def __init__(self, port):
        import socket
        import threading
        self.target = port
        self.armed = False
        self.cut = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import socket
        import threading
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            s = socket.create_connection(("127.0.0.1", self.target))
            state = {"insert_seen": False}
            threading.Thread(target=self._pump, args=(c, s, state, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(s, c, state, False), daemon=True).start()

    def _pump(self, src, dst, state, to_server):
        import socket
        try:
            while True:
                d = src.recv(65536)
                if not d:
                    break
                if to_server and self.armed and b"\x03INSERT INTO" in d:
                    state["insert_seen"] = True
                if not to_server and state["insert_seen"]:
                    self.armed = False
                    self.cut += 1
                    break                      # the OK is never passed on
                dst.sendall(d)
        except OSError:
            pass
        for x in (src, dst):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            x.close()

    def close(self):
        self.sock.close()


def test_a_lost_answer_stores_nothing_twice_with_a_unique_key(t):
    """The INSERT commits, the answer is lost with the connection, the sink resends: with v2's
    unique key every row is stored once; upstream's table (no unique key) gets the batch twice,
    which is why the README calls it at-least-once."""
    db = _server(t)
    _load(db, "v2", table="v2t")
    _load(db, "upstream", table="upt")
    proxy = _LosesAnAnswer(db.port)
    t.cleanup(proxy.close)
    for table, schema, want_rows in (("v2t", "v2", 20), ("upt", "upstream", 40)):
        proxy.armed = True
        evs = _events(20, table)
        sink = f"mysql:?ke:{NASTY_PW}@tcp(127.0.0.1:{proxy.port})/k8s?table={table}&schema={schema}"
        rc, err = _run(t, sink, evs)
        eq(rc, 0, err[-3000:])
        check(re.search(r"sink mysql\[0\]: connection to 127\.0\.0\.1:\d+ lost \(closed by the server\): "
                        r"0 of 20 delivered, 20 to retry", err), err[-2000:])
        eq(db.value(f"SELECT COUNT(*) FROM k8s.{table}"), str(want_rows), table)
        eq(db.value(f"SELECT COUNT(DISTINCT event_id) FROM k8s.{table}"), "20")
    eq(proxy.cut, 2)


def test_deadlines_a_silent_server_and_a_statement_without_answer(t):
    """A server that accepts and never greets: the login deadline closes it, and the attempts
    back off. A statement never answered: timeout= closes the connection, the batch is retried on
    a new one and arrives once."""
    import socket
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    t.cleanup(silent.close)
    k = t.ke("--source=file:-", "--healthz-ip=127.0.0.1", "--healthz-port=0",
             f"--sink=mysql:?ke:pw@tcp(127.0.0.1:{silent.getsockname()[1]})/k8s?timeout=1s", stdin=True)
    k.wait_log(r"sink mysql\[0\]: cannot connect to 127\.0\.0\.1:\d+: timed out; trying again in", 30)
    k.close_stdin()
    eq(k.stop(), 0)

    from mysqlemu import MySQLEmu
    with MySQLEmu(user="ke", password="pw", plugin="mysql_native_password") as emu:
        emu.hang_inserts = True
        k = t.ke("--source=file:-", "--healthz-ip=127.0.0.1", "--healthz-port=0", "--flush-timeout=30s",
                 f"--sink=mysql:?ke:pw@tcp(127.0.0.1:{emu.port})/k8s?timeout=1s", stdin=True)
        k.feed(event_list(_events(3, "dl")))
        k.wait_log(r"sink mysql\[0\]: connection to 127\.0\.0\.1:\d+ lost \(timed out\): 0 of 3 delivered, "
                   r"3 to retry", 30)
        emu.hang_inserts = False
        wait_until(lambda: _sent(k) == 3, 30, msg="delivered on a new connection")
        eq(emu.rows, 3, "stored once")
        check(emu.hung >= 1)
        k.close_stdin()
        eq(k.stop(), 0)


def test_storm_with_the_server_down_stays_bounded(t):
    """100 000 events while MariaDB is down: the queue holds what it may (the rest is counted as
    dropped), memory stays small, no connection attempt spins; once it is up, what was queued is
    stored once."""
    from harness import sanitized
    db = _server(t)
    _load(db, "v2")
    db.stop()
    n = 100000
    k = t.ke("--source=file:-", "--healthz-ip=127.0.0.1", "--healthz-port=0", "--flush-timeout=60s",
             f"--sink={_dsn(db, 'ke', NASTY_PW, 'schema=v2')}", stdin=True)
    k.feed(event_list(_events(n, "st")))
    mkey = '{sink="mysql[0]",type="mysql"}'
    wait_until(lambda: k.metric("eventer_sink_matched_total" + mkey) == n, 180, msg="every event offered")
    m = k.metrics()
    dropped = m["eventer_sink_dropped_total" + mkey]
    queued = n - dropped
    check(0 < queued < n, f"queued {queued}, dropped {dropped}")
    check(m["eventer_sink_queue_bytes" + mkey] <= 2 << 20, "within queue_bytes")
    if not sanitized():
        with open(f"/proc/{k.proc.pid}/status") as f:
            hwm = int(next(line for line in f if line.startswith("VmHWM")).split()[1])
        check(hwm <= 8 * 1024, f"peak RSS {hwm} KiB > 8 MiB")
    attempts = k.count_log("cannot connect")
    check(attempts <= 12, f"{attempts} connection attempts: backing off, not spinning")
    db.start()
    wait_until(lambda: _sent(k) == queued, 120, msg="the queued events stored")
    eq(db.value("SELECT COUNT(*) FROM k8s.kube_event"), str(int(queued)))
    eq(db.value("SELECT COUNT(DISTINCT event_id) FROM k8s.kube_event"), str(int(queued)))
    k.close_stdin()
    eq(k.stop(), 0)


def _scripted_server(t, script):
    """A server on loopback that, per connection, plays script(conn) (a function given the socket
    and helpers); returns its port."""
    import socket
    import threading
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    t.cleanup(s.close)

    def serve():
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            threading.Thread(target=lambda: _play(c, script), daemon=True).start()
    threading.Thread(target=serve, daemon=True).start()
    return s.getsockname()[1]


def _play(c, script):
    def pkt(seq, payload):
        c.sendall(len(payload).to_bytes(3, "little") + bytes([seq]) + payload)

    def read():
        h = b""
        while len(h) < 4:
            d = c.recv(4 - len(h))
            if not d:
                raise EOFError
            h += d
        n = int.from_bytes(h[:3], "little")
        p = b""
        while len(p) < n:
            d = c.recv(n - len(p))
            if not d:
                raise EOFError
            p += d
        return p
    try:
        script(pkt, read)
    except (EOFError, OSError):
        pass
    finally:
        c.close()


GREETING = (b"\x0a8.0.36-scripted\x00\x01\x00\x00\x00ABCDEFGH\x00\xff\xf7\xff\x02\x00\xff\xdf\x15" + b"\x00" * 10 +
            b"IJKLMNOPQRST\x00mysql_native_password\x00")


def test_odd_servers_are_clear_errors(t):
    """What is not a MySQL server, a plugin we do not speak, and an INSERT answered with a result
    set: each a clear log line, and nothing spins or crashes."""
    cases = []

    def not_mysql(pkt, read):
        pkt(0, b"HTTP/1.1 400 Bad Request")
    cases.append((not_mysql, r"cannot connect to .*: not a MySQL server \(protocol version 72, want 10\)"))

    def ed25519(pkt, read):
        pkt(0, GREETING)
        read()
        pkt(2, b"\xfeclient_ed25519\x00" + b"x" * 32 + b"\x00")
        read()
    cases.append((ed25519, r"cannot connect to .*: the server wants auth plugin client_ed25519, which is not "
                           r"supported"))

    def old_password(pkt, read):
        pkt(0, GREETING)
        read()
        pkt(2, b"\xfe")
        read()
    cases.append((old_password, r"the server wants auth plugin mysql_old_password, which is not supported"))

    answered = []

    def result_set(pkt, read):
        pkt(0, GREETING)
        read()
        pkt(2, b"\x00\x00\x00\x02\x00\x00\x00")
        while True:
            q = read()
            if q.startswith(b"\x03INSERT"):
                if not answered:
                    answered.append(1)
                    pkt(1, b"\x01")          # a column count: a result set, not what INSERT answers
                else:
                    pkt(1, b"\x00\x02\x00\x02\x00\x00\x00")
    for script, says in cases:
        port = _scripted_server(t, script)
        k = t.ke("--source=file:-", "--healthz-ip=127.0.0.1", "--healthz-port=0",
                 f"--sink=mysql:?ke:pw@tcp(127.0.0.1:{port})/k8s", stdin=True)
        k.wait_log(says, 30)
        k.close_stdin()
        eq(k.stop(), 0)
    port = _scripted_server(t, result_set)
    k = t.ke("--source=file:-", "--healthz-ip=127.0.0.1", "--healthz-port=0", "--flush-timeout=30s",
             f"--sink=mysql:?ke:pw@tcp(127.0.0.1:{port})/k8s", stdin=True)
    k.feed(event_list(_events(2, "rs")))
    k.wait_log(r"sink mysql\[0\]: unexpected answer to INSERT: 0 of 2 delivered, 2 to retry", 30)
    wait_until(lambda: _sent(k) == 2, 30, msg="the retry on a new connection")
    k.close_stdin()
    eq(k.stop(), 0)
