"""The backend of docs/plugins.md ("Adding a backend"), compiled from the
page by the build, behind a real interlink: the framework gives a backend
written from the docs alone the whole wire (create, batch status, logs,
ping, delete, validation)."""
import harness
from harness import container, create_request, log_struct, make_pod, wait_for


def toy_stack(tmp_path):
    return harness.Stack(tmp_path, plugin="interlink-toy", plugin_extra={"RunSeconds": 1}).start()


def test_toy_backend_from_the_docs_speaks_the_wire(tmp_path):
    s = toy_stack(tmp_path)
    try:
        pods = [make_pod(f"toy-{i}", [container("main", ["true"]), container("side", ["true"])])
                for i in range(3)]
        ids = []
        for pod in pods:
            code, body = s.create(create_request(pod))
            assert code == 200, body
            assert body["PodUID"] == pod["metadata"]["uid"]
            ids.append(body["PodJID"])
        assert ids == [f"toy-{p['metadata']['uid']}" for p in pods]

        # Create is idempotent: the same UID again gives the same job.
        code, body = s.create(create_request(pods[0]))
        assert code == 200 and body["PodJID"] == ids[0]

        # One status call for all pods; they run, then complete.
        code, statuses = s.status(pods)
        assert code == 200 and len(statuses) == 3, statuses
        for pod in pods:
            assert s.wait_phase(pod, timeout=30)[0] == "Succeeded"
        code, statuses = s.status(pods)
        assert {c["name"] for c in statuses[0]["containers"]} == {"main", "side"}
        assert all(c["state"]["terminated"]["reason"] == "Completed"
                   for st in statuses for c in st["containers"])

        code, text = s.logs(log_struct(pods[1], "side"))
        assert code == 200 and text == b"hello from side in default/toy-1\n", text
        code, text = s.logs(log_struct(pods[1], "nope"))
        assert code == 404, text

        code, pong = s.ping()
        assert code == 200, pong

        # A malformed pod never reaches the backend.
        bad = make_pod("bad", [container("main", ["true"])])
        del bad["metadata"]["uid"]
        code, body = s.create(create_request(bad))
        assert code == 400, body

        # Delete, then the pod is unknown; deleting it again succeeds.
        code, body = s.delete(pods[0])
        assert code == 200, body
        wait_for("the deleted pod to be gone",
                 lambda: all(st["UID"] != pods[0]["metadata"]["uid"] for st in s.status(pods)[1]))
        code, body = s.delete(pods[0])
        assert code == 200, body
    finally:
        s.stop()
