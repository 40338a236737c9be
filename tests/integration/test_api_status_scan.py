"""interlink and the plugin framework read the pods of a /status request
without parsing each whole into a tree when they can be sure of them
(src/common/jsonscan.c, podscan.c: interlink's batchstatus.c and the plugin
framework, src/plugin/plugin.c), and parse them as before when they cannot.  Either way the answer is the one a
full parse gives: a pod written with a repeated key, an escaped key, a UID
in a nested object, non-ASCII names or a huge annotation is the pod jansson
reads, and a damaged pod is refused with the 400 naming its index."""
import json
import re

import harness
from apiutil import api, create_many, host_pod, uid  # noqa: F401


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def status_raw(stack, text, address=None):
    body = text if isinstance(text, bytes) else text.encode()
    code, data = harness.request(address or stack.api_addr, "GET", "/status", body)
    return code, data.decode(errors="replace")


def test_pods_written_oddly_are_the_pods_jansson_reads(api):
    pods = list(api.track(*[host_pod(f"scan-{i}", "sleep 60") for i in range(6)]))
    create_many(api, pods)
    for p in pods:   # a steady status to compare with
        assert api.wait_phase(p, phases=("Running",))[0] == "Running"
    code, plain = api.status(pods)
    assert code == 200 and [s["UID"] for s in plain] == [uid(p) for p in pods]
    # each pod's metadata members without braces (and without its empty annotations)
    meta = [compact({k: v for k, v in p["metadata"].items() if k != "annotations"})[1:-1]
            for p in pods]
    spec = compact(pods[0]["spec"])
    odd = [
        # a repeated uid: the last one counts
        '{"metadata":{"uid":"not-this-one",%s},"spec":%s}' % (meta[0], spec),
        # an escaped key spelling "uid" (and the real one after it is not there)
        '{"metadata":{"ui\\u0064":"%s","name":"scan-1"},"spec":%s}' % (uid(pods[1]), spec),
        # a uid in nested objects is not the pod's
        '{"spec":{"metadata":{"uid":"%s"}},"metadata":{"labels":{"uid":"x"},%s}}'
        % (uid(pods[0]), meta[2]),
        # non-ASCII text, escaped and not, and a huge annotation (a body over 1 MiB:
        # received into its own mapping, src/common/httpd.c)
        '{"metadata":{%s,"annotations":{"note":"caf\u00e9 \\u00e9 \\ud83d\\ude00 %s"}},'
        '"spec":%s}' % (meta[3], "x" * 1200000, spec),
        # whitespace everywhere: forwarded to the plugin joined, not as received
        ' {\n "metadata" : { %s } , "spec" : %s }\n' % (meta[4], spec),
        # a repeated metadata object: the last one counts
        '{"metadata":{"uid":"gone"},"metadata":{%s},"spec":%s}' % (meta[5], spec),
    ]
    code, direct = harness.request_json(api.plugin_addr, "GET", "/status", pods)
    assert code == 200 and [s["UID"] for s in direct] == [uid(p) for p in pods]
    for text in ("[" + ",".join(odd) + "]", "[ " + " , ".join(odd) + " ]"):
        code, data = status_raw(api, text)
        assert code == 200, data[:300]
        assert json.loads(data) == plain
        code, data = status_raw(api, text, api.plugin_addr)   # the plugin framework alone
        assert code == 200, data[:300]
        assert [s["UID"] for s in json.loads(data)] == [uid(p) for p in pods]


def test_a_damaged_pod_is_refused_naming_its_index(api):
    pod = api.track(host_pod("scan-good", "sleep 60"))
    create_many(api, [pod])
    good = compact(pod)
    cases = [
        (b'{"metadata":{"uid":"u","name":"\xc0\x80"}}', r"in pod 2\b"),   # not UTF-8
        ('{"metadata":{"uid":"u","name":"a\\u0000b"}}', r"in pod 2\b"),
        ('{"metadata":{"uid":"u","x":01}}', r"in pod 2\b"),
        ('{"metadata":{"uid":"u"},"x":1e400}', r"in pod 2\b"),
        ('{"metadata":{"uid":"u","x":[}]}', r"in pod 2\b"),
        ('{"metadata":{"uid":"../x"}}', r"invalid pod at index 2: metadata\.uid"),
        ('{"metadata":{"uid":"u","uid":"a/b"}}', r"invalid pod at index 2: metadata\.uid"),
        ('{"metadata":{"uid":"u","annotations":{"a":1}}}',
         r"invalid pod at index 2: metadata\.annotations\.a"),
        ('{"metadata":{"uid":"u","name":7}}', r"invalid pod at index 2: metadata\.name"),
        ('{"spec":{"metadata":{"uid":"u"}}}', r"invalid pod at index 2: metadata"),
    ]
    for bad, problem in cases:
        bad = bad if isinstance(bad, bytes) else bad.encode()
        body = b"[%s,%s,%s]" % (good.encode(), good.encode(), bad)
        code, data = status_raw(api, body)
        assert code == 400, f"{bad!r} -> {code} {data[:200]!r}"
        assert re.search(problem, data), f"{bad!r}: {data!r} does not match {problem}"
        assert status_raw(api, body, api.plugin_addr) == (code, data)   # the same words
    code, body = api.status([pod])
    assert code == 200 and body[0]["UID"] == uid(pod)
