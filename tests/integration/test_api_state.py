"""`interlink` keeps its state in SQLite (DataRootFolder/interlink.db):
creates are idempotent per pod UID, even concurrently and with the plugin
down, and everything survives kill -9 of both daemons."""
import concurrent.futures
import os
import signal
import subprocess

import harness
from apiutil import (api, assert_alive, assert_one_dir_per_uid, create_ok, host_pod,  # noqa: F401
                     logs_text, plugin_calls, plugin_pod_dirs, run_interlink, uid, wait_until)


def test_create_twice_returns_same_jid_without_calling_the_plugin(api):
    pod = api.track(host_pod("twice", "sleep 30"))
    jid = create_ok(api, pod)
    calls = plugin_calls(api, "/create")
    assert create_ok(api, pod) == jid
    assert plugin_calls(api, "/create") == calls
    assert_one_dir_per_uid(api, [uid(pod)])
    assert os.path.isfile(os.path.join(api.dir, "api-data", "interlink.db"))


def test_create_of_known_uid_is_answered_with_the_plugin_down(api):
    pod = api.track(host_pod("remembered", "sleep 30"))
    jid = create_ok(api, pod)
    api.plugin.kill9()
    assert create_ok(api, pod) == jid
    fresh = host_pod("unknown", "true")
    code, _ = api.create(harness.create_request(fresh))
    assert code == 502                  # a new pod does need the plugin
    api.start_plugin()


def test_concurrent_duplicate_creates_give_one_jid_and_one_submission(api):
    pod = api.track(host_pod("dup", "sleep 30"))
    calls = plugin_calls(api, "/create")
    with concurrent.futures.ThreadPoolExecutor(10) as ex:
        jids = list(ex.map(lambda _: create_ok(api, pod), range(10)))
    assert len(set(jids)) == 1, f"concurrent creates of one UID gave JIDs {set(jids)}"
    assert_one_dir_per_uid(api, [uid(pod)])
    assert plugin_calls(api, "/create") == calls + 1, "duplicate creates reached the plugin"


def test_delete_then_create_is_a_new_submission(api):
    pod = api.track(host_pod("again", "echo again"))
    create_ok(api, pod)
    assert api.wait_phase(pod)[0] == "Succeeded"
    assert api.delete(pod)[0] == 200
    wait_until(lambda: not plugin_pod_dirs(api), what="the pod's files to go")
    calls = plugin_calls(api, "/create")
    create_ok(api, pod)                 # deleted pods are forgotten, not replayed from the store
    assert plugin_calls(api, "/create") == calls + 1
    assert api.wait_phase(pod)[0] == "Succeeded"
    assert logs_text(api, pod) == "again\n"


def test_state_survives_kill_9_of_both_daemons(api):
    done = api.track(host_pod("done-before", "echo finished"))
    running = api.track(host_pod("running-across", "echo begin; sleep 3; echo end"))
    long = api.track(host_pod("long-running", "echo up; sleep 60"))
    pods = [done, running, long]
    jids = {uid(p): create_ok(api, p) for p in pods}
    assert api.wait_phase(done)[0] == "Succeeded"
    wait_until(lambda: "begin" in logs_text(api, running), what="the second pod to start")

    api.api.kill9()
    api.plugin.kill9()
    # both unix socket files are left behind and must not prevent a restart
    assert os.path.exists(api.api_sock) and os.path.exists(api.plugin_sock)
    api.start_plugin()
    api.start_api()

    code, body = api.status(pods)
    assert code == 200, body
    assert [s["UID"] for s in body] == [uid(p) for p in pods]
    assert {s["UID"]: s["JID"] for s in body} == jids
    assert harness.derive_phase(body[0]) == "Succeeded"
    assert harness.derive_phase(body[2]) == "Running"
    assert logs_text(api, done) == "finished\n"

    phase, st = api.wait_phase(running, timeout=30)
    assert phase == "Succeeded", st
    assert logs_text(api, running) == "begin\nend\n"

    calls = plugin_calls(api, "/create")
    for p in pods:
        assert create_ok(api, p) == jids[uid(p)]
    assert plugin_calls(api, "/create") == calls, "re-create after restart reached the plugin"
    assert_one_dir_per_uid(api, list(jids))

    code, body = harness.request_json(api.api_addr, "GET", "/pods")
    assert code == 200 and {p["UID"] for p in body} == set(jids)


def test_restart_after_sigterm_keeps_state(api):
    pod = api.track(host_pod("graceful", "echo bye"))
    jid = create_ok(api, pod)
    assert api.wait_phase(pod)[0] == "Succeeded"
    api.api.stop(signal.SIGTERM)
    assert not os.path.exists(api.api_sock), "interlink left its socket behind on SIGTERM"
    api.start_api()
    calls = plugin_calls(api, "/status")
    code, body = api.status([pod])
    assert code == 200 and body[0]["JID"] == jid
    assert harness.derive_phase(body[0]) == "Succeeded"
    assert plugin_calls(api, "/status") == calls, "terminal status was not kept across restart"


def test_live_socket_is_not_stolen(api):
    # A second interlink on the same socket must refuse to start, not unlink
    # the socket of the one already serving.
    try:
        second = run_interlink(["--config", api.api_cfg], timeout=10)
    except subprocess.TimeoutExpired:
        raise AssertionError("a second interlink kept running on a live socket")
    assert second.returncode != 0
    assert_alive(api)
