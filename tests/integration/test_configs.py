"""Everything under configs/ is checked: manifests parse and say what matters,
and every template renders real recorded events into valid JSON."""
import glob
import json
import os

from harness import ROOT, check, eq, yaml_docs
from receivers import Recorder

CONFIGS = os.path.join(ROOT, "configs")
FIX = os.path.join(ROOT, "tests", "fixtures", "events")


def containers(doc):
    return doc["spec"]["template"]["spec"]["containers"]


def check_deployment(d, where):
    spec = d["spec"]["template"]["spec"]
    eq(spec["serviceAccountName"], "kube-eventer", where)
    check(spec["securityContext"]["runAsNonRoot"] is True, where + ": runAsNonRoot")
    c = containers(d)[0]
    sc = c["securityContext"]
    check(sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True, where + ": " + str(sc))
    eq(sc["capabilities"]["drop"], ["ALL"], where)
    eq(c["resources"]["requests"], {"cpu": "10m", "memory": "16Mi"}, where)
    check(c["resources"]["limits"]["memory"] in ("32Mi",), where)
    for probe in ("livenessProbe", "readinessProbe"):
        eq(c[probe]["httpGet"]["path"], "/healthz", f"{where}: {probe}")
        eq(c[probe]["httpGet"]["port"], 8084, f"{where}: {probe}")
    cmd = c["command"]
    eq(cmd[0], "/kube-eventer")
    eq(sum(a.startswith("--source=") for a in cmd), 1, where)
    check(any(a.startswith("--sink=") for a in cmd), where)


def test_manifests(t):
    files = sorted(glob.glob(os.path.join(CONFIGS, "*.yaml")))
    check(len(files) >= 5, files)
    seen_kinds = set()
    for f in files:
        docs = yaml_docs(f)
        for d in docs:
            seen_kinds.add(d["kind"])
            if d["kind"] == "Deployment":
                check_deployment(d, os.path.basename(f))
            if d["kind"] in ("ClusterRole", "Role"):
                rules = {r: set(x["verbs"]) for x in d["rules"] for r in x["resources"]}
                if "leases" in rules:  # leader election: exactly what lease.c does
                    eq(rules, {"leases": {"get", "create", "update"}}, os.path.basename(f))
                    continue
                for res in ("events", "configmaps"):
                    eq(rules.get(res), {"get", "list", "watch"}, f"{os.path.basename(f)}: {res}")
            if d["kind"] == "ConfigMap":
                check("content" in d["data"], f)
    check({"Deployment", "ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding", "ServiceAccount",
           "ConfigMap", "PodDisruptionBudget"} <= seen_kinds, seen_kinds)
    ha = {d["kind"]: d for d in yaml_docs(os.path.join(CONFIGS, "leader-election.yaml"))}
    eq(ha["Deployment"]["spec"]["replicas"], 2)
    check("--leader-elect" in containers(ha["Deployment"])[0]["command"])
    eq(ha["PodDisruptionBudget"]["spec"]["minAvailable"], 1)
    # the Deployment sets TZ as the official one does; the k3s file is self-contained
    dep = next(d for d in yaml_docs(os.path.join(CONFIGS, "deployment.yaml")) if d["kind"] == "Deployment")
    check({"name": "TZ", "value": "Asia/Shanghai"} in containers(dep)[0]["env"])
    eq({d["kind"] for d in yaml_docs(os.path.join(CONFIGS, "k3s.yaml"))},
       {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment"})


def test_systemd_unit(t):
    unit = open(os.path.join(CONFIGS, "kube-eventer.service")).read()
    for opt in ("DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "MemoryMax=",
                "LoadCredential=kubeconfig:/etc/rancher/k3s/k3s.yaml", "auth=%d/kubeconfig", "Restart=always"):
        check(opt in unit, opt)
    exec_start = unit.split("ExecStart=")[1].split("\nRestart")[0].replace("\\\n", " ")
    check("--healthz-ip=127.0.0.1" in exec_start)


def test_every_flag_line_passes_check(t):
    """Each Deployment's command line is valid kube-eventer configuration (--check)."""
    for f in sorted(glob.glob(os.path.join(CONFIGS, "*.yaml"))):
        for d in yaml_docs(f):
            if d["kind"] != "Deployment":
                continue
            args = [a.replace("$(", "").replace(")", "") for a in containers(d)[0]["command"][1:]]
            rc, out, err = t.run_ke("--check", *args)
            eq(rc, 0, f"{os.path.basename(f)}: {err}")
            check("configuration OK" in out)


def test_templates_render_real_events_to_valid_json(t):
    events = os.path.join(FIX, "message-pod-init-crashloop-backoff.json")
    n_events = len(json.load(open(events))["items"])
    templates = sorted(glob.glob(os.path.join(CONFIGS, "templates", "*.yaml"))) + [os.path.join(CONFIGS, "seed-wecom.yaml"),
                                                                                  os.path.join(CONFIGS, "k3s.yaml")]
    count = 0
    for f in templates:
        for d in yaml_docs(f):
            if d["kind"] != "ConfigMap":
                continue
            tpl = t.write(d["metadata"]["name"] + ".tmpl", d["data"]["content"])
            with Recorder() as r:
                rc, _, err = t.run_ke(f"--source=file:{events}", "--healthz-port=0",
                                      f"--sink=webhook:{r.url}?method=POST&level=Normal&header=Content-Type=application/json"
                                      f"&custom_body_file={tpl}", env={"TZ": "Asia/Shanghai"})
                eq(rc, 0, f"{d['metadata']['name']}: {err}")
                eq(r.total, n_events, d["metadata"]["name"])
                for q in r.requests:
                    body = q.json()  # raises on invalid JSON
                    check(isinstance(body, dict) and body, d["metadata"]["name"])
                    if "msgtype" in body:  # WeCom / DingTalk robots
                        check(body["msgtype"] in ("text", "markdown"), body)
                        part = body[body["msgtype"]]
                        content = part.get("content", part.get("text", ""))
                        check(content and len(content.encode()) <= 4096, "robot content limits")
                    count += 1
    check(count >= 8 * n_events, f"{count} bodies")
