import os

import pytest

import harness


@pytest.fixture
def stack(tmp_path):
    """interlink + interlink-local (runtime host) on unix sockets."""
    s = harness.Stack(tmp_path).start()
    yield s
    s.stop()


@pytest.fixture
def stack_factory(tmp_path):
    """Build a Stack with custom options; every stack made is stopped at the end."""
    made = []

    def make(**kw):
        s = harness.Stack(tmp_path / f"s{len(made)}", **kw)
        os.makedirs(s.dir, exist_ok=True)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


@pytest.fixture(scope="session")
def real_kube():
    """The real Kubernetes control plane (tests/pylib/realkube.py), one
    per session; the test skips with the reason when it cannot run here."""
    import realkube
    why = realkube.unavailable()
    if why:
        pytest.skip(why)
    yield realkube.session()
    realkube.stop_session()
