"""Leader election: two real processes against the API emulator's Leases. Exactly one delivers;
a killed leader is replaced within the lease duration and the events created meanwhile arrive
exactly once; SIGTERM hands over at once; a leader cut off from the API server steps down."""
import json
import signal
import time

from harness import check, eq, kubeconfig, pki, wait_until
from kubeapi import KubeAPI

QUICK = ("test_exactly_one_replica_delivers",)

NS, NAME = "kube-system", "kube-eventer"
FAST = ("--leader-elect-lease-duration=3s", "--leader-elect-renew-deadline=2s",
        "--leader-elect-retry-period=500ms")


def replica(t, api, token, *timing):
    kc = kubeconfig(t, api, token=token, name=f"kubeconfig-{token}")
    return t.ke(f"--source=kubernetes:?inClusterConfig=false&auth={kc}",
                "--sink=stdout:?format=json&level=Normal&repeat_interval=0", "--healthz-ip=127.0.0.1",
                "--healthz-port=0", "--leader-elect", f"--leader-elect-resource-namespace={NS}",
                *(timing or FAST), env={"POD_NAME": f"pod-{token}"})


def delivered(k):
    return [json.loads(line)["name"] for line in list(k.stdout_lines) if line.startswith("{")]


def leader_of(api):
    return api.lease_holder(NS, NAME) or ""


def wait_leader(api, token, timeout=20):
    """Until pod-<token> holds the lease and its watch is open (events from before are not alerted)."""
    wait_until(lambda: leader_of(api).startswith(f"pod-{token}_"), timeout, msg=f"pod-{token} leading")
    api.wait_for(lambda: any(r.get("token") == token for r in api.watch_requests()) and
                 api.open_watch_count() >= 1, timeout, f"pod-{token}'s watch")


def add(api, tag, n):
    names = [f"{tag}-{i}" for i in range(n)]
    for name in names:
        api.add_event(ns="default", obj=name, reason="BackOff", message=f"{tag} event")
    return names


def test_exactly_one_replica_delivers(t):
    with KubeAPI(pki(), tokens={"ta", "tb"}) as api:
        a = replica(t, api, "ta")
        wait_leader(api, "ta")
        b = replica(t, api, "tb")
        wait_until(lambda: b.metric("eventer_leader", -1) == 0, 10, msg="b standing by")
        api.wait_for(lambda: api.open_watch_count() == 1, 10, "one watch: the leader's")
        names = add(api, "one", 5)
        wait_until(lambda: len(delivered(a)) == 5, 15, msg="the leader delivers")
        time.sleep(1)  # and the follower, nothing
        eq(delivered(b), [])
        eq(sorted(delivered(a)), sorted(names))
        eq((a.metric("eventer_leader"), b.metric("eventer_leader")), (1, 0))
        eq(b.get("/healthz")[0], 200, "standing by is healthy")
        # renewals keep the lease, and the record of what was delivered
        lease = api.lease(NS, NAME)
        check(lease["spec"]["leaseDurationSeconds"] == 3, lease)
        wait_until(lambda: api.lease(NS, NAME)["metadata"].get("annotations", {}).get(
            "kube-eventer/resource-version"), 10, msg="the handover record")


def test_a_killed_leader_is_replaced_and_nothing_is_lost_or_repeated(t):
    with KubeAPI(pki(), tokens={"ta", "tb"}) as api:
        a = replica(t, api, "ta")
        wait_leader(api, "ta")
        b = replica(t, api, "tb")
        first = add(api, "before", 5)
        wait_until(lambda: len(delivered(a)) == 5, 15, msg="a delivers")
        time.sleep(2.5)  # a renewal records that they are delivered
        a.proc.send_signal(signal.SIGKILL)
        a.wait(10)
        during = add(api, "during", 5)  # while nobody leads
        wait_leader(api, "tb", 20)
        after = add(api, "after", 5)
        wait_until(lambda: len(delivered(b)) >= 10, 20, msg="b delivers the gap and what follows")
        time.sleep(1)
        got = delivered(b)
        eq(sorted(got), sorted(during + after), "the gap exactly once, nothing a delivered")
        eq(sorted(delivered(a)), sorted(first))


def test_sigterm_hands_over_at_once(t):
    slow = ("--leader-elect-lease-duration=15s", "--leader-elect-renew-deadline=10s",
            "--leader-elect-retry-period=500ms")
    with KubeAPI(pki(), tokens={"ta", "tb"}) as api:
        a = replica(t, api, "ta", *slow)
        wait_leader(api, "ta")
        b = replica(t, api, "tb", *slow)
        add(api, "early", 3)
        wait_until(lambda: len(delivered(a)) == 3, 15, msg="a delivers")
        time.sleep(1.5)
        t0 = time.monotonic()
        eq(a.stop(), 0)
        holder = leader_of(api)
        check(holder == "" or holder.startswith("pod-tb_"), f"released on SIGTERM, holder {holder!r}")
        wait_leader(api, "tb", 10)
        check(time.monotonic() - t0 < 10, "well within the 15 s lease: the lease was released")
        late = add(api, "late", 3)
        wait_until(lambda: len(delivered(b)) == 3, 15, msg="b delivers")
        time.sleep(1)
        eq(sorted(delivered(b)), sorted(late))


def test_a_leader_cut_off_steps_down(t):
    with KubeAPI(pki(), tokens={"ta", "tb"}) as api:
        a = replica(t, api, "ta")
        wait_leader(api, "ta")
        b = replica(t, api, "tb")
        add(api, "pre", 2)
        wait_until(lambda: len(delivered(a)) == 2, 15, msg="a delivers")
        time.sleep(1.5)
        api.fail_token("ta", 503)  # a can reach nothing: not its watch, not the lease
        wait_until(lambda: a.metric("eventer_leader", -1) == 0, 10, msg="a steps down within its renew deadline")
        stepped_down = time.monotonic()
        wait_leader(api, "tb", 20)
        check(time.monotonic() - stepped_down > 0.5, "b took over only after a had stopped")
        mid = add(api, "mid", 3)
        wait_until(lambda: len(delivered(b)) >= 3, 20, msg="b delivers")
        api.heal_token("ta")
        time.sleep(2)
        eq(a.metric("eventer_leader"), 0, "b holds a valid lease: a stands by")
        eq(sorted(delivered(b)), sorted(mid))
        eq(len(delivered(a)), 2)
