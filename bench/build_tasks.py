"""Build bench/tasks/tasks.jsonl from the task specs, the way SWE-bench derives its test lists.

Each spec is a directory bench/tasks/specs/<instance_id>/ holding `problem.md` (the issue text the agent
sees), `gold.patch` (the reference fix) and `test.patch` (the tests that check it). The instance id reads
`bebench__<repo>-<n>`, where <repo> names a source tree in bench/tasks/repos/.

For each spec: the repo tree becomes a deterministic git commit (its hash is `base_commit`); the test patch
is applied with and without the gold patch; FAIL_TO_PASS are the tests that pass only with the gold patch,
PASS_TO_PASS those that pass either way. A spec whose gold patch leaves any test failing is an error.

    .venv/bin/python bench/build_tasks.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.bench_tasks import BenchTask, prepare_repo, resolve_base  # noqa: E402
from agent.judge import apply_patch, checkout_at, parse_pytest_summary, run_tests  # noqa: E402

TASKS_DIR = Path(__file__).resolve().parent / "tasks"


def repo_name(instance_id: str) -> str:
    return instance_id.split("__", 1)[1].rsplit("-", 1)[0]


def _outcomes(repo: Path, base: str, patches: list[tuple[str, str]], work: Path) -> dict[str, str]:
    checkout = work / "checkout"
    checkout_at(repo, base, checkout)
    for label, patch in patches:
        if error := apply_patch(checkout, patch, label):
            raise SystemExit(f"{label}: {error}")
    run = run_tests(checkout, None, timeout=300)
    outcomes = parse_pytest_summary(run.output)
    if not outcomes:
        raise SystemExit(f"no test outcomes parsed:\n{run.output[-2000:]}")
    return outcomes


def build_task(spec: Path, cache: Path) -> BenchTask:
    name = repo_name(spec.name)
    repo = prepare_repo(str(TASKS_DIR / "repos" / name), cache)
    base = resolve_base(repo, "HEAD")
    gold = (spec / "gold.patch").read_text(encoding="utf-8")
    tests = (spec / "test.patch").read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as before_dir, tempfile.TemporaryDirectory() as after_dir:
        before = _outcomes(repo, base, [("test_patch", tests)], Path(before_dir))
        after = _outcomes(repo, base, [("patch", gold), ("test_patch", tests)], Path(after_dir))
    broken = sorted(t for t, o in after.items() if o != "passed")
    if broken:
        raise SystemExit(f"{spec.name}: gold patch leaves tests failing: {broken}")
    fail_to_pass = sorted(t for t in after if before.get(t) != "passed")
    pass_to_pass = sorted(t for t in after if before.get(t) == "passed")
    if not fail_to_pass:
        raise SystemExit(f"{spec.name}: no test fails before the gold patch")
    return BenchTask(
        instance_id=spec.name,
        repo=f"repos/{name}",
        base_commit=base,
        problem_statement=(spec / "problem.md").read_text(encoding="utf-8").strip() + "\n",
        FAIL_TO_PASS=fail_to_pass,
        PASS_TO_PASS=pass_to_pass,
        patch=gold,
        test_patch=tests,
    )


def main() -> None:
    specs = sorted(p for p in (TASKS_DIR / "specs").iterdir() if p.is_dir())
    with tempfile.TemporaryDirectory() as cache:
        tasks = [build_task(spec, Path(cache)) for spec in specs]
    lines = [json.dumps(task.model_dump(exclude_none=True), ensure_ascii=False) for task in tasks]
    (TASKS_DIR / "tasks.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for task in tasks:
        print(
            f"{task.instance_id:28} F2P {len(task.FAIL_TO_PASS):2}  P2P {len(task.PASS_TO_PASS):2}  "
            f"base {task.base_commit[:10]}"
        )
    print(f"wrote {len(tasks)} tasks to {TASKS_DIR / 'tasks.jsonl'}")


if __name__ == "__main__":
    main()
