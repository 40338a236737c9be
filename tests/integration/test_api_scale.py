"""Batching and load: N pods in one /status are ONE plugin call (upstream's
VK made N serial round-trips), terminal pods cost no plugin call, and 100
pods created concurrently all run to completion with the right logs."""
import concurrent.futures

from apiutil import (POD_STATUS_KEYS, api, assert_alive, counter_delta, create_many,  # noqa: F401
                     host_pod, logs_text, metric, metrics, plugin_calls, uid, wait_all_terminal)


def test_status_of_50_pods_is_one_plugin_call(api):
    pods = list(api.track(*[host_pod(f"batch-{i:02d}", "sleep 60") for i in range(50)]))
    jids = create_many(api, pods)
    before = metrics(api)
    code, body = api.status(pods)
    after = metrics(api)
    assert code == 200
    assert [s["UID"] for s in body] == [uid(p) for p in pods]
    assert all(set(s) == POD_STATUS_KEYS for s in body)
    assert {s["UID"]: s["JID"] for s in body} == jids
    delta = (metric(after, "interlink_plugin_requests_total", endpoint="/status")
             - metric(before, "interlink_plugin_requests_total", endpoint="/status"))
    assert delta == 1, f"/status of 50 pods made {delta} plugin calls"
    assert counter_delta(api, before, "interlink_requests_total", 1,
                         endpoint="/status", code="200") == 1


def test_terminal_pods_are_answered_from_the_store(api):
    finished = api.track(host_pod("finished", "echo done"))
    running = api.track(host_pod("still-running", "sleep 60"))
    create_many(api, [finished, running])
    phase, final = api.wait_phase(finished)
    assert phase == "Succeeded"

    calls = plugin_calls(api, "/status")
    code, body = api.status([finished])
    assert (code, body) == (200, [final])
    assert plugin_calls(api, "/status") == calls, "a terminal pod was asked of the plugin"

    code, body = api.status([running, finished])
    assert code == 200 and [s["UID"] for s in body] == [uid(running), uid(finished)]
    assert body[1] == final
    assert plugin_calls(api, "/status") == calls + 1


def test_100_concurrent_pods_all_succeed_with_their_logs(api):
    pods = list(api.track(*[host_pod(f"many-{i:03d}", f"echo pod-{i}") for i in range(100)]))
    jids = create_many(api, pods, workers=20)
    assert len(set(jids.values())) == 100, "two pods share a JID"

    final = wait_all_terminal(api, pods, timeout=90)
    failed = {u: st for u, (phase, st) in final.items() if phase != "Succeeded"}
    assert not failed, f"{len(failed)} pods did not succeed, e.g. {next(iter(failed.values()))}"
    assert {u: st["JID"] for u, (_, st) in final.items()} == jids

    with concurrent.futures.ThreadPoolExecutor(10) as ex:
        logs = list(ex.map(lambda p: logs_text(api, p), pods))
    expected = {p["metadata"]["name"]: f"pod-{i}\n" for i, p in enumerate(pods)}
    wrong = {p["metadata"]["name"]: text for p, text in zip(pods, logs)
             if text != expected[p["metadata"]["name"]]}
    assert not wrong, f"{len(wrong)} pods with wrong logs, e.g. {list(wrong.items())[:3]}"
    assert_alive(api)
