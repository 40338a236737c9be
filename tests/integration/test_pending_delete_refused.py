"""A delete the plugin refuses with a 4xx is never dropped (interlink's
pending deletes, src/api/deleter.c): 404/410 mean the plugin no longer
knows the pod when its /status agrees (the delete is done and interlink
forgets it; a 404 on every path is a wrong URL, not "gone"); 401/403
(a token rotated on one side), 409, 429 and the like are retried at the
retry interval; any other 4xx is retried with a growing delay.  Before,
every 4xx dropped the pending delete: the pod's work ran on, orphaned."""
import os
import threading

import pytest

import harness
from apiutil import MisbehavingPlugin, host_pod, uid, wait_until


def pods_by_uid(stack):
    code, body = harness.request_json(stack.api_addr, "GET", "/pods")
    assert code == 200, body
    return {p["UID"]: p for p in body}


def running_pod(stack, name):
    pod = host_pod(name, "sleep 300")
    code, body = stack.create(harness.create_request(pod))
    assert code == 200, body
    stack.wait_phase(pod, ("Running",), timeout=30)
    return pod


def assert_forgotten_everywhere(stack, pod):
    assert uid(pod) not in pods_by_uid(stack)
    assert not os.path.exists(plugin_dir(stack, pod))


def plugin_dir(stack, pod):
    return os.path.join(stack.dir, "local-data", "pods", uid(pod))


def swap_plugin(stack, mode=None, code=None):
    """Replace interlink-local on its socket: by a plugin answering `code`
    to everything, or (mode None) by interlink-local again."""
    if stack.plugin is not None:
        stack.plugin.stop()
    if getattr(stack, "fake", None) is not None:
        stack.fake.stop()
        stack.fake = None
    if mode is None:
        stack.start_plugin()
    else:
        stack.plugin = None
        stack.fake = MisbehavingPlugin(stack.plugin_sock, mode, code=code)


def test_401_after_a_token_rotation_is_retried_until_confirmed(tmp_path):
    """The plugin restarts with a rotated token before interlink does: the
    delete meets 401.  interlink keeps it, and once it runs with the new
    token its retrier finishes it: the pod is stopped and forgotten."""
    token = tmp_path / "token"
    token.write_text("before-rotation\n")
    stack = harness.Stack(tmp_path / "s",
                          api_extra={"SidecarTokenFile": str(token),
                                     "PendingDeleteRetrySeconds": 1},
                          plugin_extra={"PluginTokenFile": str(token)}).start()
    try:
        pod = running_pod(stack, "rotated")
        token.write_text("after-rotation\n")
        swap_plugin(stack)
        code, body = stack.delete(pod)
        assert code == 503, body   # the plugin's 401 is not about the caller
        assert "401" in str(body) and "retries it" in str(body), body
        pending = pods_by_uid(stack)[uid(pod)].get("deletePending") or ""
        assert "401" in pending, pods_by_uid(stack)[uid(pod)]
        stack.api.stop()
        stack.start_api()          # interlink now reads the new token
        wait_until(lambda: uid(pod) not in pods_by_uid(stack), timeout=20,
                   what="the pending delete confirmed after the rotation")
        assert not os.path.exists(plugin_dir(stack, pod))
    finally:
        stack.stop()


def finished_pod(stack, name):
    pod = host_pod(name, "true")
    code, body = stack.create(harness.create_request(pod))
    assert code == 200, body
    stack.wait_phase(pod)
    return pod


def test_404_from_a_plugin_that_lost_the_pod_means_gone(tmp_path):
    """A plugin that no longer knows the pod answers 404 to the delete and
    leaves it out of /status: nothing is left to delete, so the delete
    succeeds and interlink forgets the pod (before, the 404 was relayed
    and the row stayed forever)."""
    stack = harness.Stack(tmp_path / "s").start()
    stack.fake = None
    try:
        pod = finished_pod(stack, "forgotten")
        swap_plugin(stack, "forgot", 404)
        code, body = stack.delete(pod)
        assert code == 200, body
        assert uid(pod) not in pods_by_uid(stack)
    finally:
        swap_plugin(stack)
        stack.stop()


@pytest.mark.parametrize("answer, caller_hears", [(404, 503), (400, 400)])
def test_refusal_is_kept_and_retried(tmp_path, answer, caller_hears):
    """404 on every path (a wrong SidecarURL or a proxy: the pod may still
    run, so it is not "gone"), or 400 (a plugin that cannot read the
    delete, say an older one: retried with a growing delay): the caller
    hears it, the pod stays listed with the reason, and once a plugin that
    takes the delete is back, the retry deletes the pod."""
    stack = harness.Stack(tmp_path / "s", api_extra={"PendingDeleteRetrySeconds": 1}).start()
    stack.fake = None
    try:
        pod = running_pod(stack, f"refused-{answer}")
        swap_plugin(stack, "code", answer)
        code, body = stack.delete(pod)
        assert code == caller_hears, body
        assert "retries it" in str(body), body
        listed = pods_by_uid(stack)[uid(pod)]
        assert str(answer) in (listed.get("deletePending") or ""), listed
        swap_plugin(stack)
        wait_until(lambda: uid(pod) not in pods_by_uid(stack), timeout=30,
                   what="the refused delete retried and confirmed")
        assert not os.path.exists(plugin_dir(stack, pod))
    finally:
        if stack.fake is not None:
            swap_plugin(stack)
        stack.stop()


def test_a_create_the_plugin_did_not_answer_stays_deletable(tmp_path):
    """The plugin starts the pod and dies before answering (here: a relay
    that drops its answer): interlink answers 502 but keeps the pod, with
    an empty job id, in /pods, so a virtual kubelet that finds no API
    object for it deletes it, and the delete stops it.  Before, interlink
    forgot it: a pod force-deleted while the VK was down ran on, orphaned
    (found by tests/chaos/chaos_vk.py)."""
    cut = str(tmp_path / "cut.sock")
    stack = harness.Stack(tmp_path / "s", api_extra={"SidecarURL": "unix://" + cut})
    stack.start_plugin()
    relay = MisbehavingPlugin(cut, "cut", forward=stack.plugin_sock)
    try:
        stack.start_api()
        pod = host_pod("in-doubt", "sleep 300")
        code, body = stack.create(harness.create_request(pod))
        assert code == 502, body
        assert os.path.isdir(plugin_dir(stack, pod))   # the plugin did start it
        listed = pods_by_uid(stack)
        assert uid(pod) in listed and listed[uid(pod)]["JID"] == "", listed
        relay.stop()
        stack.api.stop()
        stack.api_cfg = harness.write_yaml(stack.api_cfg, {
            "InterlinkAddress": stack.api_addr, "SidecarURL": stack.plugin_addr,
            "DataRootFolder": os.path.join(stack.dir, "api-data")})
        stack.start_api()
        code, body = stack.delete(pod)
        assert code == 200, body
        assert_forgotten_everywhere(stack, pod)
    finally:
        relay.stop()
        stack.stop()


def test_a_delete_does_not_overtake_a_create_in_flight(tmp_path):
    """A delete that arrives while the pod's create is still on its way to
    the plugin waits for it, and then stops the pod.  Before, interlink
    relayed it at once: the plugin knew nothing yet and answered success,
    the create arrived afterwards and the pod ran with nobody to stop it
    (a VK chaos trial: an early delete racing the create)."""
    late = str(tmp_path / "late.sock")
    stack = harness.Stack(tmp_path / "s", api_extra={"SidecarURL": "unix://" + late})
    stack.start_plugin()
    relay = MisbehavingPlugin(late, "latecreate", delay=1.5, forward=stack.plugin_sock)
    try:
        stack.start_api()
        pod = host_pod("raced", "sleep 300")
        answers = {}
        creator = threading.Thread(target=lambda: answers.update(
            create=stack.create(harness.create_request(pod))))
        creator.start()
        harness.wait_for("the create at the plugin's door", lambda: any(
            r[1] == "/create" for r in relay.requests()), timeout=10)
        code, body = stack.delete(pod)
        creator.join(30)
        assert answers["create"][0] == 200, answers
        assert code == 200, body
        assert_forgotten_everywhere(stack, pod)
    finally:
        relay.stop()
        stack.stop()
