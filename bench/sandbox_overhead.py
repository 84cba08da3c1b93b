"""What the bubblewrap sandbox costs: median wall time bare (`subprocess.run`) vs sandboxed, side by side.

Run: .venv/bin/python bench/sandbox_overhead.py [--trivial-runs N] [--suite-runs N]
Goals: at most 15 ms extra for a trivial command, at most 1.3x bare for a short test suite.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.base import SandboxConfig  # noqa: E402
from sandbox.bwrap import BwrapSandbox  # noqa: E402
from sandbox.env import sandbox_environment  # noqa: E402

SUITE = """
import json
import pytest

@pytest.mark.parametrize("n", range(40))
def test_square(n):
    assert n * n == n ** 2

@pytest.mark.parametrize("n", range(20))
def test_round_trip(n, tmp_path):
    path = tmp_path / "data.json"
    path.write_text(json.dumps({"n": n}))
    assert json.loads(path.read_text()) == {"n": n}
"""


def paired_medians_ms(
    first: Callable[[], object], second: Callable[[], object], runs: int
) -> tuple[float, float]:
    """Median wall time of each action; they alternate, so load from elsewhere hits both alike."""
    first(), second()  # warm caches once
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for action, bucket in ((first, times[0]), (second, times[1])):
            start = time.perf_counter()
            action()
            bucket.append(time.perf_counter() - start)
    return statistics.median(times[0]) * 1000, statistics.median(times[1]) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trivial-runs", type=int, default=50)
    parser.add_argument("--suite-runs", type=int, default=11)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="be-agent-bench-") as tmp:
        project = Path(tmp) / "project"
        (project / "tests").mkdir(parents=True)
        (project / "tests" / "test_bench.py").write_text(SUITE)
        box = BwrapSandbox(project, Path(tmp) / "scratch", SandboxConfig())
        env = sandbox_environment(home=str(Path(tmp) / "home"), tmpdir=str(Path(tmp) / "scratch"))
        pytest_cmd = f"{shlex.quote(sys.executable)} -m pytest -q -p no:cacheprovider tests"

        def bare(command: str) -> Callable[[], object]:
            return lambda: subprocess.run(
                ["bash", "-c", command],
                cwd=project,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )

        def sandboxed(command: str) -> Callable[[], object]:
            def go() -> object:
                result = box.run(command)
                if result.exit_code != 0:
                    raise SystemExit(f"sandboxed {command!r} failed:\n{result.output}")
                return result

            return go

        rows = []
        for label, command, runs, goal in (
            ("trivial (`true`)", "true", args.trivial_runs, "<= 15 ms extra"),
            ("pytest, 60 tests", pytest_cmd, args.suite_runs, "<= 1.3x"),
        ):
            plain, boxed = paired_medians_ms(bare(command), sandboxed(command), runs)
            rows.append((label, runs, plain, boxed, boxed / plain, boxed - plain, goal))
        box.close()

    load = os.getloadavg()[0]
    print(
        f"{os.cpu_count()} CPUs, load average {load:.2f} at the end (medians drift when others load the machine)"
    )
    header = (
        f"{'command':<18} {'runs':>4} {'bare ms':>9} {'sandbox ms':>11} {'ratio':>6} {'extra ms':>9}  goal"
    )
    print(header)
    print("-" * len(header))
    for label, runs, plain, boxed, ratio, extra, goal in rows:
        print(f"{label:<18} {runs:>4} {plain:>9.1f} {boxed:>11.1f} {ratio:>5.2f}x {extra:>9.1f}  {goal}")


if __name__ == "__main__":
    main()
