"""DingTalk and WeCom sinks against their emulators (reached with api_base=)."""
import json
import time

from harness import check, eq, event, event_list, wait_until
from receivers import DingTalk, WeCom

QUICK = ("test_dingtalk_signed_text_layout",)


def test_dingtalk_signed_text_layout(t):
    secret = t.secret("SECsign-0001")
    token = t.secret("dt-token-abcdef")
    with DingTalk(token=token, secret=secret) as dt:
        evs = [event(ns="shop", obj="web-1", name="web-1.17b", reason="BackOff", message='say "hi"\nnow')]
        rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0",
                              f"--sink=dingtalk:https://oapi.dingtalk.com/robot/send?access_token={token}&sign={secret}"
                              f"&label=prod&label=cluster-1&api_base={dt.url}", stdin=event_list(evs).encode(),
                              env={"TZ": "Asia/Shanghai"})
        eq(rc, 0, err)
        dt.wait_accepted(1, 5)
        eq(dt.rejected_codes(), [], "signature, token, body schema accepted")
        m = dt.messages()[0]
        eq(m["msgtype"], "text")
        # upstream's layout: labels last-first, " \n" separators, 2006-01-02 15:04:05 local time
        eq(m["text"]["content"], "cluster-1\nprod\nLevel:Warning \nKind:Pod \nNamespace:shop \nName:web-1.17b \n"
                                 "Reason:BackOff \nTimestamp:2024-03-05 15:08:09 \nMessage:say \"hi\"\nnow")
        q = dt.accepted[0]
        eq(q.param("access_token"), token)
        check(q.param("sign") and q.param("timestamp"), "signed")
        check(secret not in err and token not in err)


def test_dingtalk_markdown_at_mobiles_and_level(t):
    with DingTalk(token="tok") as dt:
        evs = [event(obj="a", type_="Normal", reason="Pulled"), event(obj="b", reason="OOMKilling")]
        rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0",
                              f"--sink=dingtalk:?access_token=tok&msg_type=markdown&cluster_id=c-1&at_mobiles=138,139"
                              f"&api_base={dt.url}", stdin=event_list(evs).encode())
        eq(rc, 0, err)
        dt.wait_accepted(1, 5)
        time.sleep(0.2)
        eq(len(dt.messages()), 1, "level defaults to Warning")
        m = dt.messages()[0]
        eq(m["msgtype"], "markdown")
        eq(m["markdown"]["title"], "Kubernetes(ID:c-1) Event")
        check(m["markdown"]["text"].startswith("Level:**Warning** \n\nKind:**Pod**"), m)
        check(m["markdown"]["text"].endswith(" @138 @139"), "mentions appear in the text, as DingTalk needs")
        eq(m["at"], {"atMobiles": ["138", "139"], "isAtAll": False})


def test_dingtalk_too_fast_is_retried_later_and_other_errors_dropped(t):
    with DingTalk(token="tok", limit=1, window_seconds=1.5) as dt:
        evs = [event(obj="a", reason="A"), event(obj="b", reason="B")]
        rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", "--flush-timeout=30s",
                              f"--sink=dingtalk:?access_token=tok&rate=20/1500ms&api_base={dt.url}",
                              stdin=event_list(evs).encode())
        eq(rc, 0, err)
        eq(len(dt.messages()), 2, "the 130101 one was delivered after waiting")
        check(130101 in dt.rejected_codes())
        check("errcode 130101" in err and "retry" in err)
    with DingTalk(token="right") as dt:
        rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0",
                              f"--sink=dingtalk:?access_token=wrong&api_base={dt.url}", stdin=event_list([event()]).encode())
        eq(rc, 0)
        eq(len(dt.rejected), 1, "a wrong token is not retried")
        check("dropped" in err and "errcode 300001" in err, err)


def test_dingtalk_burst_respects_the_limit_in_order_none_lost(t):
    # 20 per rolling window (2 s here instead of a minute), like DingTalk
    with DingTalk(token="tok", limit=20, window_seconds=2.0) as dt:
        evs = [event(obj=f"p{i:03d}", reason=f"R{i:03d}") for i in range(100)]
        t0 = time.monotonic()
        rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", "--flush-timeout=60s",
                              f"--sink=dingtalk:?access_token=tok&rate=20/2s&api_base={dt.url}",
                              stdin=event_list(evs).encode(), timeout=60)
        eq(rc, 0, err)
        eq(dt.rejected_codes(), [], "never too fast")
        reasons = [m["text"]["content"].split("Reason:")[1].split(" ")[0] for m in dt.messages()]
        eq(reasons, [f"R{i:03d}" for i in range(100)], "all 100, in order")
        check(time.monotonic() - t0 >= 8.0, "five windows of 20")


def test_dingtalk_truncates_long_messages_at_a_character(t):
    with DingTalk(token="tok") as dt:
        long_msg = "中" * 9000  # 27 000 bytes
        rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", f"--sink=dingtalk:?access_token=tok&api_base={dt.url}",
                              stdin=event_list([event(message=long_msg)]).encode())
        eq(rc, 0, err)
        dt.wait_accepted(1, 5)
        c = dt.messages()[0]["text"]["content"]
        check(len(dt.accepted[0].body) <= 20000, "under DingTalk's 20 000-byte limit")
        check(c.endswith("中…"), "cut between characters, with an ellipsis")


def test_dingtalk_requires_access_token(t):
    rc, _, err = t.run_ke("--source=file:-", "--sink=dingtalk:https://oapi.dingtalk.com/robot/send?level=Warning",
                          stdin=b"")
    eq(rc, 2)
    check("you must provide dingtalk bot access_token" in err, err)


def test_wechat_token_cached_and_one_refresh_on_expiry(t):
    secret = t.secret("corp-secret-9x8y7z")
    with WeCom(corpid="ww1", corpsecret=secret, agentid=1000002) as wc:
        sink = (f"--sink=wechat:?corp_id=ww1&corp_secret={secret}&agent_id=1000002&to_user=alice,bob"
                f"&label=prod&api_base={wc.url}")
        k = t.ke("--source=file:-", "--healthz-port=0", sink, stdin=True)
        k.feed(event_list([event(obj=f"a{i}", reason=f"A{i}") for i in range(5)]))
        wc.wait_messages(5, 10, kind="app")
        eq(wc.token_fetches, 1, "one gettoken for five messages (upstream fetches one per event)")
        b = wc.app_bodies()[0]
        eq(b["touser"], "alice|bob")
        eq(b["agentid"], 1000002)
        check(b["text"]["content"].startswith("prod\nLevel:Warning \nKind:Pod \n"), b)
        wc.expire_tokens()
        k.feed(event_list([event(obj=f"b{i}", reason=f"B{i}") for i in range(3)]))
        wc.wait_messages(8, 15, kind="app")
        eq(wc.token_fetches, 2, "an expired token triggers one refresh, not a storm")
        check(42001 in wc.rejected_codes())
        k.close_stdin()
        eq(k.wait(20), 0)
        check(secret not in k.log_text())


def test_wechat_truncates_text_below_2048_bytes(t):
    with WeCom(corpid="ww1", corpsecret="s", agentid=7) as wc:
        rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0",
                              f"--sink=wechat:?corp_id=ww1&corp_secret=s&agent_id=7&api_base={wc.url}",
                              stdin=event_list([event(message="é" * 3000)]).encode())
        eq(rc, 0, err)
        wc.wait_messages(1, 5, kind="app")
        content = wc.app_bodies()[0]["text"]["content"]
        check(len(content.encode()) <= 2048, len(content.encode()))
        check(content.endswith("é…"))
        eq(wc.rejected, [])


def test_wechat_required_parameters(t):
    for params, word in (("corp_secret=s&agent_id=1", "corpid"), ("corp_id=c&agent_id=1", "corpsecret"),
                         ("corp_id=c&corp_secret=s&agent_id=x", "agentid")):
        rc, _, err = t.run_ke("--source=file:-", f"--sink=wechat:?{params}", stdin=b"")
        eq(rc, 2)
        check(word in err, err)


def test_wecom_group_robot_through_webhook_retries_45009(t):
    key = t.secret("robot-key-5a5a5a")
    with WeCom(keys=(key,), robot_limit=2, robot_window=1.5) as wc:
        evs = [event(obj=f"p{i}", reason=f"R{i}") for i in range(4)]
        tpl = t.write("t.json", '{"msgtype":"text","text":{"content":"{{ .Reason }}: {{ .Message }}"}}')
        rc, _, err = t.run_ke("--source=file:-", "--healthz-port=0", "--flush-timeout=30s",
                              f"--sink=webhook:{wc.url}/cgi-bin/webhook/send?key={key}&method=POST&rate=20/1500ms"
                              f"&header=Content-Type=application/json&custom_body_file={tpl}",
                              stdin=event_list(evs).encode(), timeout=40)
        eq(rc, 0, err)
        got = [b["text"]["content"].split(":")[0] for b in wc.robot_bodies()]
        eq(got, ["R0", "R1", "R2", "R3"], "all delivered, in order, after 45009 answers")
        check(45009 in wc.rejected_codes())
        check(key not in err)
