"""What the harness costs per step, with the model taken out, and how much of each prompt the cache can serve.

Run: .venv/bin/python bench/overhead.py [--rounds N] [--extra-files N] [--no-mini] [--profile FILE]
                                        [--side-by-side-only]
                                        [--trajectory PATH] [--sandbox-runs N] [--per-step]

First, side by side with mini-swe-agent (bench/side_by_side.py): the recording's tool calls as shell
commands, run by both harnesses step by step in this one process run, on the demo repository and on the
same with `--extra-files` (20,000) more small files. mini-swe-agent is installed once into the bench's own
environment under the user's cache (bench/mini_side.py), never into be-agent's; `--no-mini` leaves it out.
`--profile FILE` keeps a cProfile of be-agent's side (its per-step time only) and prints its top entries.
Targets: be-agent at most 1.5x mini-swe-agent per step, and at most 1.3x its small-repository time with the
extra files.

Then, the recorded assistant turns (bench/overhead_trajectory.jsonl, made by bench/record_overhead.py) are served by
the stand-in Messages API; the real SDK talks to it over HTTP, and `run_task` drives the real loop, tools,
bwrap sandbox and test runs on a fresh copy of the demo repository. From the new run's trajectory:

- harness time per step = tool time (the `tool` record's duration_s) + bookkeeping (the step's wall time,
  taken from record timestamps, minus model latency and tool time), by kind of step, median and p90;
- sandbox start cost: a trivial `true` run in a bwrap sandbox, repeatedly;
- prompt-cache effectiveness: for each request the stand-in received, the share of its input tokens (JSON
  characters / 4) that lies up to its last cache breakpoint and is identical to the previous request's start.

Targets: median harness time under 50 ms for edit and view steps; cacheable share >= 90% from request 3 on.
"""

from __future__ import annotations

import argparse
import cProfile
import math
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.config import RunRequest, RunResult  # noqa: E402
from agent.demo import make_demo_repo  # noqa: E402
from agent.replay import compare, load_recording  # noqa: E402
from agent.run import run_task  # noqa: E402
from agent.toolchain import find_python_toolchain  # noqa: E402
from agent.trajectory import read_records  # noqa: E402
from bench.mini_side import MINI_VERSION, MiniWorker, default_environment_dir, ensure_mini_python  # noqa: E402
from bench.shell_steps import shell_steps  # noqa: E402
from bench.side_by_side import TEST_COMMAND, compare_harnesses, make_bench_repo, print_side_by_side  # noqa: E402
from sandbox.base import Sandbox, SandboxConfig  # noqa: E402
from sandbox.factory import make_sandbox  # noqa: E402
from tests.standin import RecordedRequest, Reply, StandinServer, estimate_tokens, prompt_segments  # noqa: E402

DEFAULT_TRAJECTORY = ROOT / "bench" / "overhead_trajectory.jsonl"
PROFILE_LINES = 25
KINDS = ("editor view", "editor edit", "bash", "run_tests", "finish")
HARNESS_TARGET_MS = 50.0
TARGETED_KINDS = ("editor view", "editor edit")
CACHE_TARGET = 0.90
CACHE_FROM_REQUEST = 3


# --- replaying through the stand-in ---------------------------------------------------------------


@dataclass
class Replayed:
    result: RunResult
    requests: list[RecordedRequest]
    differences: list[str]
    compared: int


def replay_through_standin(recording: Path, work: Path, sandbox: str) -> Replayed:
    """Serve the recording's assistant turns from the stand-in and run them with the real SDK and `run_task`."""
    from agent.anthropic_model import AnthropicModel

    loaded = load_recording(recording)
    start, turns, recorded_tools = loaded.start, loaded.turns, loaded.tools
    script = [Reply(content=t["content"], stop_reason=t.get("stop_reason")) for t in turns]
    repo = work / "repo"
    make_demo_repo(repo)
    model_name = start.get("model") or "claude-sonnet-5-5"
    request = RunRequest(
        repo=repo,
        task=start["task"],
        base=start["base"],
        test_cmd=start.get("test_cmd"),
        model=model_name,
        named_tests=start.get("named_tests") or [],
        max_steps=len(turns) + 1,
        sandbox=sandbox,  # type: ignore[arg-type]
        state_dir=work / "state",
        quiet=True,
    )
    with StandinServer(script) as srv:
        model = AnthropicModel(model_name, api_key="bench-key", base_url=srv.base_url)
        result = run_task(request, model=model)
        requests = [r for r in srv.requests if r.outcome == "reply"]
    replayed_tools = load_recording(Path(result.trajectory)).tools
    roots = [str(Path(result.run_dir) / "checkout"), str(Path(result.run_dir) / "scratch")]
    if start.get("run_dir"):
        roots.append(str(Path(start["run_dir"]) / "checkout"))
    return Replayed(
        result,
        requests,
        compare(recorded_tools, replayed_tools, roots),
        min(len(recorded_tools), len(replayed_tools)),
    )


# --- harness time per step ------------------------------------------------------------------------


@dataclass
class StepTiming:
    step: int
    kind: str
    wall_s: float
    model_s: float
    tool_s: float

    @property
    def bookkeeping_s(self) -> float:
        # Record times are kept to the millisecond, so a step this small can come out a hair below zero.
        return max(0.0, self.wall_s - self.model_s - self.tool_s)

    @property
    def harness_s(self) -> float:
        return self.tool_s + self.bookkeeping_s


def kind_of(tool: dict[str, Any]) -> str:
    name = tool.get("name")
    if name == "str_replace_based_edit_tool":
        command = (tool.get("input") or {}).get("command")
        return "editor view" if command == "view" else "editor edit"
    return str(name)


def step_timings(records: Sequence[dict[str, Any]]) -> list[StepTiming]:
    """One row per model step. A step's span runs from the previous step's last record (for the first step,
    the baseline record) to its own last `model` or `tool` record."""
    baseline = next((float(r["time"]) for r in records if r.get("type") == "baseline"), None)
    models = {int(r["step"]): r for r in records if r.get("type") == "model"}
    tools: dict[int, list[dict[str, Any]]] = {}
    for record in records:
        if record.get("type") == "tool":
            tools.setdefault(int(record["step"]), []).append(record)
    rows: list[StepTiming] = []
    previous_end = baseline
    for step in sorted(models):
        calls = tools.get(step, [])
        end = max(float(r["time"]) for r in [models[step], *calls])
        if previous_end is not None:
            rows.append(
                StepTiming(
                    step=step,
                    kind=kind_of(calls[0]) if calls else "no tool",
                    wall_s=end - previous_end,
                    model_s=float(models[step].get("latency_s") or 0.0),
                    tool_s=sum(float(c.get("duration_s") or 0.0) for c in calls),
                )
            )
        previous_end = end
    return rows


def p90(values: Sequence[float]) -> float:
    """Nearest-rank 90th percentile: with few samples it is an observed value, never an interpolation."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def sandbox_start_ms(sandbox: str, runs: int, work: Path) -> list[float]:
    """Wall time of `true` through the sandbox, as the bash tool runs it (a fresh container each call)."""
    checkout = work / "sandbox-checkout"
    make_demo_repo(checkout)

    def probe_box(mounts: tuple[str, ...], env: dict[str, str]) -> Sandbox:
        config = SandboxConfig(extra_ro_paths=mounts, extra_env=env)
        return make_sandbox(sandbox, work / "probe-tree", work / "probe-scratch", config)  # type: ignore[arg-type]

    (work / "probe-tree").mkdir(exist_ok=True)
    toolchain = find_python_toolchain(checkout, probe_box)
    config = SandboxConfig(extra_ro_paths=toolchain.mounts, extra_env=toolchain.env)
    box = make_sandbox(sandbox, checkout, work / "sandbox-scratch", config)  # type: ignore[arg-type]
    try:
        box.run("true")  # warm the page cache once
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            result = box.run("true")
            times.append((time.perf_counter() - started) * 1000)
            if result.exit_code != 0:
                raise SystemExit(f"`true` failed in the sandbox:\n{result.output}")
        return times
    finally:
        box.close()


# --- prompt-cache effectiveness -------------------------------------------------------------------


@dataclass
class CacheRow:
    number: int
    total: int  # estimated input tokens of the whole prompt
    before_breakpoint: int  # of those, up to and including the last cache breakpoint
    cacheable: int  # of those, identical to the previous request's start
    standin_read: int  # what the stand-in's cache simulation reported as cache_read_input_tokens

    @property
    def share(self) -> float:
        return self.cacheable / self.total if self.total else 0.0


def cache_rows(bodies: Sequence[dict[str, Any]], usages: Sequence[dict[str, int]]) -> list[CacheRow]:
    rows: list[CacheRow] = []
    previous: list[str] = []
    for number, (body, usage) in enumerate(zip(bodies, usages, strict=True), 1):
        segments = prompt_segments(body)
        payloads = [payload for payload, _ in segments]
        tokens = [estimate_tokens(payload) for payload in payloads]
        marks = [i for i, (_, marked) in enumerate(segments) if marked]
        end = marks[-1] + 1 if marks else 0
        same = 0
        while same < min(len(previous), end) and payloads[same] == previous[same]:
            same += 1
        rows.append(
            CacheRow(
                number,
                sum(tokens),
                sum(tokens[:end]),
                sum(tokens[:same]),
                int(usage.get("cache_read_input_tokens", 0)),
            )
        )
        previous = payloads
    return rows


# --- printing -------------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


def print_step_table(rows: list[StepTiming]) -> None:
    print("Harness time per step, model excluded (ms; bookkeeping = step wall - model latency - tool time)")
    header = (
        f"{'kind':<12} {'steps':>5} {'tool med':>8} {'tool p90':>8} {'book med':>8} {'book p90':>8} "
        f"{'harn med':>8} {'harn p90':>8}  target"
    )
    print(header)
    print("-" * len(header))
    for kind in [*KINDS, *sorted({r.kind for r in rows} - set(KINDS))]:
        group = [r for r in rows if r.kind == kind]
        if not group:
            continue
        tool = [r.tool_s for r in group]
        book = [r.bookkeeping_s for r in group]
        harness = [r.harness_s for r in group]
        target = ""
        if kind in TARGETED_KINDS:
            ok = statistics.median(harness) * 1000 < HARNESS_TARGET_MS
            target = f"median < {HARNESS_TARGET_MS:.0f} ms: {'met' if ok else 'MISSED'}"
        print(
            f"{kind:<12} {len(group):>5} {_ms(statistics.median(tool))} {_ms(p90(tool))} "
            f"{_ms(statistics.median(book))} {_ms(p90(book))} {_ms(statistics.median(harness))} "
            f"{_ms(p90(harness))}  {target}"
        )
    harness_all = [r.harness_s for r in rows]
    print(
        f"{'all steps':<12} {len(rows):>5} {'':>8} {'':>8} {'':>8} {'':>8} {_ms(statistics.median(harness_all))} "
        f"{_ms(p90(harness_all))}"
    )
    model = [r.model_s for r in rows]
    print(
        f"model latency (stand-in + SDK + HTTP, not harness): median {statistics.median(model) * 1000:.1f} ms, "
        f"p90 {p90(model) * 1000:.1f} ms"
    )


def print_per_step(rows: list[StepTiming]) -> None:
    print(f"{'step':>4} {'kind':<12} {'wall ms':>8} {'model ms':>8} {'tool ms':>8} {'book ms':>8}")
    for r in rows:
        print(
            f"{r.step:>4} {r.kind:<12} {_ms(r.wall_s)} {_ms(r.model_s)} {_ms(r.tool_s)} {_ms(r.bookkeeping_s)}"
        )


def print_cache_table(rows: list[CacheRow]) -> bool:
    print("Prompt-cache effectiveness (tokens estimated as JSON characters / 4)")
    header = (
        f"{'req':>3} {'input tok':>9} {'<= last bp':>10} {'same as prev':>12} {'share':>6} "
        f"{'stand-in read':>13}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        read_share = r.standin_read / r.total if r.total else 0.0
        print(
            f"{r.number:>3} {r.total:>9} {r.before_breakpoint:>10} {r.cacheable:>12} {r.share:>6.1%} "
            f"{r.standin_read:>7} {read_share:>5.0%}"
        )
    later = [r for r in rows if r.number >= CACHE_FROM_REQUEST]
    if not later:
        print(f"fewer than {CACHE_FROM_REQUEST} requests: no aggregate")
        return True
    total = sum(r.total for r in later)
    share = sum(r.cacheable for r in later) / total
    read = sum(r.standin_read for r in later) / total
    ok = share >= CACHE_TARGET
    print(
        f"requests {CACHE_FROM_REQUEST}-{rows[-1].number}: cacheable share {share:.1%} of {total} input tokens "
        f"(lowest single request {min(r.share for r in later):.1%}; stand-in reported {read:.1%} read from "
        f"cache); target >= {CACHE_TARGET:.0%}: {'met' if ok else 'MISSED'}"
    )
    return ok


def side_by_side(args: argparse.Namespace, work: Path) -> None:
    tools = [r for r in read_records(args.trajectory) if r.get("type") == "tool"]
    steps = shell_steps(tools, test_command=TEST_COMMAND)
    repos = [("demo", make_bench_repo(work / "small", 0))]
    if args.extra_files:
        repos.append(
            (f"demo + {args.extra_files:,} files", make_bench_repo(work / "large", args.extra_files))
        )
    mini = None
    if not args.no_mini:
        python = args.mini_python or ensure_mini_python(default_environment_dir())
        mini = MiniWorker(python, path_first=str(Path(sys.executable).parent))
    profiler = cProfile.Profile() if args.profile else None
    load_before = os.getloadavg()
    try:
        figures = compare_harnesses(
            repos, steps, mini, work / "rounds", rounds=args.rounds, sandbox=args.sandbox, profiler=profiler
        )
    finally:
        if mini is not None:
            mini.close()
    print_side_by_side(figures, mini_version=mini.version if mini else None, sandbox=args.sandbox)
    load = os.getloadavg()
    print(
        f"{len(steps)} steps x {args.rounds} rounds per repository, interleaved; {os.cpu_count()} CPUs, load "
        f"average {load_before[0]:.2f} before, {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} after"
    )
    if profiler is not None:
        profiler.dump_stats(args.profile)
        print(f"\nbe-agent's per-step time, profiled (all rounds, all sizes; kept in {args.profile}):")
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("cumulative").print_stats(PROFILE_LINES)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trajectory", type=Path, default=DEFAULT_TRAJECTORY)
    parser.add_argument("--sandbox", choices=("bwrap", "none"), default="bwrap")
    parser.add_argument("--sandbox-runs", type=int, default=30)
    parser.add_argument("--per-step", action="store_true", help="also list every step's timings")
    parser.add_argument("--rounds", type=int, default=3, help="side by side: passes over the steps")
    parser.add_argument("--extra-files", type=int, default=20_000, help="side by side: the large repository")
    parser.add_argument("--no-mini", action="store_true", help="side by side: be-agent alone")
    parser.add_argument("--mini-python", type=Path, help=f"an interpreter with mini-swe-agent {MINI_VERSION}")
    parser.add_argument("--profile", type=Path, help="side by side: keep a cProfile of be-agent's steps")
    parser.add_argument("--side-by-side-only", action="store_true", help="skip the replay and cache tables")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="be-agent-overhead-"))
    try:
        side_by_side(args, work)
        if args.side_by_side_only:
            return 0
        print()
        replayed = replay_through_standin(args.trajectory, work, args.sandbox)
        records = list(read_records(Path(replayed.result.trajectory)))
        starts = sandbox_start_ms(args.sandbox, args.sandbox_runs, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    result = replayed.result
    print(
        f"{args.trajectory.name}: {result.steps} steps replayed through the stand-in API with the {args.sandbox} "
        f"sandbox: {result.status}, run wall {result.duration_s:.1f} s; {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    if replayed.differences:
        print("replay DIFFERS from the recording: " + "; ".join(replayed.differences[:3]))
    else:
        print(f"replay matches the recording ({replayed.compared} tool results compared)")
    print()
    rows = step_timings(records)
    print_step_table(rows)
    print(
        f"sandbox start (`true` in {args.sandbox}, {len(starts)} runs): median {statistics.median(starts):.1f} ms, "
        f"p90 {p90(starts):.1f} ms"
    )
    if args.per_step:
        print()
        print_per_step(rows)
    print()
    print_cache_table(cache_rows([r.body for r in replayed.requests], [r.usage for r in replayed.requests]))
    return 1 if replayed.differences or not rows else 0


if __name__ == "__main__":
    raise SystemExit(main())
