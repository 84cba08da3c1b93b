"""`be-agent bench --executor ray` on a real local Ray cluster of two worker CPUs (one cluster for the module,
on one xdist worker, shut down at the end; no dashboard, no usage reporting): the gold and empty agents give
100% and 0% (how the judge decides is tested without Ray in test_bench.py), the
scripted stand-in agent's patches are judged, a killed driver resumes without redoing finished tasks, and
`--retry infra` reruns an infrastructure failure but never a model's failure."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.bench import BenchOptions, ExecutorOptions, read_results, run_bench
from agent.bench_tasks import git, prepare_repo
from agent.settings import RunSettings
from bench.scripted_bench import responder, script_for
from tests.conftest import ROOT, agent_env
from tests.standin import StandinServer
from tests.test_bench import BUNDLED, bundled, subset_file

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600), pytest.mark.xdist_group("ray")]
ray = pytest.importorskip("ray")

ONE_PER_REPO = ("bebench__jobqueue-1", "bebench__sqlstore-2", "bebench__textkit-1", "bebench__webapi-3")
TWO_REPOS = ("bebench__sqlstore-2", "bebench__textkit-1")
TASK_MEMORY = 512 * 1024**2


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A local cluster with two CPUs; its address, for drivers in other processes too."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=100 * 1024**2,
    )
    try:
        yield str(ray.get_runtime_context().gcs_address)
    finally:
        ray.shutdown()


def on_ray(address: str) -> ExecutorOptions:
    return ExecutorOptions("ray", ray_address=address, task_memory=TASK_MEMORY)


def test_gold_resolves_every_task_and_empty_none(cluster: str, tmp_path: Path):
    tasks = subset_file(tmp_path, *TWO_REPOS)
    gold = run_bench(tasks, BenchOptions(out=tmp_path / "gold", agent="gold"), executor=on_ray(cluster))
    assert sorted(r["instance_id"] for r in gold) == sorted(TWO_REPOS)
    assert all(r["resolved"] and r["failure_kind"] == "" for r in gold), gold
    # every task ran in a Ray worker process, not in this driver
    assert all(not r["worker"].endswith(f":{os.getpid()}") for r in gold)
    assert "| 2 | 1 | 2 | 100.0% |" in (tmp_path / "gold" / "report.md").read_text()

    empty = run_bench(tasks, BenchOptions(out=tmp_path / "empty", agent="empty"), executor=on_ray(cluster))
    assert not any(r["resolved"] for r in empty)
    assert {r["failure_kind"] for r in empty} == {"model"}
    assert "| 2 | 1 | 0 | 0.0% |" in (tmp_path / "empty" / "report.md").read_text()


@pytest.mark.bwrap
def test_the_scripted_stand_in_agent_is_judged_on_ray_workers(
    cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    chosen = ("bebench__textkit-1", "bebench__jobqueue-1")
    tasks = subset_file(tmp_path, *chosen)
    scripts = {
        json.dumps(t.problem_statement.strip().splitlines()[0])[1:-1]: script_for(t.patch, t.test_patch)
        for t in (bundled(i) for i in chosen)
    }
    with StandinServer([responder(scripts)] * 20) as srv:
        # the workers get the model API's address from the driver, not from their own environment
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key-0123456789")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        rows = run_bench(
            tasks,
            BenchOptions(out=tmp_path / "out", settings=RunSettings(sandbox="bwrap")),
            executor=on_ray(cluster),
        )
        assert srv.attempts >= 6
    assert all(r["resolved"] and r["steps"] == 3 and r["tokens_total"] > 0 for r in rows), rows
    for row in rows:
        assert (Path(row["run_dir"]) / "run.html").is_file()
        assert "git apply" in (Path(row["run_dir"]) / "trajectory.jsonl").read_text()


def _bench_cli(tasks: Path, out: Path, address: str, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "agent.cli", "bench", str(tasks), "--agent", "gold", "--out", str(out)]
    command += ["--executor", "ray", "--ray-address", address, "--task-memory", "512M", *extra]
    env = agent_env({"RAY_USAGE_STATS_ENABLED": "0"})
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _rows(out: Path) -> list[dict[str, Any]]:
    return read_results(out / "results.jsonl")


def test_a_killed_driver_resumes_without_redoing_finished_tasks(cluster: str, tmp_path: Path):
    ids = ONE_PER_REPO  # two run at a time: the driver dies with at most two results in
    tasks = subset_file(tmp_path, *ids)
    out = tmp_path / "out"
    driver = _bench_cli(tasks, out, cluster)
    deadline = time.monotonic() + 300
    while not _rows(out) and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)  # waiting for the first result, not for time to pass
    driver.send_signal(signal.SIGKILL)
    driver.communicate()
    before = (out / "results.jsonl").read_text()
    finished = [r["instance_id"] for r in _rows(out)]
    assert 1 <= len(finished) < len(ids), "the driver must die mid-run"

    again = _bench_cli(tasks, out, cluster)
    _, stderr = again.communicate(timeout=400)
    assert again.returncode == 0, stderr
    assert f"resuming: {len(finished)} of {len(ids)} results already in" in stderr
    after = (out / "results.jsonl").read_text()
    assert after.startswith(before)  # what was written stays as it was
    assert Counter(r["instance_id"] for r in _rows(out)) == Counter(ids)  # each task once: none redone
    assert "| 4 | 1 | 4 | 100.0% |" in (out / "report.md").read_text()


def test_retry_infra_reruns_an_infrastructure_failure_and_never_a_model_failure(cluster: str, tmp_path: Path):
    mirror = tmp_path / "mirror" / "textkit.git"
    clone_me = bundled("bebench__textkit-1").model_copy(update={"repo": mirror.as_uri()})
    wrong = bundled("bebench__sqlstore-2").model_copy(update={"patch": ""})  # the "model" produced nothing
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(clone_me.model_dump_json() + "\n" + wrong.model_dump_json() + "\n")
    out = tmp_path / "out"

    first = {
        r["instance_id"]: r
        for r in run_bench(tasks, BenchOptions(out=out, agent="gold"), executor=on_ray(cluster))
    }
    assert first["bebench__textkit-1"]["failure_kind"] == "infra"
    assert first["bebench__textkit-1"]["exit_code"] == 3  # a remote (the clone) failed
    assert first["bebench__textkit-1"]["failure"].startswith("repository: cannot clone")
    assert first["bebench__sqlstore-2"]["failure_kind"] == "model"
    report = (out / "report.md").read_text()
    assert "**1 infrastructure failure** (exit codes 3)" in report

    # The remote comes back; resuming without --retry leaves both results alone...
    source = prepare_repo(BUNDLED.locate("repos/textkit"), tmp_path / "built")
    git("clone", "-q", "--bare", str(source), str(mirror))
    run_bench(tasks, BenchOptions(out=out, agent="gold"), executor=on_ray(cluster))
    assert len(_rows(out)) == 2
    # ...and --retry infra reruns the infrastructure failure only.
    rows = run_bench(tasks, BenchOptions(out=out, agent="gold"), retry="infra", executor=on_ray(cluster))
    by_id = {r["instance_id"]: r for r in rows}
    assert by_id["bebench__textkit-1"]["resolved"] is True and by_id["bebench__textkit-1"]["attempt"] == 2
    assert by_id["bebench__sqlstore-2"] == first["bebench__sqlstore-2"]
    assert Counter(r["instance_id"] for r in _rows(out)) == {
        "bebench__textkit-1": 2,
        "bebench__sqlstore-2": 1,
    }
    report = (out / "report.md").read_text()
    assert "| bebench__textkit-1 | 1 | 2 | yes | - |" in report
    assert "infrastructure failure" not in report.split("Judge:")[0]
