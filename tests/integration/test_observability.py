"""Operability through the whole chain on the real SLURM: the API server
double -> interlink-vk -> interlink -> interlink-slurm -> tests/slurm's
single-node SLURM.  One pod runs to Succeeded; then every daemon's /metrics
passes `promtool check metrics` and its counters show what happened, and
(with OTEL_* set) the spans in otlp_receiver.py form one trace from the VK
down to the sbatch call.  About 20 s on the 2-core machine."""
import json
import os
import re
import shutil
import subprocess

import pytest

import harness as h
import otlp_receiver
import slurmutil as su
import vkutil
from vkutil import wait_for

PROMTOOL = shutil.which("promtool")


@pytest.fixture(scope="module")
def cluster():
    with su.module_cluster(cpus=4) as c:
        yield c


@pytest.fixture(scope="module")
def env(tmp_path_factory, cluster):
    d = str(tmp_path_factory.mktemp("observe"))
    receiver = otlp_receiver.Receiver().start()
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_TRACES_SAMPLER": "always_on",
            "OTEL_BSP_SCHEDULE_DELAY": "200"}
    saved = {k: os.environ.get(k) for k in otel}
    os.environ.update(otel)   # every Daemon inherits os.environ
    kube = stack = vk = None
    try:
        kube = vkutil.FakeKube(os.path.join(d, "kube"))
        stack = su.SlurmStack(os.path.join(d, "stack"), cluster).start()
        metrics_port = vkutil.free_port()
        vk = vkutil.VK(d, kube, stack, MetricsAddress="127.0.0.1",
                       MetricsPort=metrics_port).start()
        vk.metrics_addr = f"http://127.0.0.1:{metrics_port}"
        h.wait_for_socket(vk.metrics_addr, vk.proc)
        wait_for("Ready", lambda: (vkutil.condition(kube.node(), "Ready") or {}).get("status")
                 == "True", timeout=20)
        yield type("Env", (), {"kube": kube, "stack": stack, "vk": vk, "receiver": receiver,
                               "cluster": cluster})
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        code = vk.stop() if vk else 0
        if stack:
            stack.stop()
        if kube:
            kube.stop()
        receiver.stop()
        assert code == 0, vk.output()[-3000:]


def scrape(address):
    code, body = h.request(address, "GET", "/metrics")
    assert code == 200, body
    return body.decode()


def sample(text, name, **labels):
    """The value of one sample (labels matched as a subset), or None."""
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(have.get(k) == str(v) for k, v in labels.items()):
            return float(m.group(4))
    return None


def promtool_check(text):
    if not PROMTOOL:
        pytest.fail("promtool is missing: scripts/deps.sh test installs it (Debian prometheus)")
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, f"promtool check metrics:\n{r.stdout}{r.stderr}\n---\n{text}"


@pytest.fixture(scope="module")
def ran(env):
    """One pod, run to Succeeded; the metrics of every daemon before and after."""
    before = {"vk": scrape(env.vk.metrics_addr), "api": scrape(env.stack.api_addr),
              "plugin": scrape(env.stack.plugin_addr)}
    pod = env.kube.create_pod("traced", [{"name": "main", "image": "busybox",
                                          "command": ["/bin/sh", "-c", "sleep 2; echo hi"]}])
    done = wait_for("pod traced Succeeded",
                    lambda: vkutil.phase(env.kube.pod("traced")) == "Succeeded"
                    and env.kube.pod("traced"), timeout=90)
    after = {"vk": scrape(env.vk.metrics_addr), "api": scrape(env.stack.api_addr),
             "plugin": scrape(env.stack.plugin_addr)}
    return {"pod": pod, "done": done, "before": before, "after": after}


@pytest.mark.parametrize("daemon", ["vk", "api", "plugin"])
def test_promtool_accepts_every_daemons_metrics(ran, daemon):
    promtool_check(ran["before"][daemon])
    promtool_check(ran["after"][daemon])


def test_interlink_metrics_count_the_pod(ran):
    b, a = ran["before"]["api"], ran["after"]["api"]
    created = sample(a, "interlink_requests_total", endpoint="/create", code="200")
    assert created and created >= 1 + (sample(b, "interlink_requests_total", endpoint="/create",
                                              code="200") or 0), a
    assert sample(a, "interlink_request_seconds_count", endpoint="/status", code="200") > 0
    assert sample(a, "interlink_plugin_requests_total", endpoint="/create") >= 1
    assert sample(a, "interlink_plugin_request_seconds_count", endpoint="/create") >= 1
    assert sample(a, "interlink_pods") >= 1


def test_plugin_metrics_count_sbatch_and_the_pod(ran):
    a = ran["after"]["plugin"]
    assert sample(a, "interlink_backend_requests_total", backend="slurm", endpoint="/create",
                  code="200") >= 1, a
    assert sample(a, "interlink_backend_command_seconds_count", backend="slurm",
                  command="sbatch") >= 1, a
    assert sample(a, "interlink_backend_command_seconds_count", backend="slurm",
                  command="squeue") >= 1, a
    # The latest /status answer saw the pod Running or (last) Succeeded.
    assert (sample(a, "interlink_backend_pods", backend="slurm", phase="Succeeded") or 0) + \
        (sample(a, "interlink_backend_pods", backend="slurm", phase="Running") or 0) >= 1, a


def test_vk_metrics_count_the_pod(ran):
    b, a = ran["before"]["vk"], ran["after"]["vk"]
    assert sample(a, "interlink_vk_pods", phase="Succeeded") >= 1, a
    assert sample(a, "interlink_vk_pod_start_seconds_count") >= 1, a
    assert sample(a, "interlink_vk_status_cycle_seconds_count") > \
        sample(b, "interlink_vk_status_cycle_seconds_count"), a
    assert sample(a, "interlink_vk_apiserver_requests_total", verb="patch", code="200") >= 1, a
    assert sample(a, "interlink_vk_apiserver_requests_total", verb="watch", code="200") >= 1, a
    assert sample(a, "interlink_vk_queue_depth") == 0, a
    assert sample(a, "interlink_vk_events_queued") is not None, a


def test_vk_metrics_count_kubelet_api_requests(env, ran):
    """An unauthenticated caller is refused (401), and counted."""
    import http.client
    import ssl
    conn = http.client.HTTPSConnection("127.0.0.1", env.vk.kubelet_port, timeout=10,
                                       context=ssl._create_unverified_context())
    conn.request("GET", "/containerLogs/default/traced/main")
    assert conn.getresponse().status == 401
    conn.close()
    wait_for("the 401 counted", lambda: sample(
        scrape(env.vk.metrics_addr), "interlink_vk_kubelet_requests_total",
        endpoint="/containerLogs", code="401") == 1, timeout=30)


def test_vk_metrics_time_the_delete(env, ran):
    """delete -> gone: from the deletionTimestamp of a running pod to its
    removal once SLURM cancelled the job."""
    env.kube.create_pod("sleeper", [{"name": "main", "image": "busybox",
                                     "command": ["/bin/sh", "-c", "sleep 120"]}])
    wait_for("pod sleeper Running", lambda: vkutil.phase(env.kube.pod("sleeper")) == "Running",
             timeout=60)
    before = sample(scrape(env.vk.metrics_addr), "interlink_vk_pod_delete_seconds_count")
    env.kube.delete_pod("sleeper", gracePeriodSeconds=5)
    wait_for("pod sleeper gone", lambda: env.kube.pod("sleeper") is None, timeout=30)
    # Observed by the worker right after the removal: wait for it.
    a = wait_for("the delete observed", lambda: (lambda t: sample(
        t, "interlink_vk_pod_delete_seconds_count") == before + 1 and t)(
            scrape(env.vk.metrics_addr)), timeout=30)
    assert sample(a, "interlink_backend_command_seconds_count") is None   # not the VK's
    p = scrape(env.stack.plugin_addr)
    assert sample(p, "interlink_backend_command_seconds_count", command="scancel") >= 1, p
    # The backend delete is told as an Event, with the job id.
    wait_for("a Deleted event", lambda: [e for e in env.kube.events("sleeper")
                                         if e["reason"] == "Deleted" and "job" in e["message"]],
             timeout=30)


def test_one_pods_create_is_one_trace_down_to_sbatch(env, ran):
    uid = ran["pod"]["metadata"]["uid"]
    job = ran["done"]["metadata"]["annotations"]["JobID"]
    spans = wait_for("the create's trace with its sbatch span",
                     lambda: otlp_receiver.create_trace(env.receiver, uid), timeout=15)
    otlp_receiver.assert_create_trace(spans, uid, job, "default")


def test_a_dead_collector_costs_spans_not_requests(env, ran):
    env.receiver.fail = True
    try:
        before = sample(scrape(env.stack.api_addr), "interlink_trace_spans_dropped_total",
                        reason="export_failed")
        for _ in range(5):
            code, _body = h.request(env.stack.api_addr, "GET", "/pinglink", timeout=5)
            assert code == 200
        wait_for("failed exports counted", lambda: sample(
            scrape(env.stack.api_addr), "interlink_trace_spans_dropped_total",
            reason="export_failed") > before, timeout=10)
    finally:
        env.receiver.fail = False


def families(text):
    return set(re.findall(r"^# TYPE (\S+) ", text, re.M))


def test_alert_rules_and_dashboard_use_only_metrics_the_daemons_export(ran):
    root = os.environ.get("IL_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")
    rules = os.path.join(root, "deploy", "monitoring", "alerts.yml")
    if not PROMTOOL:
        pytest.fail("promtool is missing: scripts/deps.sh test installs it (Debian prometheus)")
    for argv in ([PROMTOOL, "check", "rules", rules],
                 [PROMTOOL, "test", "rules", os.path.join(root, "tests", "monitoring",
                                                          "alerts_test.yml")]):
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"{' '.join(argv)}:\n{r.stdout}{r.stderr}"
    exported = set().union(*(families(t) for t in ran["after"].values()))
    dashboard = open(os.path.join(root, "deploy", "monitoring", "grafana-dashboard.json")).read()
    exprs = [t["expr"] for p in json.loads(dashboard)["panels"] for t in p["targets"]]
    used = set(re.findall(r"\binterlink_[a-z_]+", open(rules).read() + "\n".join(exprs)))
    unknown = {u for u in used if re.sub(r"_(bucket|sum|count)$", "", u) not in exported
               and u not in exported}
    assert not unknown, f"not exported by any daemon: {sorted(unknown)}"


def test_json_logs_carry_the_trace_id_and_interlink_local_has_metrics(tmp_path):
    """LogFormat json on interlink and interlink-local: every line is one
    JSON object, and a line written while handling a traced request carries
    its trace id.  interlink-local's /metrics passes promtool too."""
    receiver = otlp_receiver.Receiver().start()
    saved = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.url
    stack = h.Stack(tmp_path, api_extra={"LogFormat": "json"},
                    plugin_extra={"LogFormat": "json"})
    try:
        stack.start()
    finally:
        if saved is None:
            os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT")
        else:
            os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = saved
    try:
        trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
        code, _ = h.request(stack.api_addr, "POST", "/create", body={"pod": {"bad": True}},
                            headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
        assert code == 400
        code, _ = h.request(stack.api_addr, "GET", "/pinglink")
        assert code == 200
        # Counted once the answer has gone out: a moment after interlink has it.
        text = wait_for("the plugin's /status counted", lambda: (lambda t: sample(
            t, "interlink_backend_requests_total", backend="local", endpoint="/status",
            code="200") and t)(scrape(stack.plugin_addr)), timeout=5)
        promtool_check(text)
        wait_for("the server span", lambda: [s for s in receiver.snapshot()
                                             if s["traceId"] == trace_id], timeout=10)
    finally:
        stack.stop()
        receiver.stop()
    for name in ("interlink.log", "plugin.log"):
        lines = [ln for ln in open(os.path.join(str(tmp_path), name)).read().splitlines()
                 if ln.strip()]
        assert lines, name
        records = [json.loads(ln) for ln in lines]   # every line is one object
        for r in records:
            assert {"time", "level", "daemon", "msg"} <= set(r), r
            assert r["level"] in ("debug", "info", "warn", "error"), r
    api = [json.loads(ln) for ln in open(os.path.join(str(tmp_path), "interlink.log"))
           if ln.strip()]
    traced = [r for r in api if r.get("trace_id") == trace_id]
    assert traced and any("/create" in r["msg"] for r in traced), api
    assert {r["daemon"] for r in api} == {"interlink"}
