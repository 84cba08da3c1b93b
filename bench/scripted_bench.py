"""The bench pipeline end to end with a scripted model: `python bench/scripted_bench.py [--out DIR]`.

A stand-in Messages API server answers every agent in every worker process. It recognises the task from
the first message and plays a three-step script: apply the task's gold patch and test_patch with bash, run
the tests, finish. So this measures the harness (sandbox, loop, verdict, separate judging, results and report), not a
model: every task should resolve, and the report's steps, tokens, cost and harness time are real numbers
from real runs.

    python bench/scripted_bench.py --out DIR [--executor ray [--ray-address ADDR]] [--outage ID]... [--retry infra]

`--outage ID` makes the stand-in answer every request of that task with 529 (overloaded): a model API outage,
which the bench records as an infrastructure failure (exit 3); run again with `--retry infra` (and without the
outage) to rerun just those.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.bench_tasks import load_tasks  # noqa: E402
from tests.standin import RecordedRequest, Reply, StandinServer, error, reply, text, tool_use  # noqa: E402

TASKS = ROOT / "bench" / "tasks" / "tasks.jsonl"
DELIMITER = "BE_AGENT_SCRIPTED_PATCH_END"


def script_for(patch: str, test_patch: str) -> list[Reply]:
    # the task's own tests come along as the change's reproduction: with no test failing at baseline, the
    # run is judged by the tests the change adds (the judge puts the test_patch's files back first)
    apply = (
        f"cat > /tmp/gold.patch <<'{DELIMITER}'\n{patch}{test_patch}{DELIMITER}\n"
        "git apply /tmp/gold.patch && git status --short"
    )
    return [
        reply(text("Applying the fix."), tool_use("bash", {"command": apply})),
        reply(tool_use("run_tests", {})),
        reply(
            tool_use(
                "finish",
                {
                    "summary": "Applied the reference fix (scripted bench run).",
                    "tests": "the task's own tests judge it",
                },
            )
        ),
    ]


def responder(scripts: dict[str, list[Reply]], outage: frozenset[str] = frozenset()) -> Any:
    def answer(request: RecordedRequest) -> Any:
        messages = request.messages
        first = json.dumps(messages[0]["content"]) if messages else ""
        step = sum(1 for m in messages if m.get("role") == "assistant")
        for statement, turns in scripts.items():
            if statement in first and statement in outage:
                return error(529)
            if statement in first and step < len(turns):
                return turns[step]
        return error(400, message="scripted bench: no script for this request")

    return answer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="be-agent-scripted-bench-")))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--executor", choices=("local", "ray"), default="local")
    parser.add_argument("--ray-address")
    parser.add_argument(
        "--outage", action="append", default=[], metavar="ID", help="answer this task with 529s"
    )
    parser.add_argument("--retry", choices=("none", "infra"), default="none")
    args = parser.parse_args()
    tasks = load_tasks(TASKS)

    def key(problem: str) -> str:  # the first line of a problem statement recognises the task in the prompt
        return json.dumps(problem.strip().splitlines()[0])[1:-1]

    scripts = {key(t.problem_statement): script_for(t.patch, t.test_patch) for t in tasks}
    outage = frozenset(key(t.problem_statement) for t in tasks if t.instance_id in args.outage)
    extra = ["--executor", args.executor, "--retry", args.retry, "--retry-budget", "5"]
    extra += ["--ray-address", args.ray_address] if args.ray_address else []
    with StandinServer([responder(scripts, outage)] * (len(tasks) * 100)) as srv:
        env = {
            **os.environ,
            "ANTHROPIC_API_KEY": "scripted-bench-key",
            "ANTHROPIC_BASE_URL": srv.base_url,
            "VIRTUAL_ENV": sys.prefix,
        }
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "agent.cli",
                "bench",
                str(TASKS),
                "--workers",
                str(args.workers),
                "--out",
                str(args.out),
                "--sandbox",
                "bwrap",
                *extra,
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
    print((args.out / "report.md").read_text())
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
