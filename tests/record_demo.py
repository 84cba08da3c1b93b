"""Re-record the demo: `python -m tests.record_demo` runs the scripted ledger fix through the real run
(stand-in model server, bwrap, real tests) and saves its trajectory as agent/demo/trajectory.jsonl.

The recording holds scripted turns, not a live model's; the demo says so when it replays them."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from agent.config import RunRequest
from agent.demo import DEMO_TASK, RECORDING, make_demo_repo
from agent.run import run_task
from tests.scripts import ledger_fix
from tests.standin import StandinServer


def main() -> int:
    from agent.anthropic_model import AnthropicModel

    work = Path(tempfile.mkdtemp(prefix="be-agent-record-"))
    repo = work / "ledger"
    make_demo_repo(repo)
    with StandinServer(ledger_fix()) as srv:
        model = AnthropicModel("claude-sonnet-5-5", api_key="recording-key", base_url=srv.base_url)
        result = run_task(
            RunRequest(repo=repo, task=DEMO_TASK, state_dir=work / "state", sandbox="bwrap", quiet=True),
            model=model,
        )
    if result.status != "fixed":
        print(f"recording failed: {result.status}: {result.reason}", file=sys.stderr)
        return 1
    shutil.copyfile(result.trajectory, RECORDING)
    print(f"recorded {RECORDING} ({result.steps} steps, branch {result.branch})")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
