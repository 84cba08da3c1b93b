"""What a bench worker does for one task and one run, wherever it runs (a local process or a Ray task).

`bench_one` finds the task's repository, prepares its environment (the setup step), runs the agent (or takes
the gold or empty patch) and judges the patch with the sandboxed judge. It never raises for a task that went
wrong: it returns an outcome whose row says why, and whose fault it was:

- `failure_kind: "model"`: the agent's patch was judged and does not resolve the task (or is empty, does not
  apply, times the tests out), or the agent ran out of context;
- `failure_kind: "infra"`: the task never got a fair judgement: the clone failed, the setup step failed,
  the sandbox could not start, the model API kept failing, the task's own test_patch does not apply, or
  be-agent itself failed. `exit_code` is the exit code that failure means (agent.errors.ExitCode:
  2 usage or configuration, 3 a remote, 4 the sandbox, 70 a bug in be-agent).

The worker writes nothing into the bench's output directory: the patch and the agent run's files (its page,
trajectory, log, result) travel back in the outcome, and the driver stores them. Its own files (repository
clones, environments, runs in progress) live in `work_dir`, which is local to the machine it runs on.
Every row names the judge that produced it (`judge`: be-agent's version and a digest of the judge's code),
so the driver can refuse a row judged by anything but its own judge.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agent import __version__
from agent.bench_env import Environments, prepare_environment
from agent.bench_tasks import BenchTask, RepoSources, prepare_repo
from agent.errors import ContextOverflowError, ExitCode, Interrupted, as_agent_error
from agent.settings import RunSettings

AgentKind = Literal["be-agent", "gold", "empty"]
FailureKind = Literal["", "model", "infra"]
RUN_FILES = ("run.html", "trajectory.jsonl", "log.jsonl", "result.json", "change.diff")
MAX_RUN_FILE_BYTES = 32 * 1024**2  # a run file larger than this stays behind on the worker
# What a Ray worker needs to reach the model API. Sent as a task argument, never in Ray's runtime
# environment (which Ray keeps in its task table and shows on its dashboard).
MODEL_ENV_NAMES = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL")
_JUDGE_MODULES = ("judge.py", "bench_env.py", "bench_tasks.py", "test_files.py")


def judge_identity() -> str:
    """be-agent's version and a digest of the judge's code: equal on two machines only when they judge alike."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in _JUDGE_MODULES:
        digest.update(name.encode() + b"\0" + (here / name).read_bytes())
    return f"be-agent {__version__} judge {digest.hexdigest()[:12]}"


@dataclass(frozen=True)
class BenchOptions:
    out: Path
    agent: AgentKind = "be-agent"
    settings: RunSettings = field(default_factory=RunSettings)  # its state_dir is not used
    eval_timeout: float = 600.0
    sources: RepoSources | None = None  # None: relative to the task file
    environments: Environments = field(default_factory=Environments)
    setup_network: bool = True  # network during the setup step (never during the agent's or judge's runs)
    setup_timeout: float = 1800.0
    work_dir: Path | None = None  # None: OUT/work for local workers, the system temp dir for Ray workers
    model_env: Mapping[str, str] = field(default_factory=dict, repr=False)  # see MODEL_ENV_NAMES


@dataclass(frozen=True)
class WorkOrder:
    """One task, one run of it, one attempt."""

    task_json: str
    run: int
    attempt: int


def worker_dir(options: BenchOptions) -> Path:
    where = options.work_dir or Path(tempfile.gettempdir()) / f"be-agent-bench-{os.getuid()}"
    where.mkdir(parents=True, exist_ok=True)
    return where


@contextmanager
def _model_environment(values: Mapping[str, str]) -> Iterator[None]:
    """The model API's settings the driver sent, in this process's environment for one task only."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def _run_files(state_dir: Path) -> dict[str, str]:
    """The top-level files of the one run under `state_dir` (an agent run leaves exactly one)."""
    runs = sorted((state_dir / "runs").glob("*/")) if (state_dir / "runs").is_dir() else []
    files: dict[str, str] = {}
    for run_dir in runs[:1]:
        for name in RUN_FILES:
            path = run_dir / name
            if path.is_file() and path.stat().st_size <= MAX_RUN_FILE_BYTES:
                files[name] = path.read_text(encoding="utf-8", errors="replace")
    return files


def _run_agent(
    task: BenchTask, repo: Path, options: BenchOptions, state_dir: Path
) -> tuple[str, dict[str, Any]]:
    """The agent's patch for `task` and what it cost."""
    if options.agent == "gold":
        return task.patch, {"agent_status": "gold"}
    if options.agent == "empty":
        return "", {"agent_status": "empty"}
    from agent.config import build_request
    from agent.run import run_task  # the agent stack loads only when an agent really runs

    request = build_request(
        options.settings,
        repo=repo,
        task=task.problem_statement,
        base=task.base_commit,
        test_cmd=task.test_cmd,
        fetch_back=False,
        keep=False,
        quiet=True,
        state_dir=state_dir,
    )
    result = run_task(request)
    patch = (
        Path(result.diff).read_text(encoding="utf-8") if result.diff and Path(result.diff).is_file() else ""
    )
    return patch, {
        "agent_status": result.status,
        "agent_reason": result.reason,
        "steps": result.steps,
        "tokens": result.tokens,
        "cost_usd": result.cost_usd,
        "price_source": result.price_source,
        "model_latency_s": round(result.model_latency_s, 3),
        "harness_s": round(result.duration_s - result.model_latency_s, 3),
    }


def _infra(row: dict[str, Any], stage: str, exc: BaseException) -> None:
    known = as_agent_error(exc)
    message = known.message if known else f"{type(exc).__name__}: {exc}"
    row["failure_kind"] = "infra"
    row["exit_code"] = known.exit_code if known else ExitCode.INTERNAL
    row["failure"] = f"{stage}: {message.splitlines()[0] if message else type(exc).__name__}"
    row["failure_detail"] = message[-2000:]


def new_row(task: BenchTask, order: WorkOrder) -> dict[str, Any]:
    return {
        "instance_id": task.instance_id,
        "run": order.run,
        "attempt": order.attempt,
        "resolved": False,
        "failure_kind": "",
        "exit_code": None,
        "failure": "",
        "steps": 0,
        "tokens": {},
        "tokens_total": 0,
        "cost_usd": None,
        "wall_s": 0.0,
        "harness_s": None,
        "judge": judge_identity(),
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }


def bench_one(order: WorkOrder, options: BenchOptions) -> dict[str, Any]:
    """Solve and judge one task once. Returns {"row": ..., "patch": ..., "run_files": {...}}."""
    task = BenchTask.model_validate_json(order.task_json)
    started = time.monotonic()
    row = new_row(task, order)
    patch = ""
    files: dict[str, str] = {}
    work = worker_dir(options)
    state_dir = Path(tempfile.mkdtemp(prefix="task-", dir=work))
    try:
        with _model_environment(options.model_env):
            patch, files = _solve_and_judge(task, options, work, state_dir, row)
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    row["tokens_total"] = sum(row["tokens"].values()) if isinstance(row["tokens"], dict) else 0
    row["wall_s"] = round(time.monotonic() - started, 3)
    return {"row": row, "patch": patch, "run_files": files}


def _solve_and_judge(
    task: BenchTask, options: BenchOptions, work: Path, state_dir: Path, row: dict[str, Any]
) -> tuple[str, dict[str, str]]:
    from agent.judge import evaluate  # the judge's imports load in the worker, not in the driver

    try:
        sources = options.sources or RepoSources(Path.cwd())
        repo = prepare_repo(sources.locate(task.repo), work / "repos")
    except Interrupted:
        raise
    except Exception as exc:
        _infra(row, "repository", exc)
        return "", {}
    spec = options.environments.for_task(task)
    env_dir: Path | None = None
    if spec is not None:
        if spec.test_cmd and not task.test_cmd:
            task = task.model_copy(update={"test_cmd": spec.test_cmd})
        try:
            env_dir = prepare_environment(
                task,
                spec,
                repo,
                work / "envs",
                sandbox=options.settings.sandbox,
                network=options.setup_network,
                timeout=options.setup_timeout,
            )
        except Interrupted:
            raise
        except Exception as exc:
            _infra(row, "environment setup", exc)
            return "", {}
    try:
        patch, stats = _run_agent(task, env_dir or repo, options, state_dir)
        row.update(stats)
    except Interrupted:
        raise
    except ContextOverflowError as exc:  # the agent's conversation outgrew the model: the agent's failure
        row.update(agent_status="error", agent_reason=exc.message, failure_kind="model")
        row["failure"] = f"agent: {exc.message}"
        return "", _run_files(state_dir)
    except Exception as exc:
        row.update(agent_status="error", agent_reason=str(exc))
        _infra(row, "agent", exc)
        return "", _run_files(state_dir)
    files = _run_files(state_dir)
    try:
        verdict = evaluate(
            task,
            patch,
            repo=repo,
            work_dir=work,
            timeout=options.eval_timeout,
            sandbox=options.settings.sandbox,
            env_dir=env_dir,
        )
    except Interrupted:
        raise
    except Exception as exc:
        _infra(row, "judge", exc)
        return patch, files
    row["resolved"] = verdict.resolved
    row["eval_s"] = round(verdict.duration_s, 3)
    row["tests"] = verdict.outcomes
    row["test_infrastructure"] = verdict.test_infrastructure
    if verdict.task_broken:
        row.update(failure_kind="infra", exit_code=ExitCode.USAGE, failure=f"task: {verdict.reason}")
    elif not verdict.resolved:
        row["failure_kind"] = "model"
        row["failure"] = "empty patch" if not patch.strip() else verdict.reason
    return patch, files
