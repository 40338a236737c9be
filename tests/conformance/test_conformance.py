"""pytest wrapper of tests/conformance/run.py: every conformance template
(with interLink's e2e overrides, as its k3s CI runs them), each one a test,
against interlink-vk + interlink + interlink-local and the API server double.
That is the CI subset (expectations.json `runs_in_interlink_k3s_ci`) plus the
runnable rest (065, the removed 080-downward-api); about 40 s when all pass.
Templates skipped by images.json are reported as skipped with their reason;
any failed template fails.

    /usr/bin/python3 -m pytest -v tests/conformance        (IL_BIN_DIR=build/bin by default)

IL_CONFORMANCE_CI=1 runs only interLink's CI subset; IL_CONFORMANCE_MULTIPLIER overrides the config's timeout_multiplier
(10: a failing template waits ten times its timeout_seconds, as in CI).
"""
import os
import shutil
import tempfile

import pytest
import yaml

import run

SUITE = os.environ.get("IL_CONFORMANCE_SUITE", run.DEFAULT_SUITE)
CONFIG = os.path.join(SUITE, "configs", "vktest_config.k3s-ci.yaml")
CI_ONLY = os.environ.get("IL_CONFORMANCE_CI") == "1"

if not os.path.isdir(SUITE):
    pytest.skip(f"the conformance test set is not at {SUITE}", allow_module_level=True)

# templates that leave Running pods first (run.run_order): their pods' graceful
# termination overlaps the rest instead of the teardown
TEMPLATES = run.run_order(run.select(run.discover(SUITE, "ci"), [], ci_only=CI_ONLY))


@pytest.fixture(scope="module")
def suite():
    with open(CONFIG) as f:
        config = yaml.safe_load(f)

    class Args:
        bin_dir = os.environ.get("IL_BIN_DIR") or os.path.join(run.REPO, "build", "bin")
        work_dir = tempfile.mkdtemp(prefix="il-conformance-")
        node_prefix = "virtual-kubelet"
        verbose = True
        kube = "double"
    podman_reason = run.localimages.podman_usable()
    env = run.setup_env(Args, config)
    mult = os.environ.get("IL_CONFORMANCE_MULTIPLIER")
    runner = run.Runner(env, config, run.load_mapping(run.DEFAULT_MAPPING),
                        float(mult) if mult else None, podman_reason=podman_reason)
    runner.config = config
    runner.runtimes = ["podman", "host"] if not podman_reason else ["host"]
    failed = []
    runner.failed = failed
    yield runner
    unclean = [r["reason"] for r in env.stop() if r["result"] != run.PASS]
    if failed or unclean:
        print(f"\nconformance daemon logs kept in {env.workdir}")
    else:
        shutil.rmtree(env.workdir, ignore_errors=True)
    assert not unclean, f"daemons did not end cleanly: {unclean}"


def test_namespaces_and_nodes_exist(suite):
    """vk-test-set's test_namespace_exists and test_node_exists."""
    rows = run.preflight(suite.env, suite.config, suite.runtimes)
    bad = [r for r in rows if r["result"] != run.PASS]
    assert not bad, bad


@pytest.mark.parametrize("tmpl", TEMPLATES, ids=[t.label for t in TEMPLATES])
def test_manifest(suite, tmpl):
    res = suite.run(tmpl)
    if res["result"] == run.SKIP:
        pytest.skip(res["reason"])
    if res["result"] == run.FAIL:
        suite.failed.append(tmpl.label)
        pytest.fail(f"{tmpl.label} ({res['runtime']} runtime): {res['reason']}", pytrace=False)
