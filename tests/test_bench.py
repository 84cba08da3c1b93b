"""The bench: the bundled tasks are reproducible, the judge agrees with each task's answers, and `bench` writes
results and a report, resumes where it stopped, and judges a real (scripted) agent run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.bench import BenchOptions, read_results, run_bench
from agent.bench_tasks import BenchTask, RepoSources, load_tasks, prepare_repo
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
