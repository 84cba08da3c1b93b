"""The bench: the bundled tasks are reproducible, the judge agrees with each task's answers, and `bench` writes
results and a report, resumes where it stopped, and judges a real (scripted) agent run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import typer

from agent.bench import BenchOptions, read_results, run_bench, store_outcome
from agent.bench_env import load_environments
from agent.bench_options import memory_size
from agent.bench_report import rate_line, render_report
from agent.bench_results import latest, run_rates, to_do
from agent.bench_tasks import BenchTask, RepoSources, load_tasks, prepare_repo
from agent.errors import UsageError
from agent.judge import evaluate, outcome_of, summary_entries
from agent.settings import RunSettings
from tests.scripts import EDITOR, REPORT
from tests.standin import StandinServer, reply, text, tool_use

TASKS_FILE = Path(__file__).resolve().parent.parent / "bench" / "tasks" / "tasks.jsonl"


BUNDLED = RepoSources(TASKS_FILE.parent)


def bundled(instance_id: str) -> BenchTask:
    """A bundled task whose `repo` is the absolute path of its tree (so it can be written anywhere)."""
    task = next(t for t in load_tasks(TASKS_FILE) if t.instance_id == instance_id)
    return task.model_copy(update={"repo": BUNDLED.locate(task.repo)})


def bundled_repo(task: BenchTask, tmp_path: Path) -> Path:
    return prepare_repo(BUNDLED.locate(task.repo), tmp_path / "repos")


def subset_file(tmp_path: Path, *instance_ids: str) -> Path:
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(bundled(i).model_dump_json() + "\n" for i in instance_ids))
    return path


def test_bundled_tasks_cover_four_repositories_with_reproducible_base_commits(tmp_path: Path):
    tasks = load_tasks(TASKS_FILE)
    assert len(tasks) >= 12
    assert len({Path(t.repo).name for t in tasks}) >= 4
    for task in tasks:
        assert task.FAIL_TO_PASS and task.patch and task.test_patch and task.problem_statement
    # The source trees become the same commits on any machine, so base_commit in the file is valid here.
    for repo in {t.repo for t in tasks}:
        built = prepare_repo(BUNDLED.locate(repo), tmp_path / "repos")
        head = (built / ".git" / "refs" / "heads" / "main").read_text().strip()
        assert {t.base_commit for t in tasks if t.repo == repo} == {head}


@pytest.mark.parametrize("instance_id", ["bebench__webapi-3", "bebench__jobqueue-3"])
def test_judge_resolves_the_gold_patch_and_not_the_empty_one(instance_id: str, tmp_path: Path):
    task = bundled(instance_id)
    repo = bundled_repo(task, tmp_path)
    gold = evaluate(task, task.patch, repo=repo, work_dir=tmp_path)
    assert gold.resolved, gold.reason
    assert set(gold.outcomes) == set(task.FAIL_TO_PASS) | set(task.PASS_TO_PASS)
    empty = evaluate(task, "", repo=repo, work_dir=tmp_path)
    assert not empty.resolved
    assert empty.reason.startswith("FAIL_TO_PASS not passing")


def test_judge_rejects_a_patch_that_breaks_passing_tests_or_does_not_apply(tmp_path: Path):
    task = bundled("bebench__webapi-2")
    repo = bundled_repo(task, tmp_path)
    breaks_listing = task.patch + (
        "--- a/notes_api/store.py\n+++ b/notes_api/store.py\n@@ -36 +36 @@\n"
        "-        return [n for n in self._notes.values() if owner is None or n.owner == owner]\n"
        "+        return [n for n in self._notes.values() if n.owner == owner]\n"
    )
    verdict = evaluate(task, breaks_listing, repo=repo, work_dir=tmp_path)
    assert not verdict.resolved
    assert verdict.reason.startswith("PASS_TO_PASS not passing")
    assert "test_admin_lists_everything" in verdict.reason
    garbage = evaluate(
        task, "--- a/nope.py\n+++ b/nope.py\n@@ -1 +1 @@\n-x\n+y\n", repo=repo, work_dir=tmp_path
    )
    assert not garbage.resolved and not garbage.patch_applied
    assert garbage.reason.startswith("patch does not apply")


def test_summary_parsing_keeps_parameter_ids_whole():
    output = (
        "=== short test summary info ===\n"
        "PASSED tests/t.py::test_a[x - y]\n"
        "FAILED tests/t.py::test_b[1] - AssertionError: assert [1] - [2]\n"
        "PASSED tests/t.py::test_c\n"
        "ERROR tests/t.py::test_c - RuntimeError: teardown\n"
    )
    entries = summary_entries(output)
    assert outcome_of("tests/t.py::test_a[x - y]", entries) == "passed"
    assert outcome_of("tests/t.py::test_b[1]", entries) == "failed"
    assert outcome_of("tests/t.py::test_c", entries) == "error"
    assert outcome_of("tests/t.py::test_d", entries) == "missing"


def test_bench_writes_results_and_report_and_resumes(tmp_path: Path):
    tasks = subset_file(tmp_path, "bebench__textkit-1", "bebench__sqlstore-2")
    out = tmp_path / "out"
    rows = run_bench(tasks, BenchOptions(out=out, agent="gold"), workers=2)
    assert sorted(r["instance_id"] for r in rows) == ["bebench__sqlstore-2", "bebench__textkit-1"]
    assert all(
        r["resolved"] and r["failure"] == "" and r["failure_kind"] == "" and r["wall_s"] > 0 for r in rows
    )
    report = (out / "report.md").read_text()
    assert "| 2 | 1 | 2 | 100.0% |" in report
    assert "| bebench__textkit-1 | 1 | 1 | yes | - |" in report

    # Resuming skips finished tasks: an empty-patch run changes nothing already recorded...
    run_bench(tasks, BenchOptions(out=out, agent="empty"), workers=2)
    assert [r["resolved"] for r in read_results(out / "results.jsonl")] == [True, True]
    # ...and runs only what is missing, here after an interruption cut the last line short.
    lines = (out / "results.jsonl").read_text().splitlines()
    kept = next(line for line in lines if "textkit-1" in line)
    (out / "results.jsonl").write_text(kept + "\n" + '{"instance_id": "bebench__sqlst')
    rows = run_bench(tasks, BenchOptions(out=out, agent="empty"), workers=1)
    by_id = {r["instance_id"]: r for r in rows}
    assert by_id["bebench__textkit-1"]["resolved"] is True
    assert by_id["bebench__sqlstore-2"]["resolved"] is False
    assert by_id["bebench__sqlstore-2"]["failure"] == "empty patch"
    assert by_id["bebench__sqlstore-2"]["failure_kind"] == "model"
    assert "| 2 | 1 | 1 | 50.0% |" in (out / "report.md").read_text()


SLUG_OLD = "    slug = _NOT_SLUG.sub(separator, text.lower()).strip(separator)\n"
SLUG_NEW = (
    '    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")\n'
    "    slug = _NOT_SLUG.sub(separator, plain.lower()).strip(separator)\n"
)


@pytest.mark.bwrap
def test_bench_judges_a_scripted_agent_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    turns = [
        reply(
            text("Reading the slug module."), tool_use(EDITOR, {"command": "view", "path": "textkit/slug.py"})
        ),
        reply(
            tool_use(
                EDITOR,
                {
                    "command": "str_replace",
                    "path": "textkit/slug.py",
                    "old_str": "import re\n",
                    "new_str": "import re\nimport unicodedata\n",
                },
            )
        ),
        reply(
            tool_use(
                EDITOR,
                {
                    "command": "str_replace",
                    "path": "textkit/slug.py",
                    "old_str": SLUG_OLD,
                    "new_str": SLUG_NEW,
                },
            )
        ),
        reply(
            tool_use(
                EDITOR,
                {
                    "command": "create",
                    "path": "tests/test_slug_accents.py",
                    "file_text": "from textkit import slugify\n\n\ndef test_accents_keep_their_letter():\n"
                    '    assert slugify("Crème Brûlée") == "creme-brulee"\n',
                },
            )
        ),
        reply(tool_use("run_tests", {})),
        reply(tool_use("finish", REPORT)),
    ]
    tasks = subset_file(tmp_path, "bebench__textkit-1")
    with StandinServer(turns) as srv:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key-0123456789")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        rows = run_bench(
            tasks, BenchOptions(out=tmp_path / "out", settings=RunSettings(sandbox="bwrap")), workers=1
        )
    row = rows[0]
    assert row["resolved"] is True, row
    assert row["steps"] == 6 and row["tokens_total"] > 0
    assert row["harness_s"] is not None and 0 < row["harness_s"] <= row["wall_s"]
    assert "unicodedata" in (tmp_path / "out" / "patches" / "bebench__textkit-1.diff").read_text()
    # the run's page and trajectory came back from the worker into the bench's output directory
    assert Path(row["run_dir"]).parent == (tmp_path / "out" / "runs").resolve()
    assert (Path(row["run_dir"]) / "run.html").is_file() and (
        Path(row["run_dir"]) / "trajectory.jsonl"
    ).is_file()
    assert json.loads((tmp_path / "out" / "results.jsonl").read_text())["agent_status"] in (
        "fixed",
        "not_fixed",
    )


# --- SWE-bench's own shape: owner/name from a mirror, JSON-text test lists, a setup step per repo and version ---

CALC_SOURCE = "from calcdeps import FACTOR\n\n\ndef scale(x):\n    return x + FACTOR\n"
CALC_FIXED = "from calcdeps import FACTOR\n\n\ndef scale(x):\n    return x * FACTOR\n"
CALC_TESTS = "from calc import scale\n\n\ndef test_zero():\n    assert scale(0) == 0 or True\n"
# An offline "install": a fresh venv gets pytest copied from the interpreter setup runs with, and `calcdeps`,
# a dependency only the setup step provides (the repository's tests cannot import it otherwise).
SETUP_ENV = """\
[[environment]]
repo = "acme/calc"
version = "1.0"
setup = [
  "python -m venv --without-pip .venv",
  '''python - <<'EOF'
import importlib.metadata as md, pathlib, shutil, sys
site = pathlib.Path(".venv/lib/python%d.%d/site-packages" % sys.version_info[:2])
for name in ("pytest", "pluggy", "iniconfig", "packaging", "pygments"):
    dist = md.distribution(name)
    for file in dist.files or []:
        source = pathlib.Path(dist.locate_file(file))
        if ".." not in file.parts and source.is_file():
            (site / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, site / file)
(site / "calcdeps.py").write_text("FACTOR = 3\\n")
EOF''',
]

[[environment]]
repo = "*"
setup = ["exit 7"]
"""


def _swe_task(base: str) -> dict[str, object]:
    return {
        "instance_id": "acme__calc-1",
        "repo": "acme/calc",
        "base_commit": base,
        "problem_statement": "scale() adds instead of multiplying",
        "hints_text": "see calc.py",
        "version": "1.0",
        "environment_setup_commit": base,
        "patch": "--- a/calc.py\n+++ b/calc.py\n@@ -5 +5 @@ def scale(x):\n-    return x + FACTOR\n+    return x * FACTOR\n",
        "test_patch": (
            "--- /dev/null\n+++ b/tests/test_scale.py\n@@ -0,0 +1,5 @@\n+from calc import scale\n+\n+\n"
            "+def test_scale():\n+    assert scale(2) == 6\n"
        ),
        "FAIL_TO_PASS": json.dumps(["tests/test_scale.py::test_scale"]),  # JSON text, as the datasets have it
        "PASS_TO_PASS": json.dumps(["tests/test_calc.py::test_zero"]),
    }


@pytest.mark.bwrap
def test_a_swe_bench_task_file_with_a_mirror_and_a_setup_step_runs(tmp_path: Path):
    from tests.conftest import run_cli

    clone = tmp_path / "mirror" / "acme__calc"
    (clone / "tests").mkdir(parents=True)
    (clone / "calc.py").write_text(CALC_SOURCE)
    (clone / "tests" / "test_calc.py").write_text(CALC_TESTS)
    (clone / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')
    base = prepare_repo(str(clone), tmp_path / "built")  # a plain tree becomes one deterministic commit
    subprocess.run(["git", "clone", "-q", str(base), str(tmp_path / "mirror2" / "acme" / "calc")], check=True)
    (tmp_path / "envs.toml").write_text(SETUP_ENV)
    head = (base / ".git" / "refs" / "heads" / "main").read_text().strip()
    tasks = tmp_path / "swe.jsonl"
    tasks.write_text(json.dumps(_swe_task(head)) + "\n")

    ran = run_cli(
        "bench", str(tasks), "--agent", "gold", "--sandbox", "bwrap", "--out", str(tmp_path / "out"),
        "--repos-dir", str(tmp_path / "mirror2"), "--environments", str(tmp_path / "envs.toml"),
        "--network-setup", "off", timeout=300,
    )  # fmt: skip
    assert ran.code == 0, ran.stderr
    [row] = read_results(tmp_path / "out" / "results.jsonl")
    assert row["resolved"] is True, row
    assert row["tests"] == {
        "tests/test_scale.py::test_scale": "passed",
        "tests/test_calc.py::test_zero": "passed",
    }

    # without the setup step the dependency is missing: the same gold patch cannot pass
    ran = run_cli(
        "bench", str(tasks), "--agent", "gold", "--sandbox", "bwrap", "--out", str(tmp_path / "bare"),
        "--repos-dir", str(tmp_path / "mirror2"), timeout=300,
    )  # fmt: skip
    [row] = read_results(tmp_path / "bare" / "results.jsonl")
    assert row["resolved"] is False and row["failure_kind"] == "model"


@pytest.mark.bwrap
def test_a_failing_setup_step_is_an_infrastructure_failure(tmp_path: Path):
    task = bundled("bebench__textkit-1")
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(task.model_dump_json() + "\n")
    environments = load_environments(_write(tmp_path / "envs.toml", SETUP_ENV))  # "*" runs `exit 7`
    rows = run_bench(
        tasks,
        BenchOptions(out=tmp_path / "out", agent="gold", environments=environments, setup_network=False),
    )
    [row] = rows
    assert row["failure_kind"] == "infra" and row["exit_code"] == 2
    assert (
        row["failure"].startswith("environment setup: environment setup for")
        and "`exit 7` exited 7" in row["failure"]
    )


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- the logic, without workers ---


def test_results_decide_what_runs_again():
    rows = [
        {"instance_id": "a", "run": 1, "resolved": True, "failure_kind": ""},
        {"instance_id": "b", "run": 1, "resolved": False, "failure_kind": "model"},
        {"instance_id": "c", "run": 1, "resolved": False, "failure_kind": "infra", "attempt": 1},
        {"instance_id": "c", "run": 2, "resolved": False, "failure_kind": "infra", "attempt": 1},
        {"instance_id": "c", "run": 2, "resolved": True, "failure_kind": "", "attempt": 2},
    ]
    current = latest(rows)
    wanted = [(i, run) for run in (1, 2) for i in "abcd"]
    assert to_do(wanted, current, "none") == [(("d", 1), 1), (("a", 2), 1), (("b", 2), 1), (("d", 2), 1)]
    assert (("c", 1), 2) in to_do(wanted, current, "infra")  # the infrastructure failure, as attempt 2
    assert ("b", 1) not in [key for key, _ in to_do(wanted, current, "infra")]  # never the model's failure


def test_rows_from_before_failure_kinds_read_as_run_one_with_a_kind(tmp_path: Path):
    results = tmp_path / "results.jsonl"
    results.write_text(
        '{"instance_id": "x", "resolved": false, "failure": "agent error: model API unreachable"}\n'
        '{"instance_id": "y", "resolved": false, "failure": "FAIL_TO_PASS not passing"}\n'
    )
    x, y = read_results(results)
    assert (x["run"], x["failure_kind"], y["failure_kind"]) == (1, "infra", "model")


def test_several_runs_report_mean_and_spread():
    rows = [
        {"instance_id": i, "run": run, "resolved": ok, "failure_kind": "" if ok else "model"}
        for run, outcomes in ((1, (True, True)), (2, (True, False)), (3, (False, False)))
        for i, ok in zip("ab", outcomes, strict=True)
    ]
    rates = run_rates(rows)
    assert rates.rates == (1.0, 0.5, 0.0) and rates.mean == 0.5 and rates.stdev == pytest.approx(0.5)
    assert "resolve rate 50.0% mean over 3 runs (sd 50.0 points, min 0.0%, max 100.0%" in rate_line(rows)
    assert "| 6 | 3 | 3 | 50.0% | 50.0 points |" in render_report(rows, title="t")


def test_bench_runs_each_task_n_times(tmp_path: Path):
    tasks = subset_file(tmp_path, "bebench__textkit-1")
    out = tmp_path / "out"
    rows = run_bench(tasks, BenchOptions(out=out, agent="gold"), runs=2)
    assert [(r["run"], r["resolved"]) for r in rows] == [(1, True), (2, True)]
    assert (out / "patches" / "bebench__textkit-1.diff").is_file()
    assert (out / "patches" / "bebench__textkit-1.run2.diff").is_file()
    assert (out / "pages" / "bebench__textkit-1.run2.html").is_file()
    assert "resolve rate 100.0% mean over 2 runs (sd 0.0 points" in (out / "report.md").read_text()


def test_environment_mapping_picks_the_most_specific_entry(tmp_path: Path):
    mapping = load_environments(
        _write(
            tmp_path / "e.toml",
            '[[environment]]\nrepo = "*"\nsetup = "any"\n'
            '[[environment]]\nrepo = "o/r"\nsetup = ["repo"]\n'
            '[[environment]]\nrepo = "o/r"\nversion = [1.0, "2.0"]\nsetup = ["repo and version"]\n',
        )
    )
    task = bundled("bebench__textkit-1")

    def setup_for(repo: str, version: str | None) -> tuple[str, ...]:
        spec = mapping.for_task(task.model_copy(update={"repo": repo, "version": version}))
        return spec.setup if spec else ()

    assert setup_for("o/r", "2.0") == ("repo and version",)
    assert setup_for("o/r", "1.0") == ("repo and version",)  # a TOML number names the same version
    assert setup_for("o/r", "3.0") == ("repo",)
    assert setup_for("x/y", None) == ("any",)
    with pytest.raises(UsageError, match="environment 1: unknown key 'stup'"):
        load_environments(_write(tmp_path / "bad.toml", '[[environment]]\nrepo = "*"\nstup = "x"\n'))


def test_repositories_are_found_in_the_mirror_then_beside_the_task_file_then_by_url(tmp_path: Path):
    (tmp_path / "m" / "o__r").mkdir(parents=True)
    (tmp_path / "m" / "p" / "q").mkdir(parents=True)
    (tmp_path / "repos" / "plain").mkdir(parents=True)
    sources = RepoSources(tmp_path, tmp_path / "m", "https://git.example/{owner}/{name}.git")
    assert sources.locate("o/r") == str((tmp_path / "m" / "o__r").resolve())
    assert sources.locate("p/q") == str((tmp_path / "m" / "p" / "q").resolve())
    assert sources.locate("repos/plain") == str((tmp_path / "repos" / "plain").resolve())
    assert sources.locate("a/b") == "https://git.example/a/b.git"
    assert sources.locate("file:///x/y.git") == "file:///x/y.git"
    with pytest.raises(
        UsageError, match="repository a/b not found: looked at .*give --repos-dir or --repo-url"
    ):
        RepoSources(tmp_path).locate("a/b")


def test_a_row_from_a_worker_with_another_judge_is_refused(tmp_path: Path):
    outcome = {"row": {"instance_id": "t", "run": 1, "resolved": True, "judge": "be-agent 0.0.1 judge x"}}
    row = store_outcome(tmp_path, outcome, "be-agent 0.1.0 judge y")
    assert row["resolved"] is False and row["failure_kind"] == "infra"
    assert "is not the driver's" in row["failure"]


def test_ray_task_needs_parse_as_users_write_them():
    assert memory_size("4G") == 4 * 1024**3 and memory_size("512MiB") == 512 * 1024**2
    with pytest.raises(typer.BadParameter, match="must be a size such as 4G"):
        memory_size("lots")
