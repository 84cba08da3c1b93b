"""`make demo`: the whole pipeline on a bundled example repository, with no API key.

It replays a recorded run (scripted model turns recorded through the real loop) with `be-agent replay`:
the loop, the tools, the sandbox, the harness's test runs, the verdict, the commit and the hand-back are all
real; only the model's words come from the recording.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

DEMO_DIR = Path(__file__).parent
DEMO_REPO_FILES = DEMO_DIR / "repo"
RECORDING = DEMO_DIR / "trajectory.jsonl"
DEMO_TASK = (
    "Ledger.transfer leaves balances half-written when a transfer fails, and it accepts zero or negative "
    "amounts. Make a failed transfer change nothing and reject non-positive amounts with InvalidAmount."
)

# Fixed identity and dates make the example repository's commit id the same on every machine, so the
# recorded base commit exists in every freshly made copy.
_FIXED_GIT_ENV = {
    "GIT_AUTHOR_NAME": "Demo Author",
    "GIT_AUTHOR_EMAIL": "demo@example.invalid",
    "GIT_COMMITTER_NAME": "Demo Author",
    "GIT_COMMITTER_EMAIL": "demo@example.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T12:00:00+00:00",
    "GIT_COMMITTER_DATE": "2026-01-01T12:00:00+00:00",
}


def make_demo_repo(dest: Path) -> str:
    """Create the example repository at `dest` (one commit on `main`); return the commit id."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(DEMO_REPO_FILES, dest, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GIT_")}, **_FIXED_GIT_ENV}

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "core.hooksPath=/dev/null", "-c", "init.templateDir=", *args],
            cwd=dest,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", "ledger: in-memory balances with transfers")
    return git("rev-parse", "HEAD")


def main() -> int:
    import tempfile

    from agent.replay import replay
    from agent.report import render_terminal_summary
    from sandbox.base import sandbox_mode

    work = Path(tempfile.mkdtemp(prefix="be-agent-demo-"))
    repo = work / "ledger"
    make_demo_repo(repo)
    (repo / "NOTES.txt").write_text("my uncommitted notes: the demo must leave me alone\n")
    print("be-agent demo: this is a REPLAY of a recorded run, not a live model. The model's turns come from")
    print(
        f"{RECORDING.relative_to(DEMO_DIR.parent.parent)}; the loop, tools, sandbox, tests and git work are real.\n"
    )
    print(f"example repository: {repo}")
    print(f"task: {DEMO_TASK}\n")
    outcome = replay(
        RECORDING,
        repo=repo,
        sandbox=sandbox_mode(os.environ.get("BE_AGENT_DEMO_SANDBOX", "auto")),
        state_dir=work / "state",
        quiet=True,
    )
    print(render_terminal_summary(outcome.result))
    if outcome.differences:
        print("\nreplay DIFFERS from the recording:")
        for diff in outcome.differences:
            print(f"  - {diff}")
    else:
        print(f"\nreplay matches the recording ({outcome.compared} tool results compared)")
    branches = subprocess.run(
        ["git", "-C", str(repo), "branch", "--list"], capture_output=True, text=True
    ).stdout
    status = subprocess.run(
        ["git", "-C", str(repo), "status", "--short"], capture_output=True, text=True
    ).stdout
    print(f"\nbranches in the example repository now:\n{branches.rstrip()}")
    print(f"its working tree (your uncommitted work is untouched):\n{status.rstrip()}")
    if outcome.result.branch:
        print(f"\nbranch made: {outcome.result.branch}")
        print(f"see it: git -C {repo} log --stat -1 {outcome.result.branch}")
    return outcome.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
