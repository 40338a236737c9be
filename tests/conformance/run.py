#!/usr/bin/python3
"""Runs the public interLink conformance templates (vk-test-set) against
interlink-vk + interlink + interlink-local, on the real Kubernetes control
plane (tests/pylib/realkube.py: kube-apiserver, controller-manager and
kube-scheduler) when it is there, otherwise the API server double (tests/kube).
With --backend htcondor the node's plugin is interlink-htcondor on the real
HTCondor pool of ../shared/htcondor (tests/pylib/htcondorutil.py; exit 77,
skipped, when it is absent): every pod is an HTCondor job.

    /usr/bin/python3 tests/conformance/run.py --bin-dir build/bin [--ci] [-k 0[0-9]0] ...

What it does, as vk-test-set's `test_manifest` does (see README.md here):
render each template (Jinja2, or an equivalent renderer for the few constructs
the templates use) with the values of a vktest_config (default: interLink's
k3s CI config), split it at the `# VALIDATION` line, create every manifest
document through the API in file order (the pods' images rewritten to local
stand-ins, images.json), let kube-scheduler bind each pod (on the double,
which has no scheduler, the runner binds it to the node its nodeSelector and
tolerations allow),
and run the template's own ValidationProcedure: every check_pods then every
check_logs per iteration, 1 s apart, until all pass or timeout_seconds x
timeout_multiplier runs out; a pod Failed when another phase is expected, or
any API error (logs included), fails at once; then clean_configs.
"""
import argparse
import fnmatch
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
import urllib.parse
import uuid as uuidlib

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "pylib"))   # this script's dir is there already

import harness  # noqa: E402  (tests/pylib: daemons on unix sockets)
import localimages  # noqa: E402
import realkube  # noqa: E402
from vkutil import FakeKube  # noqa: E402

DEFAULT_SUITE = os.environ.get("IL_CONFORMANCE_SUITE") or os.path.abspath(
    os.path.join(REPO, "..", "shared", "conformance", "vk-test-set"))
NO_SUITE_EXIT = 77   # CTest's SKIP_RETURN_CODE: reported as skipped, not passed
DEFAULT_MAPPING = os.path.join(HERE, "images.json")
# The htcondor backend's jobs run as an ordinary account (HTCondor refuses
# root), which has no rootless podman here: the templates a podman node would
# run go to a node with ContainerRuntime apptainer, whose ApptainerPath is the
# apptainer double (tests/pylib/fake_apptainer.py; Apptainer cannot be
# installed here) and whose images are the stand-ins as sandbox directories.
FAKE_APPTAINER = os.path.join(REPO, "tests", "pylib", "fake_apptainer.py")
PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"


# ---------------------------------------------------------------------------------------------
# rendering

def _tojson(value):
    """Jinja2's |tojson: sorted keys, and <, >, &, ' escaped for HTML."""
    text = json.dumps(value, sort_keys=True)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("'", "\\u0027"))


_EXPR = re.compile(r"\{\{-?\s*([A-Za-z_][A-Za-z0-9_]*)\s*(\|\s*tojson\s*)?-?\}\}")


def render(text, values):
    """Jinja2 when python3-jinja2 is installed; otherwise an equivalent of it
    for `{{ name }}` and `{{ name | tojson }}`, refusing anything else."""
    try:
        import jinja2
    except ImportError:
        jinja2 = None
    if jinja2 is not None:
        return jinja2.Template(text).render(**values)
    for token in ("{%", "{#"):
        if token in text:
            raise ValueError(f"template uses {token!r}: install python3-jinja2")

    def sub(m):
        name, filt = m.group(1), m.group(2)
        if name not in values:
            return ""   # jinja2's Undefined renders empty
        v = values[name]
        return _tojson(v) if filt else str(v)
    out = _EXPR.sub(sub, text)
    if "{{" in out:
        raise ValueError("template uses an expression this renderer does not know: "
                         "install python3-jinja2")
    return out[:-1] if out.endswith("\n") else out   # jinja2 drops one trailing newline


def split_validation(rendered):
    """(manifest text, validation text) split at the first `#+ *validation` line."""
    lines = rendered.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if re.match(r"\s*#+ *validation", line, re.IGNORECASE):
            return "".join(lines[:i]), "".join(lines[i + 1:])
    return rendered, ""


# ---------------------------------------------------------------------------------------------
# the environment: API server double, interlink + interlink-local per runtime, a VK per runtime

class Node:
    """interlink + interlink-local (one runtime), or interlink-htcondor on
    `pool`, and an interlink-vk registering `name`."""

    def __init__(self, directory, kube, name, runtime, verbose, pool=None):
        self.name, self.runtime = name, runtime
        self.dir = directory
        if pool:
            import htcondorutil
            extra = {"VerboseLogging": bool(verbose)}
            if runtime == "podman":
                extra["ApptainerPath"] = os.path.join(os.path.dirname(directory), "apptainer")
            self.stack = htcondorutil.CondorStack(
                os.path.join(directory, "stack"), pool, plugin_extra=extra,
                runtime="apptainer" if runtime == "podman" else "none")
        else:
            self.stack = harness.Stack(os.path.join(directory, "stack"), runtime=runtime)
        self.stack.start()
        # interLink k3s CI's VK config (configs/k3s-ci-vk-config.yaml), pointed at our
        # interlink; the status period is shortened so the run stays quick.
        cfg = harness.write_yaml(os.path.join(directory, "vk.yaml"), {
            "InterlinkURL": self.stack.api_addr,
            "VerboseLogging": bool(verbose),
            "ErrorsOnlyLogging": False,
            "ServiceAccount": "virtual-kubelet",
            "Namespace": "default",
            "Resources": {"CPU": "100", "Memory": "128Gi", "Pods": "100"},
            "HTTP": {"Insecure": True},
            "KubeletHTTP": {"Insecure": True},
            "PingIntervalSeconds": 2,
            "StatusIntervalSeconds": 1,
        })
        self.vk = harness.Daemon(
            [harness.binary("interlink-vk"), "--config", cfg, "--nodename", name],
            os.path.join(directory, "vk.log"),
            env={"KUBECONFIG": kube.kubeconfig, "KUBELET_PORT": str(harness.free_port()),
                 "POD_IP": "127.0.0.1"}).start()

    def stop(self):
        """Stop the three daemons; a list of what was wrong with how they ended
        (a status other than 0 on SIGTERM, a sanitizer report in a log)."""
        problems = []
        try:
            # raises when it does not stop within the grace time
            problems += self.vk.stop_and_check(must_be_running=True)
        finally:
            problems += self.stack.stop_and_check(must_be_running=True)
            if getattr(self.stack, "data", None):
                shutil.rmtree(self.stack.data, ignore_errors=True)
        return problems


class Env:
    def __init__(self, workdir, node_prefix, verbose=False, kube="auto", pool=None):
        self.workdir = workdir
        self.node_prefix = node_prefix
        self.verbose = verbose
        self.pool = pool           # htcondorutil.Pool: the htcondor backend
        self.real = kube == "real" or (kube == "auto" and realkube.unavailable() is None)
        if self.real:
            self.kube = realkube.RealKube()
        else:
            # kubelet-serving CSRs approved as the CI setup script does
            self.kube = FakeKube(os.path.join(workdir, "kube"), args=("--auto-approve-csr",))
        self.nodes = {}
        self.created = []          # (plural path, name) of everything applied, for teardown

    def node(self, runtime):
        """The node (started on first use) whose plugin has this runtime."""
        if runtime not in self.nodes:
            name = f"{self.node_prefix}-{runtime}"
            if self.pool:
                name = f"{self.node_prefix}-htcondor" + ("-apptainer" if runtime == "podman"
                                                         else "")
            n = Node(os.path.join(self.workdir, runtime), self.kube, name, runtime, self.verbose,
                     self.pool)
            self.nodes[runtime] = n
            harness.wait_for(f"node {name} Ready",
                             lambda: node_ready(self.get(f"/api/v1/nodes/{name}")),
                             timeout=60, interval=0.2)
        return self.nodes[runtime]

    # -- API --------------------------------------------------------------------------------
    def get(self, path):
        code, body = self.kube.api.get(path)
        return body if code == 200 else None

    def raw_get(self, path, params):
        """GET returning (status, text): pod logs must not go through a JSON decoder."""
        api = self.kube.api
        conn = api._conn(timeout=60)
        try:
            conn.request("GET", path + "?" + urllib.parse.urlencode(params),
                         headers=api._headers())
            resp = conn.getresponse()
            return resp.status, resp.read().decode("utf-8", errors="replace")
        finally:
            conn.close()

    def stop(self, keep_pods=False):
        """Stop everything; one row per node saying whether its daemons ended
        cleanly (exit 0 on SIGTERM, no ASan/UBSan/LSan report in their logs)."""
        rows = []
        try:
            if not keep_pods:
                self.delete_leftovers()
        finally:
            for rt, n in self.nodes.items():
                try:
                    problems = n.stop()
                except Exception as e:   # keep stopping the others
                    problems = [f"stopping node {n.name}: {e!r}"]
                rows.append({"template": f"clean_exit[{n.name}]", "runtime": rt, "seconds": 0,
                             "result": FAIL if problems else PASS,
                             "reason": "; ".join(problems) if problems else
                             "0 on SIGTERM, no sanitizer report"})
            self.kube.stop()
            harness.kill_processes_under(self.workdir)
            if self.pool:
                self.pool.down()
        return rows

    def delete_leftovers(self):
        """Pods the templates keep (cleanup onSuccess after a failure, or never):
        deleted through the API so every backend job is removed by the VK."""
        pods = [(p, n) for p, n in self.created if p.endswith("/pods")]
        for path, name in pods:
            self.kube.api.delete(f"{path}/{name}")
        try:
            harness.wait_for("leftover pods deleted by the VKs",
                             lambda: all(self.get(f"{p}/{n}") is None for p, n in pods),
                             timeout=60, interval=0.2)
        except AssertionError as e:
            print(f"warning: {e}", file=sys.stderr)


def node_ready(node):
    for c in ((node or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


# ---------------------------------------------------------------------------------------------
# applying manifests (kubernetes.utils.create_from_yaml) and scheduling

def collection_path(doc):
    api_version = doc.get("apiVersion", "v1")
    kind = doc.get("kind", "")
    plural = kind.lower() + ("es" if kind.lower().endswith("s") else "s")
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    if kind == "Namespace":
        return f"{base}/namespaces"
    ns = (doc.get("metadata") or {}).get("namespace") or "default"
    return f"{base}/namespaces/{ns}/{plural}"


def tolerates(tolerations, taint):
    for t in tolerations or []:
        if t.get("effect") and t["effect"] != taint.get("effect"):
            continue
        if not t.get("key"):
            if t.get("operator") == "Exists":
                return True
            continue
        if t["key"] != taint.get("key"):
            continue
        if t.get("operator") == "Exists" or t.get("value", "") == taint.get("value", ""):
            return True
    return False


def schedule(env, pod):
    """What kube-scheduler would do for these pods: the Ready nodes whose labels
    match spec.nodeSelector and whose NoSchedule/NoExecute taints the pod
    tolerates; bind to the first.  Returns None or why the pod stays Pending."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return None
    code, nodes = env.kube.api.get("/api/v1/nodes")
    why = []
    for node in sorted((nodes or {}).get("items") or [], key=lambda n: n["metadata"]["name"]):
        name = node["metadata"]["name"]
        labels = node["metadata"].get("labels") or {}
        sel = spec.get("nodeSelector") or {}
        if any(labels.get(k) != v for k, v in sel.items()):
            why.append(f"{name}: node selector does not match")
            continue
        untolerated = [t for t in (node.get("spec") or {}).get("taints") or []
                       if t.get("effect") in ("NoSchedule", "NoExecute")
                       and not tolerates(spec.get("tolerations"), t)]
        if untolerated:
            why.append(f"{name}: untolerated taint {untolerated[0].get('key')}")
            continue
        if not node_ready(node):
            why.append(f"{name}: not Ready")
            continue
        ns = pod["metadata"]["namespace"]
        code, body = env.kube.api.post(
            f"/api/v1/namespaces/{ns}/pods/{pod['metadata']['name']}/binding",
            {"apiVersion": "v1", "kind": "Binding",
             "metadata": {"name": pod["metadata"]["name"]},
             "target": {"apiVersion": "v1", "kind": "Node", "name": name}})
        if code != 201:
            return f"binding to {name} failed: {code} {body}"
        return None
    return "unschedulable: " + "; ".join(why or ["no nodes"])


def map_images(doc, mapping):
    """Point every container of a Pod (or a pod template) at its local image."""
    spec = doc.get("spec") or {}
    if doc.get("kind") != "Pod":
        spec = ((spec.get("template") or {}).get("spec")) or {}
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if c.get("image") in mapping:
            c["image"] = mapping[c["image"]]


def apply(env, docs, image_map):
    """Create every document in file order; returns scheduling problems."""
    problems = []
    for doc in docs:
        if not doc:
            continue
        map_images(doc, image_map)
        path = collection_path(doc)
        code, body = env.kube.api.post(path, doc)
        if code != 201:
            raise ApiFailure(f"create {doc.get('kind')} {doc['metadata'].get('name')}: "
                             f"{code} {status_message(body)}")
        env.created.append((path, body["metadata"]["name"]))
        if doc.get("kind") == "Pod" and not env.real:
            why = schedule(env, body)
            if why:
                problems.append(f"pod {body['metadata']['name']}: {why}")
    return problems


# ---------------------------------------------------------------------------------------------
# ValidationProcedure (vktestset/ValidationProcedure.py semantics)

class RecoverableError(Exception):
    pass


class TestFailure(Exception):
    pass


class ApiFailure(Exception):
    """The Kubernetes client raised: vk-test-set fails the test at once."""


def status_message(body):
    return body.get("message") if isinstance(body, dict) else str(body)[:300]


def pod_summary(pod):
    st = pod.get("status") or {}
    parts = [f"phase={st.get('phase')}"]
    if st.get("reason") or st.get("message"):
        parts.append(f"reason={st.get('reason')} message={st.get('message')!r}")
    for key in ("initContainerStatuses", "containerStatuses"):
        for cs in st.get(key) or []:
            state = cs.get("state") or {}
            for k, v in state.items():
                if v is None:
                    continue   # the VK writes the other two states as null
                extra = ""
                if k == "terminated":
                    extra = f" exit={v.get('exitCode')} reason={v.get('reason')}"
                    if v.get("message"):
                        extra += f" message={v['message'][:200]!r}"
                elif v.get("reason"):
                    extra = f" reason={v.get('reason')} message={(v.get('message') or '')[:200]!r}"
                parts.append(f"{cs['name']}:{k}{extra}")
    return ", ".join(parts)


def check_pod(env, chk):
    ns, name = chk["namespace"], chk["name"]
    want = chk.get("status", "Succeeded")
    code, pod = env.kube.api.get(f"/api/v1/namespaces/{ns}/pods/{name}")
    if code != 200:
        raise ApiFailure(f"read pod {ns}/{name}: {code} {status_message(pod)}")
    phase = (pod.get("status") or {}).get("phase")
    if want != "Failed" and phase == "Failed":
        raise TestFailure(f"pod {name} failed: {pod_summary(pod)}")
    if phase != want:
        raise RecoverableError(f"pod {name}: want phase {want}; {pod_summary(pod)}")


def read_log(env, chk, via):
    """(status, text) of a container's log: through the API server and the
    node's kubelet API (what `kubectl logs` and vk-test-set do), or, in the
    diagnostic mode, straight from the node's interlink (/getLogs)."""
    ns, name = chk["namespace"], chk["name"]
    if via == "kubelet":
        params = {"insecureSkipTLSVerifyBackend": "true"}
        if chk.get("container"):
            params["container"] = chk["container"]
        return env.raw_get(f"/api/v1/namespaces/{ns}/pods/{name}/log", params)
    code, pod = env.kube.api.get(f"/api/v1/namespaces/{ns}/pods/{name}")
    if code != 200:
        return code, str(pod)
    spec = pod["spec"]
    container = chk.get("container")
    if not container:
        if len(spec["containers"]) != 1:
            return 400, "a container name must be specified"
        container = spec["containers"][0]["name"]
    node = next((n for n in env.nodes.values() if n.name == spec.get("nodeName")), None)
    if node is None:
        return 400, f"pod {name} is not on one of our nodes"
    code, body = node.stack.logs(harness.log_struct(pod, container))
    return code, body.decode("utf-8", errors="replace")


def check_logs(env, chk, via="kubelet"):
    ns, name = chk["namespace"], chk["name"]
    code, log = read_log(env, chk, via)
    if code != 200:
        try:
            log = json.loads(log).get("message") or log
        except (ValueError, AttributeError):
            pass
        raise ApiFailure(f"read log {ns}/{name} container={chk.get('container')}"
                         f"{' (via interlink /getLogs)' if via != 'kubelet' else ''}: {code} "
                         f"{log[:300]}")
    matches = re.findall(chk["regex"], log)
    op, value = chk.get("operator", "Exists"), chk.get("value")
    where = f"log of {name}/{chk.get('container') or '(only container)'}"
    if op == "Exists" and len(matches) <= 0:
        raise RecoverableError(f"{chk['regex']!r} not in the {where}: {log[-600:]!r}")
    if op in ("CountAtLeast", "CountExactly") and len(matches) < int(value):
        raise RecoverableError(f"{chk['regex']!r} found {len(matches)} < {value} times in the {where}")
    if op in ("CountAtMost", "CountExactly") and len(matches) > int(value):
        raise TestFailure(f"{chk['regex']!r} found {len(matches)} > {value} times in the {where}")
    if op == "Is" and str(value) not in matches:
        raise RecoverableError(f"{chk['regex']!r} matched {matches}, want {value!r} ({where})")


def cleanup(env, cfg, succeeded):
    cond = cfg.get("condition", "always")
    if not ((succeeded and cond in ("always", "onSuccess"))
            or (not succeeded and cond in ("always", "onFailure"))):
        return
    plural = {"pod": "pods", "service": "services", "config_map": "configmaps",
              "secret": "secrets"}.get(cfg["type"])
    if cfg["type"] == "namespace":
        path = f"/api/v1/namespaces/{cfg['name']}"
    else:
        path = f"/api/v1/namespaces/{cfg['namespace']}/{plural}/{cfg['name']}"
    code, body = env.kube.api.delete(path)
    if code not in (200, 202):
        # the python client raises here too, after the verdict is known
        raise ApiFailure(f"cleanup delete {cfg['type']} {cfg['name']}: {code} {status_message(body)}")


def diagnose_logs(env, proc):
    """After a failed kubelet-API log read: would the backend's own logs (interlink
    /getLogs) satisfy the template's log checks?  Information only."""
    bad = []
    for chk in proc.get("check_logs") or []:
        try:
            check_logs(env, chk, via="interlink")
        except (RecoverableError, TestFailure, ApiFailure) as e:
            bad.append(str(e)[:300])
    n = len(proc.get("check_logs") or [])
    if not bad:
        return f"[diagnosis: read from interlink /getLogs instead, all {n} log checks pass]"
    return f"[diagnosis: read from interlink /getLogs, {len(bad)}/{n} log checks fail: {bad[0]}]"


def validate(env, proc, multiplier, logs_via="kubelet", deadline=None):
    """Returns (succeeded, detail).  deadline (time.monotonic()) cuts the
    template's timeout short: the run's --budget."""
    timeout = float(proc["timeout_seconds"]) * multiplier
    start = time.monotonic()
    cut = deadline is not None and start + timeout > deadline
    if cut:
        timeout = max(0.0, deadline - start)
    succeeded, detail = False, None
    try:
        while time.monotonic() - start < timeout:
            try:
                for chk in proc.get("check_pods") or []:
                    check_pod(env, chk)
                for chk in proc.get("check_logs") or []:
                    check_logs(env, chk, logs_via)
            except RecoverableError as e:
                detail = str(e)
                time.sleep(1)
            else:
                succeeded = True
                break
        else:
            limit = (f"{timeout:.0f} s (cut short: the run's --budget is spent)" if cut
                     else f"{proc['timeout_seconds']} s x {multiplier:g}")
            detail = f"validation failed after {limit}; last: {detail}"
    except TestFailure as e:
        detail = str(e)
    except ApiFailure as e:
        detail = str(e)
        if logs_via == "kubelet" and "read log" in detail:
            detail += " " + diagnose_logs(env, proc)
    finally:
        cleanup_errors = []
        for cfg in proc.get("clean_configs") or []:
            try:
                cleanup(env, cfg, succeeded)
            except ApiFailure as e:
                cleanup_errors.append(str(e))
        if cleanup_errors and succeeded:
            succeeded, detail = False, "; ".join(cleanup_errors)
    return succeeded, detail


# ---------------------------------------------------------------------------------------------
# templates

class Template:
    def __init__(self, name, path, source, in_ci):
        self.name, self.path, self.source, self.in_ci = name, path, source, in_ci

    @property
    def label(self):
        return self.name if self.source != "removed-upstream" else f"removed/{self.name}"


def discover(suite_dir, variant):
    """The templates in vktestset's sorted order; variant 'ci' copies the
    interLink e2e overrides over them as k3s-test-run.sh does."""
    exp = json.load(open(os.path.join(suite_dir, "expectations.json")))
    in_ci = {t["template"]: t.get("runs_in_interlink_k3s_ci", False) for t in exp["upstream"]}
    out = []
    tdir = os.path.join(suite_dir, "templates")
    for name in sorted(os.listdir(tdir)):
        if not name.endswith(".yaml"):
            continue
        path, source = os.path.join(tdir, name), "upstream"
        override = os.path.join(suite_dir, "e2e-overrides", name)
        if variant == "ci" and os.path.exists(override):
            path, source = override, "e2e-override"
        out.append(Template(name, path, source, in_ci.get(name, False)))
    rdir = os.path.join(suite_dir, "removed-upstream")
    if os.path.isdir(rdir):
        for name in sorted(os.listdir(rdir)):
            if name.endswith(".yaml"):
                out.append(Template(name, os.path.join(rdir, name), "removed-upstream", False))
    return out


def leaves_running_pods(tmpl):
    """True when the template's checks expect a pod Running: its cleanup then
    deletes a live pod, which takes up to terminationGracePeriodSeconds (30 s
    by default; a shell as PID 1 ignores SIGTERM, here as on a kubelet)."""
    text = open(tmpl.path, encoding="utf-8").read()
    return re.search(r"^\s*status:\s*Running\b", split_validation(text)[1], re.M) is not None


def run_order(templates):
    """Templates that leave Running pods first, so their pods' graceful
    termination overlaps the other templates instead of the final wait for
    every pod to be gone; otherwise vk-test-set's (sorted) order.  Templates
    are independent (own names per uuid) and the table keeps the sorted order."""
    return sorted(templates, key=lambda t: not leaves_running_pods(t))


def template_images(docs):
    imgs = []
    for doc in docs:
        spec = (doc or {}).get("spec") or {}
        if (doc or {}).get("kind") != "Pod":
            spec = ((spec.get("template") or {}).get("spec")) or {}
        for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            if c.get("image") not in imgs:
                imgs.append(c.get("image"))
    return imgs


class Runner:
    def __init__(self, env, config, mapping, multiplier=None, run_unsupported=False,
                 podman_reason=None, logs_via="kubelet", strict=False, budget=None):
        self.env = env
        self.strict = strict
        self.deadline = time.monotonic() + budget if budget else None
        self.budget = budget
        self.logs_via = logs_via
        self.config = config
        self.values = dict(config.get("values") or {})
        self.multiplier = float(multiplier if multiplier is not None
                                else config.get("timeout_multiplier", 1.0))
        self.mapping = mapping
        self.run_unsupported = run_unsupported
        self.podman_reason = podman_reason
        self.built = {}

    def plan(self, tmpl, docs):
        """(runtime, {image: local ref}) or raise Skip(reason)."""
        tcfg = self.mapping["templates"].get(tmpl.name, {})
        if tcfg.get("skip") and not (tcfg["skip"] == "unsupported" and self.run_unsupported):
            raise Skip(tcfg["why"], declared=True)
        images = template_images(docs)
        icfg = {i: self.mapping["images"].get(i) for i in images}
        unknown = [i for i, c in icfg.items() if c is None]
        if unknown:
            raise Skip(f"no local stand-in for image {unknown[0]} (add it to images.json)")
        for i, c in icfg.items():
            if c.get("unavailable"):
                raise Skip(f"image {i}: {c['unavailable']}", declared=True)
        runtime = tcfg.get("runtime", self.mapping.get("default_runtime", "podman"))
        if runtime == "podman" and self.podman_reason and self.strict:
            raise Skip(f"podman cannot run containers here: {self.podman_reason}")
        if runtime == "podman" and self.podman_reason:
            no_host = [i for i, c in icfg.items() if not c.get("host")]
            if no_host:
                raise Skip(f"podman unusable ({self.podman_reason}) and image {no_host[0]} cannot "
                           f"run on the host runtime: {icfg[no_host[0]].get('host_why')}")
            runtime = "host"
        if runtime == "host":
            return runtime, {}
        refs = {}
        for i, c in icfg.items():
            recipe = c["recipe"]
            if recipe not in self.built:
                try:
                    self.built[recipe] = localimages.sandbox(recipe, self.env.workdir) \
                        if self.env.pool else localimages.ensure(recipe)
                except localimages.ImageUnavailable as e:
                    self.built[recipe] = e
            if isinstance(self.built[recipe], Exception):
                raise Skip(f"image {i}: the local stand-in cannot be built: {self.built[recipe]}")
            refs[i] = self.built[recipe]
        return runtime, refs

    def run(self, tmpl):
        """Returns a result dict: template, runtime, result, reason, seconds."""
        t0 = time.monotonic()
        res = {"template": tmpl.label, "runtime": "-", "result": None, "reason": "",
               "in_ci": tmpl.in_ci, "source": tmpl.source}
        if self.deadline is not None and t0 >= self.deadline:
            res.update(result=FAIL, seconds=0,
                       reason=f"not run: the run's --budget of {self.budget:g} s is spent")
            return res
        try:
            text = open(tmpl.path, encoding="utf-8").read()
            # a first render to learn the images (the node name does not change them)
            probe = render(text, {**self.values, "uuid": "x", "target_node": "x"})
            runtime, refs = self.plan(tmpl, list(yaml.safe_load_all(split_validation(probe)[0])))
            res["runtime"] = runtime
            node = self.env.node(runtime)
            values = {**self.values, "uuid": str(uuidlib.uuid4()), "target_node": node.name}
            manifest, validation = split_validation(render(text, values))
            docs = list(yaml.safe_load_all(manifest))
            proc = yaml.safe_load(validation) or {}
            problems = apply(self.env, docs, refs)
            ok, detail = validate(self.env, proc, self.multiplier, self.logs_via, self.deadline)
            if ok:
                res["result"] = PASS
            else:
                res["result"] = FAIL
                res["reason"] = detail + ("; " + "; ".join(problems) if problems else "")
        except Skip as e:
            if self.strict and not e.declared:
                res["result"] = FAIL
                res["reason"] = f"cannot run here (--strict: only images.json may skip): {e}"
            else:
                res["result"], res["reason"] = SKIP, str(e)
        except ApiFailure as e:
            res["result"], res["reason"] = FAIL, str(e)
        except Exception as e:   # a harness problem: report it as a failure with the trace
            res["result"] = FAIL
            res["reason"] = f"runner error: {e!r}\n{traceback.format_exc()}"
        res["seconds"] = round(time.monotonic() - t0, 1)
        return res


class Skip(Exception):
    """The template is not run.  declared: images.json says so (a feature or
    image this kind of machine cannot have); otherwise something is missing
    on this machine (podman, a stand-in image), which --strict makes a FAIL."""

    def __init__(self, reason, declared=False):
        super().__init__(reason)
        self.declared = declared


# ---------------------------------------------------------------------------------------------
# command line

def load_mapping(path):
    with open(path) as f:
        return json.load(f)


def select(templates, patterns, ci_only):
    out = []
    for t in templates:
        if ci_only and not t.in_ci:
            continue
        if patterns and not any(fnmatch.fnmatch(t.name, p) or fnmatch.fnmatch(t.name, p + "*")
                                or p in t.name for p in patterns):
            continue
        out.append(t)
    return out


def print_table(rows, out=sys.stdout):
    w1 = max([len("template")] + [len(r["template"]) for r in rows])
    w2 = max([len("runtime")] + [len(r["runtime"]) for r in rows])
    out.write(f"{'template':<{w1}} | {'runtime':<{w2}} | result | reason\n")
    out.write(f"{'-' * w1}-+-{'-' * w2}-+--------+-------\n")
    for r in rows:
        reason = r["reason"] or f"{r['seconds']} s"
        first, *rest = reason.splitlines() or [""]
        out.write(f"{r['template']:<{w1}} | {r['runtime']:<{w2}} | {r['result']:<6} | {first}\n")
        for line in rest:
            out.write(f"{'':<{w1}} | {'':<{w2}} |        |   {line}\n")
    n = {k: sum(1 for r in rows if r["result"] == k) for k in (PASS, FAIL, SKIP)}
    out.write(f"{n[PASS]} passed, {n[FAIL]} failed, {n[SKIP]} skipped\n")
    out.flush()
    return n


def htcondor_pool():
    """The started pool of ../shared/htcondor, or a reason it cannot be had."""
    import htcondorutil
    if not os.path.isfile(os.path.join(htcondorutil.CONDOR_HOME, "start.sh")):
        return None, f"no HTCondor pool here ({htcondorutil.CONDOR_HOME} is absent)"
    pool = htcondorutil.Pool().up()
    if pool.error:
        pool.down()
        return None, f"the HTCondor pool cannot start here: {pool.error}"
    return pool, None


def setup_env(args, config, pool=None):
    harness.BIN_DIR = os.path.abspath(args.bin_dir)
    plugin = "interlink-htcondor" if pool else "interlink-local"
    for b in ("interlink", plugin, "interlink-vk"):
        harness.binary(b)   # fails early with the path when not built
    workdir = args.work_dir or tempfile.mkdtemp(prefix="il-conformance-")
    os.makedirs(workdir, exist_ok=True)
    os.chmod(workdir, 0o755)   # htcondor: the jobs' account reaches the pods' files
    if pool:
        shutil.copy(FAKE_APPTAINER, os.path.join(workdir, "apptainer"))
        os.chmod(os.path.join(workdir, "apptainer"), 0o755)
    env = Env(workdir, args.node_prefix, verbose=args.verbose, kube=args.kube, pool=pool)
    print(f"conformance: on {'the real control plane' if env.real else 'the API server double'}",
          file=sys.stderr)
    ns = (config.get("values") or {}).get("namespace", "default")
    if env.get(f"/api/v1/namespaces/{ns}") is None:   # CI creates it in its setup
        code, body = env.kube.api.post("/api/v1/namespaces", {"metadata": {"name": ns}})
        if code != 201:
            raise RuntimeError(f"cannot create namespace {ns}: {code} {body}")
    return env


def preflight(env, config, runtimes):
    """vk-test-set's test_namespace_exists and test_node_exists."""
    rows = []
    code, nss = env.kube.api.get("/api/v1/namespaces")
    names = {n["metadata"]["name"] for n in (nss or {}).get("items") or []}
    for ns in config.get("required_namespaces") or []:
        rows.append({"template": f"namespace_exists[{ns}]", "runtime": "-", "seconds": 0,
                     "result": PASS if ns in names else FAIL,
                     "reason": "" if ns in names else f"namespace {ns} missing"})
    for rt in runtimes:
        name = env.node(rt).name
        ok = env.get(f"/api/v1/nodes/{name}") is not None
        rows.append({"template": f"node_exists[{name}]", "runtime": rt, "seconds": 0,
                     "result": PASS if ok else FAIL, "reason": "" if ok else "no Node object"})
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin-dir", default=os.path.join(REPO, "build", "bin"))
    p.add_argument("--suite", default=DEFAULT_SUITE, help="the vk-test-set directory")
    p.add_argument("--config", default=None,
                   help="vktest_config file (default: SUITE/configs/vktest_config.k3s-ci.yaml)")
    p.add_argument("--mapping", default=DEFAULT_MAPPING, help="image/runtime mapping (images.json)")
    p.add_argument("--variant", choices=("ci", "upstream"), default="ci",
                   help="ci: interLink's e2e overrides replace 030/085/095 (default); upstream: as published")
    p.add_argument("--ci", action="store_true", help="only the templates interLink's k3s CI runs")
    p.add_argument("-k", dest="patterns", action="append", default=[],
                   help="run templates whose file name matches (glob or substring); repeatable")
    p.add_argument("--run-unsupported", action="store_true",
                   help="also run templates skipped for a feature interlink does not implement")
    p.add_argument("--timeout-multiplier", type=float, default=None,
                   help="override the config's timeout_multiplier")
    p.add_argument("--logs-via", choices=("kubelet", "interlink"), default="kubelet",
                   help="kubelet: logs through the API server and the VK's kubelet API, as "
                        "vk-test-set reads them (default); interlink: DIAGNOSTIC ONLY, read them "
                        "from interlink /getLogs, bypassing the VK")
    p.add_argument("--strict", action="store_true",
                   help="only the skips images.json declares are allowed: a template that cannot "
                        "run here (podman unusable, a stand-in image that cannot be built) FAILS "
                        "instead of being skipped or moved to the host runtime (CTest runs this)")
    p.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                   help="stop waiting after this long in all: the running template's timeout is "
                        "cut short and the rest FAIL as not run (CTest: 600)")
    p.add_argument("--node-prefix", default="virtual-kubelet")
    p.add_argument("--backend", choices=("local", "htcondor"), default="local",
                   help="the node's plugin: interlink-local (podman and host nodes, default) or "
                        "interlink-htcondor on the HTCondor pool of ../shared/htcondor (one "
                        "node; exit 77 when the pool is absent)")
    p.add_argument("--kube", choices=("auto", "real", "double"), default="auto",
                   help="the API server: the real control plane (realkube.py), the double, or "
                        "the real one when ../shared/k8s is there (default)")
    p.add_argument("--work-dir", default=None, help="keep daemons' files here (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the work dir and leftover pods")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("-v", "--verbose", action="store_true", help="daemons log at debug level")
    args = p.parse_args(argv)
    # SIGTERM: unwind through the finally below, so every daemon and pod is stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    if not os.path.isfile(os.path.join(args.suite, "expectations.json")):
        print(f"conformance: SKIPPED: no vk-test-set at {args.suite} (it is not part of this "
              f"repository: --suite or IL_CONFORMANCE_SUITE)", file=sys.stderr)
        return NO_SUITE_EXIT
    config_path = args.config or os.path.join(args.suite, "configs", "vktest_config.k3s-ci.yaml")
    with open(config_path) as f:
        config = yaml.safe_load(f)
    mapping = load_mapping(args.mapping)
    templates = select(discover(args.suite, args.variant), args.patterns, args.ci)
    pool = None
    if args.backend == "htcondor":
        pool, why = htcondor_pool()
        if not pool:
            print(f"conformance: SKIPPED: {why}", file=sys.stderr)
            return NO_SUITE_EXIT
    podman_reason = None if pool else localimages.podman_usable()
    if pool:
        print("note: htcondor backend: the podman templates run with ContainerRuntime "
              "apptainer (the apptainer double of tests/pylib)", file=sys.stderr)
    elif podman_reason:
        print(f"note: podman unusable, {'its templates FAIL' if args.strict else 'host runtime only'}"
              f": {podman_reason}", file=sys.stderr)

    try:
        env = setup_env(args, config, pool)
    except BaseException:
        if pool:
            pool.down()
        raise
    rows, results, broken = [], {}, []
    try:
        runner = Runner(env, config, mapping, args.timeout_multiplier, args.run_unsupported,
                        podman_reason, args.logs_via, args.strict, args.budget)
        if args.logs_via != "kubelet":
            print("DIAGNOSTIC MODE: logs are read from interlink /getLogs, not through the "
                  "kubelet API; these results are not conformance results")
        runtimes = ["podman", "host"] if not podman_reason else ["host"]
        rows += preflight(env, config, runtimes)
        for t in run_order(templates):
            r = results[t.label] = runner.run(t)
            if args.verbose:
                print(f"{r['template']}: {r['result']} {r['reason'] or ''}", file=sys.stderr)
    except Exception as e:   # the environment broke (a node never Ready...): still a table
        broken.append({"template": "(runner)", "runtime": "-", "seconds": 0, "result": FAIL,
                       "reason": f"runner error: {e!r}\n{traceback.format_exc()}"})
    finally:
        rows += [results[t.label] for t in templates if t.label in results] + broken
        rows += env.stop(keep_pods=args.keep)
    n = print_table(rows)
    failed = n[FAIL] > 0
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    if failed or args.keep or args.work_dir:
        print(f"daemon logs: {env.workdir}", file=sys.stderr)
    else:
        shutil.rmtree(env.workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
