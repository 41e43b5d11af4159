"""The seed configuration, verbatim: configs/seed-wecom.yaml's three WeCom group
robots (production URLs, reached through an HTTPS proxy on loopback that routes
qyapi.weixin.qq.com to the WeCom emulator), their three ConfigMap templates,
and hot reload of a template without a restart."""
import json
import os
import time

from harness import ROOT, check, eq, kubeconfig, kubelet_expand, pki, wait_until, yaml_docs
from kubeapi import KubeAPI
from receivers import WeCom, ConnectProxy

QUICK = ("test_seed_three_sinks_verbatim",)
SEED = os.path.join(ROOT, "configs", "seed-wecom.yaml")


def seed_setup(t, api):
    docs = yaml_docs(SEED)
    cms = [d for d in docs if d["kind"] == "ConfigMap"]
    dep = next(d for d in docs if d["kind"] == "Deployment")
    for cm in cms:
        api.set_configmap(cm["metadata"]["namespace"], cm["metadata"]["name"], cm["data"])
    c = dep["spec"]["template"]["spec"]["containers"][0]
    keys = {e["name"]: t.secret(f"{e['name'].lower()}-0f3c2a9e-secret") for e in c["env"] if e.get("valueFrom")}
    env = {e["name"]: e["value"] for e in c["env"] if "value" in e}
    env.update(keys)
    sinks = [kubelet_expand(a, env) for a in c["command"] if a.startswith("--sink=")]
    eq(len(sinks), 3, "the seed has three sinks")
    return sinks, keys, env


def run_seed(t, api, wecom, proxy):
    sinks, keys, env = seed_setup(t, api)
    kc = kubeconfig(t, api, token=t.secret("seed-api-token-42"))
    api.set_tokens({"seed-api-token-42"})
    env.update({"HTTPS_PROXY": proxy.url, "SSL_CERT_FILE": pki()["ca"]})
    k = t.ke(f"--source=kubernetes:?inClusterConfig=false&auth={kc}", *sinks, "--healthz-port=0", "-v=2",
             env=env)
    api.wait_for(lambda: api.open_watch_count() == 1, 15, "the event watch (after the templates)")
    # a template whose first fetch failed (a busy machine) does not hold start-up: wait for all three
    wait_until(lambda: k.count_log("using the template from ConfigMap") >= 3, 30, msg="the three templates")
    return k, keys


def robots(t):
    p = pki()
    wecom = WeCom(keys=(), certfile=p["robots"], keyfile=p["robots_key"])
    proxy = ConnectProxy(routes={"qyapi.weixin.qq.com:443": ("127.0.0.1", wecom.port)})
    t.cleanup(wecom.stop)
    t.cleanup(proxy.stop)
    return wecom, proxy


def by_key(wecom):
    out = {}
    for r in wecom.robot_messages:
        out.setdefault(r.param("key"), []).append(r.json())
    return out


def test_seed_three_sinks_verbatim(t):
    with KubeAPI(pki()) as api:
        wecom, proxy = robots(t)
        sinks, keys, _ = seed_setup(t, api)
        wecom.keys = set(keys.values())
        k, keys = run_seed(t, api, wecom, proxy)
        api.add_event(ns="kube-system", obj="coredns-1", reason="BackOff", message='Back-off "coredns"\nagain')
        api.add_event(ns="kube-system", obj="coredns-2", reason="Unhealthy", message="probe failed")
        api.add_event(ns="team-a", obj="api-7", reason="FailedMount", message="MountVolume.SetUp failed")
        api.add_event(ns="team-b", obj="job-1", reason="OOMKilling", message="Memory cgroup out of memory")
        api.add_event(ns="team-b", obj="job-2", reason="Unhealthy", message="Readiness probe failed")
        api.add_event(ns="default", obj="x", reason="Pulled", type_="Normal", message="ok")
        wecom.wait_messages(3, 10, kind="robot")
        time.sleep(0.5)
        got = by_key(wecom)
        eq(len(wecom.robot_messages), 3, f"one message per matching sink, rejected: {wecom.rejected}")
        eq(len(wecom.rejected), 0)
        plat = got[keys["KEY_PLATFORM"]][0]
        eq(plat["msgtype"], "text")
        check("EventReason:BackOff" in plat["text"]["content"], plat)
        check('EventMessage:Back-off "coredns"\nagain' in plat["text"]["content"], "quotes and newlines survive")
        check("+0800 CST" in plat["text"]["content"], "TZ=Asia/Shanghai from the Deployment")
        eq(plat["text"]["mentioned_list"], ["wangqing", "@all"])
        ta = got[keys["KEY_TEAM_A"]][0]
        check(ta["text"]["content"].startswith("[team-a] Pod/api-7 FailedMount (x1)\nMountVolume.SetUp failed\n"), ta)
        eq(ta["text"]["mentioned_mobile_list"], ["13800000000"])
        tb = got[keys["KEY_TEAM_B"]][0]
        eq(tb["msgtype"], "markdown")
        check(tb["markdown"]["content"].startswith("**OOMKilling** in <font color=\"warning\">team-b</font>"), tb)
        check(all(a == "qyapi.weixin.qq.com:443" for a in proxy.targets()), proxy.targets())
        check(len(proxy.targets()) >= 1, "sinks went through HTTPS_PROXY")
        k.stop()


def test_configmap_hot_reload(t):
    with KubeAPI(pki()) as api:
        wecom, proxy = robots(t)
        sinks, keys, _ = seed_setup(t, api)
        wecom.keys = set(keys.values())
        k, keys = run_seed(t, api, wecom, proxy)
        api.add_event(ns="team-a", obj="a1", reason="BackOff")
        wecom.wait_messages(1, 10, kind="robot")
        # an edit applies without a restart
        api.set_configmap("kube-system", "wecom-team-a-body",
                          {"content": '{"msgtype":"text","text":{"content":"v2 {{ .Reason }} {{ .InvolvedObject.Name }}"}}'})
        wait_until(lambda: k.count_log("using the template from ConfigMap kube-system/wecom-team-a-body") >= 2, 10,
                   msg="the edited template (after the start-up one)")
        api.add_event(ns="team-a", obj="a2", reason="BackOff")
        wecom.wait_messages(2, 10, kind="robot")
        eq(wecom.robot_bodies()[-1]["text"]["content"], "v2 BackOff a2")
        # an invalid edit keeps the previous template, and says why
        api.set_configmap("kube-system", "wecom-team-a-body", {"content": "{{ .Nope }}"})
        k.wait_log("invalid, keeping the previous one: 1:4: can't evaluate field Nope", 10)
        api.add_event(ns="team-a", obj="a3", reason="BackOff")
        wecom.wait_messages(3, 10, kind="robot")
        eq(wecom.robot_bodies()[-1]["text"]["content"], "v2 BackOff a3")
        eq(k.count_log("level=error"), 1, "one line for the bad edit")
        k.stop()


def test_missing_configmap_falls_back_and_picks_it_up_later(t):
    with KubeAPI(pki()) as api:
        wecom, proxy = robots(t)
        wecom.keys = {t.secret("late-key-123456")}
        kc = kubeconfig(t, api, token="t0")
        k = t.ke(f"--source=kubernetes:?inClusterConfig=false&auth={kc}",
                 "--sink=webhook:https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=late-key-123456&method=POST"
                 "&header=Content-Type=application/json&custom_body_configmap=later&custom_body_configmap_namespace=ops",
                 "--healthz-port=0", env={"HTTPS_PROXY": proxy.url, "SSL_CERT_FILE": pki()["ca"]})
        k.wait_log("ConfigMap ops/later: not found", 10)
        api.wait_for(lambda: api.open_watch_count() == 1, 15, "the event watch")
        api.set_configmap("ops", "later", {"content": '{"msgtype":"text","text":{"content":"late {{ .Reason }}"}}'})
        k.wait_log("using the template from ConfigMap ops/later", 10)
        api.add_event(ns="x", reason="BackOff")
        try:
            wecom.wait_messages(1, 10, kind="robot")
        except AssertionError:
            print(k.log_text()[-3000:])
            raise
        eq(wecom.robot_bodies()[0]["text"]["content"], "late BackOff")
        k.stop()
