"""interlinkctl against the real daemons (interlink + interlink-local, runtime
host): apply, get, describe, logs, delete, ping, and the error messages a
person sees when something is wrong."""
import json
import os
import re
import subprocess
import time

import harness

EXAMPLES = os.path.join(harness.SRC_DIR, "examples")


def ctl(stack_or_url, *args, stdin=None, timeout=60):
    """Run interlinkctl; returns CompletedProcess with text stdout/stderr."""
    url = stack_or_url if isinstance(stack_or_url, str) else stack_or_url.api_addr
    return subprocess.run([harness.binary("interlinkctl"), "--url", url, *args],
                          input=stdin, capture_output=True, text=True, timeout=timeout)


def ok(stack, *args, **kw):
    res = ctl(stack, *args, **kw)
    assert res.returncode == 0, f"interlinkctl {' '.join(args)} failed: {res.stderr}"
    return res.stdout


def fails(stack, *args, **kw):
    """The command must fail with exit status 1 and one message on stderr."""
    res = ctl(stack, *args, **kw)
    assert res.returncode == 1, f"expected failure, got {res.returncode}: {res.stdout}"
    assert res.stderr.startswith("interlinkctl: "), res.stderr
    return res.stderr


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def pod_entry(stack, name, namespace="default"):
    entries = json.loads(ok(stack, "-n", namespace, "get", "pods", "-o", "json"))
    found = [e for e in entries if e["name"] == name]
    return found[0] if found else None


def wait_phase(stack, name, phases=("Succeeded", "Failed"), timeout=30, namespace="default"):
    deadline = time.time() + timeout
    entry = None
    while time.time() < deadline:
        entry = pod_entry(stack, name, namespace)
        if entry and entry["phase"] in phases:
            return entry
        time.sleep(0.2)
    raise AssertionError(f"pod {name} not in {phases} after {timeout}s: {entry}")


def table(output):
    """kubectl-style table -> list of dicts keyed by header."""
    lines = output.strip().splitlines()
    found = list(re.finditer(r"\S+(?: \S+)*", lines[0]))   # "JOB ID" is one header
    starts = [m.start() for m in found]
    headers = [m.group(0) for m in found]
    rows = []
    for line in lines[1:]:
        cells = [line[a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
        rows.append(dict(zip(headers, cells)))
    return rows


def pod_yaml(name, script, extra_containers="", restart="Never"):
    return f"""apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  restartPolicy: {restart}
  containers:
    - name: main
      image: busybox
      command: ["sh", "-c", {json.dumps(script)}]
{extra_containers}"""


# ---- apply ----------------------------------------------------------------


def test_apply_examples_and_reapply_is_idempotent(stack):
    jobs = {}
    for example, pod in (("hello-world.yaml", "hello-world"),
                         ("configmap-secret.yaml", "config-demo"),
                         ("init-emptydir.yaml", "init-demo")):
        out = ok(stack, "apply", "-f", os.path.join(EXAMPLES, example))
        m = re.fullmatch(rf"pod/{pod} created \(job (\S+)\)\n", out)
        assert m, out
        jobs[pod] = m.group(1)
    first = pod_entry(stack, "hello-world")
    assert first["JID"] == jobs["hello-world"]

    out = ok(stack, "apply", "-f", os.path.join(EXAMPLES, "hello-world.yaml"))
    assert out == f"pod/hello-world unchanged (job {jobs['hello-world']})\n"
    entries = json.loads(ok(stack, "get", "pods", "-o", "json"))
    assert [e["name"] for e in entries].count("hello-world") == 1
    again = pod_entry(stack, "hello-world")
    assert (again["UID"], again["JID"]) == (first["UID"], first["JID"])

    for pod in jobs:
        assert wait_phase(stack, pod)["phase"] == "Succeeded"
    assert "hello from interLink" in ok(stack, "logs", "hello-world")
    logs = ok(stack, "logs", "config-demo")
    assert "greeting from a ConfigMap" in logs and "password: s3cr3t-from-a-Secret" in logs
    assert "reader-b counted 3 items" in ok(stack, "logs", "init-demo", "-c", "reader-b")


def test_apply_resolves_env_and_projected_volumes(stack, tmp_path):
    """What the virtual kubelet resolves upstream: envFrom with prefix,
    fieldRef, configMapKeyRef, projected configMap items, downwardAPI."""
    manifest = write(tmp_path, "resolve.yaml", """
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: settings}
    data: {color: blue, size: "3"}
  - apiVersion: v1
    kind: Secret
    metadata: {name: creds}
    data: {token: dG9wLXNlY3JldA==}
---
apiVersion: v1
kind: Pod
metadata:
  name: resolver
  labels: {team: blue, tier: "1"}
spec:
  restartPolicy: Never
  containers:
    - name: main
      image: busybox
      command: ["sh", "-c"]
      args:
        - |
          echo "prefixed=$CFG_color/$CFG_size"
          echo "name=$POD_NAME ns=$POD_NS"
          echo "token=$TOKEN"
          echo "override=$CFG_size_override"
          echo "projected=$(cat /info/colour)"
          cat /info/labels; echo
          echo "dw-name=$(cat /dw/podname)"
      envFrom:
        - prefix: CFG_
          configMapRef: {name: settings}
        - configMapRef: {name: absent, optional: true}
      env:
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: POD_NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
        - {name: TOKEN, valueFrom: {secretKeyRef: {name: creds, key: token}}}
        - {name: CFG_size_override, valueFrom: {configMapKeyRef: {name: settings, key: size}}}
        - {name: GONE, valueFrom: {configMapKeyRef: {name: settings, key: nope, optional: true}}}
      volumeMounts:
        - {name: info, mountPath: /info}
        - {name: dw, mountPath: /dw}
  volumes:
    - name: info
      projected:
        sources:
          - configMap: {name: settings, items: [{key: color, path: colour}]}
          - downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}
    - name: dw
      downwardAPI:
        items: [{path: podname, fieldRef: {fieldPath: metadata.name}}]
""")
    ok(stack, "apply", "-f", manifest)
    assert wait_phase(stack, "resolver")["phase"] == "Succeeded"
    logs = ok(stack, "logs", "resolver")
    assert "prefixed=blue/3" in logs
    assert "name=resolver ns=default" in logs
    assert "token=top-secret" in logs
    assert "override=3" in logs
    assert "projected=blue" in logs
    assert 'team="blue"\ntier="1"' in logs
    assert "dw-name=resolver" in logs
    sent = pod_entry(stack, "resolver")["pod"]
    env = {e["name"]: e.get("value") for e in sent["spec"]["containers"][0]["env"]}
    assert env["TOKEN"] == "top-secret" and "GONE" not in env
    assert "envFrom" not in sent["spec"]["containers"][0]
    assert "projected" in sent["spec"]["volumes"][1]


def test_apply_from_stdin_json_in_namespace(stack):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "from-stdin"},
           "spec": {"restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox",
                                    "command": ["sh", "-c", "echo stdin-pod"]}]}}
    out = ok(stack, "-n", "team-a", "apply", "-f", "-", stdin=json.dumps(pod))
    assert out.startswith("pod/from-stdin created")
    wait_phase(stack, "from-stdin", namespace="team-a")
    assert pod_entry(stack, "from-stdin") is None        # not in "default"
    rows = table(ok(stack, "get", "pods", "-A"))
    assert {"NAMESPACE": "team-a", "NAME": "from-stdin"}.items() <= rows[0].items()
    assert ok(stack, "logs", "-n", "team-a", "from-stdin") == "stdin-pod\n"


# ---- get / describe ---------------------------------------------------------


def test_get_pods_status_column(stack, tmp_path):
    ok(stack, "apply", "-f", write(tmp_path, "pods.yaml", "\n---\n".join([
        pod_yaml("done", "echo ok"),
        pod_yaml("broken", "exit 3"),
        pod_yaml("busy", "sleep 30"),
        pod_yaml("initwait", "echo main", restart="Never").replace(
            "  containers:", "  initContainers:\n    - name: slow-init\n      image: busybox\n"
            "      command: [sh, -c, 'sleep 30']\n  containers:"),
    ])))
    wait_phase(stack, "done")
    wait_phase(stack, "broken")
    wait_phase(stack, "busy", phases=("Running",))
    deadline = time.time() + 15
    while time.time() < deadline:
        rows = {r["NAME"]: r for r in table(ok(stack, "get", "pods"))}
        if rows["initwait"]["STATUS"] == "Init:0/1":
            break
        time.sleep(0.2)
    assert rows["done"]["STATUS"] == "Completed" and rows["done"]["READY"] == "0/1"
    assert rows["broken"]["STATUS"] in ("Error", "ExitCode:3")
    assert rows["busy"]["STATUS"] == "Running" and rows["busy"]["READY"] == "1/1"
    assert rows["initwait"]["STATUS"] == "Init:0/1"
    assert rows["done"]["RESTARTS"] == "0"
    assert re.fullmatch(r"\d+s", rows["done"]["AGE"])

    wide = table(ok(stack, "get", "pods", "-o", "wide"))
    entry = pod_entry(stack, "busy")
    busy = [r for r in wide if r["NAME"] == "busy"][0]
    assert busy["JOB ID"] == entry["JID"] and busy["UID"] == entry["UID"]
    assert ok(stack, "get", "pods", "busy", "-o", "name") == "pod/busy\n"
    for pod in ("busy", "initwait"):
        ok(stack, "delete", "pod", pod)


def test_describe_pod(stack):
    ok(stack, "apply", "-f", os.path.join(EXAMPLES, "init-emptydir.yaml"))
    entry = wait_phase(stack, "init-demo")
    out = ok(stack, "describe", "pod", "init-demo")
    assert re.search(r"^Name:\s+init-demo$", out, re.M)
    assert re.search(rf"^UID:\s+{entry['UID']}$", out, re.M)
    assert re.search(rf"^Job ID:\s+{re.escape(entry['JID'])}$", out, re.M)
    assert re.search(r"^Phase:\s+Succeeded$", out, re.M)
    init, main = out.split("Init Containers:")[1].split("Containers:")
    assert "prepare:" in init and "Terminated" in init and "Exit Code:  0" in init
    assert "reader-a:" in main and "reader-b:" in main
    assert "Image:        busybox" in main
    assert re.search(r"Started:\s+\d{4}-\d\d-\d\dT", main)
    assert re.search(r"Finished:\s+\d{4}-\d\d-\d\dT", main)
    assert "wc -l < /shared/items.txt" in main


# ---- logs -----------------------------------------------------------------


def test_logs_tail_and_container(stack, tmp_path):
    two = pod_yaml("two", "for i in 1 2 3 4 5; do echo main-$i; done", extra_containers="""\
    - name: side
      image: busybox
      command: ["sh", "-c", "echo side-only"]
""")
    ok(stack, "apply", "-f", write(tmp_path, "two.yaml", two))
    wait_phase(stack, "two")
    assert ok(stack, "logs", "two", "-c", "main") == "".join(f"main-{i}\n" for i in range(1, 6))
    assert ok(stack, "logs", "two", "-c", "main", "--tail", "2") == "main-4\nmain-5\n"
    assert ok(stack, "logs", "--container=side", "two") == "side-only\n"
    assert ok(stack, "logs", "two", "-c", "main", "--limit-bytes", "7") == "main-1\n"
    stamped = ok(stack, "logs", "two", "-c", "side", "--timestamps")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\S+Z side-only\n", stamped), stamped
    assert ok(stack, "logs", "two", "-c", "main", "--since", "1h").count("main-") == 5

    err = fails(stack, "logs", "two")
    assert "a container name must be specified for pod two" in err and "[main side]" in err
    err = fails(stack, "logs", "two", "-c", "nope")
    assert "container nope is not valid for pod two" in err


def test_logs_follow_streams_until_the_container_ends(stack, tmp_path):
    script = "for i in 1 2 3 4 5 6; do echo tick-$i; sleep 0.4; done"
    ok(stack, "apply", "-f", write(tmp_path, "ticker.yaml", pod_yaml("ticker", script)))
    wait_phase(stack, "ticker", phases=("Running", "Succeeded"))
    proc = subprocess.Popen([harness.binary("interlinkctl"), "--url", stack.api_addr,
                             "logs", "-f", "ticker"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert first.startswith("tick-")
        # The first line arrived while the container was still running.
        assert pod_entry(stack, "ticker")["phase"] == "Running"
        rest, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert (first + rest).endswith("tick-5\ntick-6\n")
    assert wait_phase(stack, "ticker")["phase"] == "Succeeded"


# ---- delete / ping ----------------------------------------------------------


def test_delete_pod(stack):
    ok(stack, "apply", "-f", os.path.join(EXAMPLES, "hello-world.yaml"))
    wait_phase(stack, "hello-world")
    assert ok(stack, "delete", "pod", "hello-world") == "pod/hello-world deleted\n"
    assert pod_entry(stack, "hello-world") is None
    assert 'pod "hello-world" not found' in fails(stack, "delete", "pod", "hello-world")
    ok(stack, "delete", "pod", "hello-world", "--ignore-not-found")

    path = os.path.join(EXAMPLES, "configmap-secret.yaml")
    ok(stack, "apply", "-f", path)
    assert ok(stack, "delete", "-f", path) == "pod/config-demo deleted\n"


def test_ping(stack):
    out = ok(stack, "ping")
    assert re.search(r"^status\s+ok$", out, re.M), out
    assert re.search(r"^cpu\s+\S+$", out, re.M), out


# ---- errors a person can act on ---------------------------------------------


def test_apply_missing_file(stack, tmp_path):
    err = fails(stack, "apply", "-f", str(tmp_path / "nope.yaml"))
    assert "nope.yaml" in err and "No such file or directory" in err


def test_apply_bad_yaml_names_document_and_line(stack, tmp_path):
    path = write(tmp_path, "bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"
                 "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: [x\n")
    err = fails(stack, "apply", "-f", path)
    assert re.search(r"bad\.yaml: document 2: line 1\d: ", err), err


def test_apply_semantic_errors(stack, tmp_path):
    missing = pod_yaml("needs-cm", "true") + """\
      volumeMounts: [{name: cfg, mountPath: /cfg}]
  volumes:
    - name: cfg
      configMap: {name: app-config}
"""
    err = fails(stack, "apply", "-f", write(tmp_path, "missing.yaml", missing))
    assert 'ConfigMap "app-config" not found' in err and "optional: true" in err
    assert "missing.yaml: document 1: line 1: pod/needs-cm: volume \"cfg\"" in err

    optional = missing.replace("{name: app-config}", "{name: app-config, optional: true}")
    ok(stack, "apply", "-f", write(tmp_path, "optional.yaml", optional))

    secret_env = pod_yaml("needs-secret", "true") + """\
      env:
        - {name: X, valueFrom: {secretKeyRef: {name: creds, key: k}}}
"""
    err = fails(stack, "apply", "-f", write(tmp_path, "env.yaml", secret_env))
    assert 'container main: env X: Secret "creds" not found' in err

    no_containers = "apiVersion: v1\nkind: Pod\nmetadata: {name: empty}\nspec: {containers: []}\n"
    err = fails(stack, "apply", "-f", write(tmp_path, "empty.yaml", "---\n" + no_containers))
    assert "empty.yaml: document 1: line 2: pod/empty: spec.containers" in err

    err = fails(stack, "apply", "-f", write(tmp_path, "deploy.yaml", "kind: Deployment\n"))
    assert "kind Deployment is not supported" in err
    # Nothing of a failed file was created.
    assert pod_entry(stack, "needs-secret") is None and pod_entry(stack, "empty") is None


def test_unknown_pod_name(stack):
    for args in (("logs", "ghost"), ("describe", "pod", "ghost"), ("delete", "pod", "ghost"),
                 ("get", "pods", "ghost")):
        assert 'pod "ghost" not found in namespace "default"' in fails(stack, *args)


def test_server_down_is_actionable(stack, tmp_path):
    stack.stop()
    for args in (("get", "pods"), ("ping",), ("logs", "x"), ("delete", "pod", "x")):
        err = fails(stack, *args)
        assert f"cannot reach interlink at {stack.api_addr}" in err
        assert "(is the server running?)" in err
    err = fails("http://127.0.0.1:1", "ping")
    assert "cannot reach interlink at http://127.0.0.1:1" in err


def test_plugin_down_relays_server_message(stack):
    stack.plugin.stop()
    err = fails(stack, "ping")
    assert err.startswith("interlinkctl: ping: HTTP 5"), err


def test_usage_errors(stack):
    assert "unknown command" in fails(stack, "frobnicate")
    assert "unknown flag --bogus" in fails(stack, "get", "pods", "--bogus")
    assert "-f FILE is required" in fails(stack, "apply")
    assert "not a whole number" in fails(stack, "logs", "x", "--tail", "many")
    assert "not a duration" in fails(stack, "logs", "x", "--since", "soon")
    res = ctl(stack, "--help")
    assert res.returncode == 0 and "Commands:" in res.stdout
    res = ctl(stack, "--version")
    assert res.returncode == 0 and res.stdout.startswith("interlinkctl ")
