#!/usr/bin/env python3
"""make demo: kube-eventer's main job, end to end, on one machine.

Starts a Kubernetes API server emulator (HTTPS, bearer token) and a WeCom
group-robot emulator on loopback, runs the real build/kube-eventer against
them with a WeCom template, then plays a short scenario and shows what the
robot received. Nothing leaves the machine.
"""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "emu"))
import certs  # noqa: E402
from kubeapi import KubeAPI  # noqa: E402
from receivers import WeCom  # noqa: E402

BIN = os.path.join(ROOT, "build", "kube-eventer")
WORK = os.path.join(ROOT, "build", "demo")


def say(msg):
    print(f"\n\033[1m== {msg}\033[0m", flush=True)


def main():
    os.makedirs(WORK, exist_ok=True)
    pki = certs.make_pki(os.path.join(ROOT, "build", "test-pki"))
    api = KubeAPI(pki, tokens={"demo-token"}).start()
    robot = WeCom(keys=("demo-key",), robot_limit=100)
    # events that exist before start-up are not alerted (as kube-eventer)
    api.load_fixture(os.path.join(ROOT, "tests", "fixtures", "events", "message-image-pull-fail.json"))
    kubeconfig = os.path.join(WORK, "kubeconfig")
    with open(kubeconfig, "w") as f:
        json.dump({"apiVersion": "v1", "kind": "Config", "current-context": "demo",
                   "clusters": [{"name": "demo", "cluster": {"server": api.url, "certificate-authority": pki["ca"]}}],
                   "contexts": [{"name": "demo", "context": {"cluster": "demo", "user": "demo"}}],
                   "users": [{"name": "demo", "user": {"token": "demo-token"}}]}, f)
    template = os.path.join(WORK, "wecom.tmpl")
    with open(template, "w") as f:
        f.write('{"msgtype":"text","text":{"content":"[{{ .Type }}] {{ .InvolvedObject.Kind }} '
                '{{ .InvolvedObject.Namespace }}/{{ .InvolvedObject.Name }}: {{ .Reason }} x{{ .Count }}\\n'
                '{{ .Message }}","mentioned_list":["@all"]}}')
    args = [BIN, f"--source=kubernetes:?inClusterConfig=false&auth={kubeconfig}",
            f"--sink=webhook:{robot.url}/cgi-bin/webhook/send?key=demo-key&level=Warning&method=POST"
            f"&header=Content-Type=application/json&custom_body_file={template}",
            "--healthz-ip=127.0.0.1", "--healthz-port=0"]
    say("starting: " + " ".join(a if "key=" not in a else a.split("?")[0] + "?key=***..." for a in args[:3]))
    ke = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, env=dict(os.environ, TZ="Asia/Shanghai"))
    port = None
    for line in ke.stderr:
        sys.stdout.write("  | " + line)
        if "health: listening" in line:
            port = int(line.rsplit(":", 1)[1].split('"')[0])
            break
    api.wait_for(lambda: api.open_watch_count() == 1, 10, "the watch")
    import threading
    threading.Thread(target=lambda: [sys.stdout.write("  | " + ln) for ln in ke.stderr], daemon=True).start()

    def show(n_before):
        time.sleep(0.4)
        for body in robot.robot_bodies()[n_before:]:
            print("  robot got:", body["text"]["content"].replace("\n", " / "))
        return len(robot.robot_bodies())

    n = 0
    say("1. a Warning event appears: delivered at once (no 30 s batch)")
    t0 = time.monotonic()
    e = api.add_event(ns="shop", obj="web-1", reason="BackOff", message="Back-off restarting failed container web")
    robot.wait_messages(1, 5, kind="robot")
    print(f"  delivered in {(time.monotonic() - t0) * 1000:.0f} ms")
    n = show(n)

    say("2. the kubelet bumps the same event's count 30 times: one alert per repeat_interval, not 30")
    for _ in range(30):
        api.bump_event("shop", e["metadata"]["name"])
    n = show(n)
    print(f"  robot messages so far: {n}")

    say("3. a Normal event: filtered out by level=Warning")
    api.add_event(ns="shop", obj="web-1", reason="Pulled", type_="Normal", message="image pulled")
    n = show(n)

    say("4. the watch breaks, events happen, the API server compacts (410 Gone): each is delivered once")
    api.stop()
    for i in range(3):
        api.add_event(ns="batch", obj=f"job-{i}", reason="FailedScheduling", message="0/3 nodes are available")
    api.compact()
    api.start()
    robot.wait_messages(n + 3, 15, kind="robot")
    n = show(n)

    say("5. a message with quotes, newlines and Chinese text still makes valid JSON")
    api.add_event(ns="shop", obj="db-0", reason="Unhealthy", message='probe "GET /health" failed:\n\t连接被拒绝')
    robot.wait_messages(n + 1, 5, kind="robot")
    n = show(n)

    say("6. /metrics")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as r:
        for line in r.read().decode().splitlines():
            if line.startswith(("eventer_sink_sent_total", "eventer_sink_suppressed_total",
                                "eventer_watch_relists_total", "eventer_events_warning_total")):
                print("  " + line)

    say(f"done: {n} robot messages, 0 rejected ({len(robot.rejected)} rejected)")
    ke.send_signal(signal.SIGTERM)
    rc = ke.wait(10)
    api.stop()
    robot.stop()
    return 0 if rc == 0 and n == 5 and not robot.rejected else 1


if __name__ == "__main__":
    sys.exit(main())
