"""One run, start to end: validate, copy the repository, baseline, loop, verdict, commit, hand the branch back.

The user's repository is read at the start and receives one ref at the end, and only when the harness's
own test run says the change is fixed. Everything else happens in `<state_dir>/runs/<run_id>/`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from agent import console
from agent import targets as tg
from agent import workspace as ws
from agent.baseline import ImportsOutsideCheckout, baseline_problem, make_imports_local
from agent.changes import TreeWatch
from agent.config import RunRequest, RunResult, Status
from agent.disk import DiskQuota
from agent.errors import (
    AgentError,
    ExitCode,
    InternalError,
    Interrupted,
    RunStopped,
    UsageError,
    lower_layer_errors,
)
from agent.finish_gate import FinishGate
from agent.guidance import load_guidance, system_prompt
from agent.harness_tests import HarnessTests, TreeRunner
from agent.logs import close_logging, configure_logging, get_logger, redact_secret_values
from agent.loop import AgentLoop, Limits, LoopState
from agent.lower_layers import detect_test_command, make_sandbox, preflight
from agent.model import Model
from agent.phases import summarise
from agent.pricing import Pricing
from agent.progress import Progress
from agent.providers import PROVIDER_INFO
from agent.remote import TARGETS_TRAILER
from agent.report import render_markdown_report
from agent.toolchain import Toolchain, find_python_toolchain
from agent.trajectory import Trajectory
from agent.untrusted import untrusted_section, untrusted_task
from agent.verdict import decide, disagreements, verification
from agent.verify import edited_targets, verify
from agent.view import save_run_page
from sandbox.base import Sandbox, SandboxConfig
from sandbox.bwrap import checkout_path_inside
from tools.base import Tool
from tools.bash import BashTool
from tools.detect import TestCommand
from tools.editor import EditorTool
from tools.finish import FINISH_SPEC, FinishReport
from tools.pytest_guard import GuardPlugin, install_guard
from tools.run_tests import RunTestsTool
from tools.test_report import TestReport

log = get_logger("be-agent.run")


@dataclass
class RunPaths:
    root: Path

    @property
    def checkout(self) -> Path:
        return self.root / "checkout"

    @property
    def scratch(self) -> Path:
        return self.root / "scratch"

    @property
    def trajectory(self) -> Path:
        return self.root / "trajectory.jsonl"

    @property
    def diff(self) -> Path:
        return self.root / "change.diff"

    @property
    def harness(self) -> Path:
        return self.root / "harness"  # the harness's own test runs, each in a fresh copy of a commit

    @property
    def pycache(self) -> Path:
        return self.root / "pycache"  # bytecode of the toolchain, written by the baseline, then read-only

    @property
    def guard(self) -> Path:
        return self.root / "guard"  # the runtime check's plugin, mounted read-only in those runs

    @property
    def owner(self) -> Path:
        return self.root / "owner.json"

    @property
    def result(self) -> Path:
        return self.root / "result.json"


def new_run_id() -> str:
    return secrets.token_hex(4)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_abandoned_runs(state_dir: Path) -> list[str]:
    """Runs whose process died without finishing (kill -9, power loss): remove their checkout and scratch,
    keep the trajectory for diagnosis. Returns the run ids cleaned."""
    cleaned: list[str] = []
    runs = state_dir / "runs"
    if not runs.is_dir():
        return cleaned
    for run_dir in sorted(runs.iterdir()):
        paths = RunPaths(run_dir)
        if not paths.owner.is_file() or paths.result.exists():
            continue
        try:
            pid = int(json.loads(paths.owner.read_text()).get("pid", 0))
        except (ValueError, OSError):
            pid = 0
        if pid and _pid_alive(pid):
            continue
        for tree in (paths.checkout, paths.scratch, paths.harness, paths.pycache):
            shutil.rmtree(tree, ignore_errors=True)
        paths.result.write_text(
            json.dumps({"status": "error", "reason": "abandoned: the process died mid-run"})
        )
        cleaned.append(run_dir.name)
    return cleaned


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGINT become `Interrupted` in the main thread, so every `finally` below runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise Interrupted(f"interrupted by {signal.Signals(signum).name}")

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _targets_note(targets: tg.Targets) -> str:
    """What the model is told about the tests the run is judged by (the gate holds it to the same)."""
    if targets.source in ("--tests", "task"):
        return "# Tests that must pass when you are done\n" + "\n".join(targets.names)
    if targets.source == "follow-up":
        return (
            "# Tests that must pass when you are done\nThe tests the earlier runs on this branch fixed, and "
            "those the comments name; no test that passes now may break.\n" + "\n".join(targets.names)
        )
    if targets.source == "baseline failures":
        return (
            "# Tests that must pass when you are done\nThe tests failing in the baseline run below. If some of "
            "them fail for reasons unrelated to the task, list the ones your change fixes in the finish "
            "report's `fixes_tests`; the others are then reported as already failing."
        )
    return (
        "# Tests that must pass when you are done\nNo test fails at baseline, so the run is judged by the "
        "tests your change adds: add at least one that fails on the original code and passes with your change."
    )


def _first_message(
    req: RunRequest,
    checkout: Path,
    test_command: str,
    tests_summary: str,
    targets: tg.Targets,
    notes: list[str] | None = None,
) -> str:
    parts = []
    if req.task_untrusted:
        parts.append(untrusted_task(req.task))
    else:
        parts.append("# Task\n" + req.task.strip())
    for rel, text in load_guidance(checkout):
        parts.append(f"# Repository guidance: {rel}\n{text.strip()}")
    parts.append(_targets_note(targets))
    if notes:
        parts.append("# How the tests are set up here\n" + "\n".join(f"- {n}" for n in notes))
    heading = f"# Baseline test run (before any change): `{test_command}`"
    parts.append(untrusted_section(heading, "output of the repository's tests", tests_summary))
    return redact_secret_values("\n\n".join(parts))


def validate(req: RunRequest, run_id: str) -> tuple[Path, str, str, str | None]:
    """Check everything the user gave us before anything is created. Returns (repo, base sha, branch,
    existing tip of that branch when it may be updated)."""
    if not req.task.strip():
        raise UsageError("the task is empty: give --task TEXT or a non-empty --task-file")
    repo = ws.open_user_repo(req.repo.expanduser())
    base_sha = ws.resolve_commit(repo, req.base)
    branch = req.branch or f"be-agent/{ws.slugify(req.task)}-{run_id[:6]}"
    ws.check_branch_name(repo, branch)
    existing = ws.branch_tip(repo, branch)
    if existing and not (req.update_branch and existing == base_sha):
        raise UsageError(f"branch {branch!r} already exists in {repo}; choose another name with --branch")
    return repo, base_sha, branch, existing


@dataclass
class TestSetup:
    """How a run's tests run: the sandbox (interpreter, mounts, environment), the tool, the command, and
    what the harness did so the tests exercise the checkout (said to the user and to the model)."""

    __test__ = False  # not a pytest test class

    sandbox: Sandbox
    tests: RunTestsTool
    command: TestCommand
    toolchain: Toolchain
    notes: list[str]


def prepare_tests(req: RunRequest, repo: Path, checkout: Path, scratch: Path) -> TestSetup:
    """The sandbox for `checkout` and the tests tool in it, exactly as a run sees them.

    The checkout is shown at the user's repository path, so an editable install in the user's virtualenv
    imports the checkout; the interpreter is found without running anything on the host; a copy of the
    repository's code installed elsewhere that the tests would import instead is put behind the checkout
    (PYTHONPATH), or the run stops with exit 2 saying so."""
    from agent.config_file import setting_name

    source = setting_name("test_cmd", req.setting_sources.get("test_cmd"))
    test_command = detect_test_command(checkout, req.test_cmd, source)
    if test_command is None:
        raise UsageError(f"no test command found in {repo}: pass --test-cmd (the verdict needs tests)")
    workdir = checkout_path_inside(str(repo))
    base = SandboxConfig(
        command_timeout=req.command_timeout,
        test_timeout=req.test_timeout,
        network=req.network,
        workdir=workdir,
    )

    def probe_box(mounts: tuple[str, ...], env: dict[str, str]) -> Sandbox:
        # an empty tree in place of the checkout: the probe is about the interpreter, not the repository
        where = Path(tempfile.mkdtemp(prefix="python-probe-", dir=scratch))
        (where / "tree").mkdir()
        config = dataclasses.replace(base, network=False, extra_ro_paths=mounts, extra_env=env)
        return make_sandbox(req.sandbox, where / "tree", where / "tmp", config)

    scratch.mkdir(parents=True, exist_ok=True)
    toolchain = find_python_toolchain(repo, probe_box, needs_pytest=test_command.pytest)
    config = dataclasses.replace(base, extra_ro_paths=toolchain.mounts, extra_env=toolchain.env)
    sandbox = make_sandbox(req.sandbox, checkout, scratch, config)

    def remake(extra: dict[str, str]) -> Sandbox:
        fixed = dataclasses.replace(config, extra_env={**config.extra_env, **extra})
        return make_sandbox(req.sandbox, checkout, scratch, fixed)

    try:
        sandbox, fix = make_imports_local(sandbox, test_command, checkout, remake)
    except ImportsOutsideCheckout as exc:
        sandbox.close()
        raise UsageError(str(exc)) from None
    notes = [fix.note] if fix else []
    tests = RunTestsTool(sandbox, test_command, timeout=req.test_timeout)
    return TestSetup(sandbox, tests, test_command, toolchain, notes)


def make_test_runner(
    req: RunRequest, repo: Path, checkout: Path, scratch: Path
) -> tuple[Sandbox, RunTestsTool, TestCommand]:
    """`prepare_tests` for callers that probe the tests first (`be-agent ci`): they get the answer the run
    would."""
    setup = prepare_tests(req, repo, checkout, scratch)
    for note in setup.notes:
        console.warn(note)
    return setup.sandbox, setup.tests, setup.command


def _log_setup(setup: TestSetup) -> None:
    toolchain = setup.toolchain
    for refused in toolchain.refused:
        log.warning("interpreter_refused", reason=refused)
    log.info(
        "tests_setup",
        python=toolchain.describe(),
        mounts=list(toolchain.mounts),
        workdir=setup.sandbox.workdir,
        command=setup.command.command,
    )
    for note in setup.notes:
        log.warning("tests_import_the_checkout", note=note)


def check_baseline(baseline: TestReport, setup: TestSetup, checkout: Path, trajectory: Trajectory) -> None:
    """Stop before any model call when the baseline shows the tests cannot run at all (exit 2, one line);
    the baseline's output stays in the trajectory for a closer look."""
    problem = baseline_problem(baseline, setup.command, checkout=checkout, python=setup.toolchain.describe())
    if problem:
        summary = setup.tests.summarise(baseline)
        trajectory.write("baseline", report=baseline.model_dump(), summary=summary, flaky=[])
        raise UsageError(f"the tests cannot run: {problem}")


REQUEST_TIMEOUT_S = 600.0


def _default_model(req: RunRequest) -> Model:
    """The model the request names, from its provider (credentials checked here: a run that cannot reach
    the model stops before anything is created)."""
    from agent.providers import ProviderSettings, connect
    from agent.retry import RetryEvent

    def on_retry(event: RetryEvent) -> None:
        log.warning(
            "model_api_retry",
            attempt=event.attempt,
            reason=event.reason,
            wait_s=round(event.wait_s, 2),
            elapsed_s=round(event.elapsed_s, 2),
        )

    connection = connect(
        ProviderSettings(
            provider=req.provider,
            aws_region=req.aws_region,
            vertex_project=req.vertex_project,
            vertex_region=req.vertex_region,
        ),
        timeout=REQUEST_TIMEOUT_S,
    )
    from agent.anthropic_model import AnthropicModel  # the SDK loads once the credentials are there

    return AnthropicModel(
        req.model,
        connection=connection,
        max_tokens=req.max_tokens,
        retry_budget=req.retry_budget,
        on_retry=on_retry,
        request_timeout=REQUEST_TIMEOUT_S,
    )


def _model_secrets(model: Model) -> list[str]:
    """The credential values the model's client holds, so the run's log redacts them by value too."""
    secrets = getattr(model, "secrets", None)
    return list(secrets()) if callable(secrets) else []


def run_task(req: RunRequest, *, model: Model | None = None, progress: Progress | None = None) -> RunResult:
    started = time.monotonic()
    run_id = new_run_id()
    repo, base_sha, branch, existing_tip = validate(req, run_id)
    warning = preflight(req.sandbox)
    if warning:
        console.warn(warning)
    model = model or _default_model(req)
    req.state_dir.mkdir(parents=True, exist_ok=True)
    paths = RunPaths(req.state_dir / "runs" / run_id)
    paths.root.mkdir(parents=True)
    paths.owner.write_text(json.dumps({"pid": os.getpid(), "repo": str(repo), "branch": branch}))
    # the console shows the progress line and warnings; every log line goes to log.jsonl (and with --verbose
    # to the console too)
    configure_logging(
        paths.root,
        run_id,
        verbose=req.verbose,
        quiet=not req.verbose,
        secrets=_model_secrets(model),
        console_stream=progress.above_status() if progress else None,
    )
    log.info(
        "run_started",
        repo=str(repo),
        base=base_sha,
        branch=branch,
        model=model.name,
        provider=req.provider,
        sandbox=req.sandbox,
        settings_from=req.setting_sources,
    )
    if req.task_log:
        log.info("task_source", **req.task_log)  # what was hidden or left out of the task's source
    for stale in clean_abandoned_runs(req.state_dir):
        log.warning("cleaned_abandoned_run", stale_run=stale)
    trajectory = Trajectory(paths.trajectory)
    sandbox: Sandbox | None = None
    watch: TreeWatch | None = None
    result = RunResult(
        status="error",
        branch=None,
        base=base_sha,
        run_id=run_id,
        run_dir=str(paths.root),
        trajectory=str(paths.trajectory),
    )
    try:
        with _signals_interrupt():
            ws.clone_for_run(repo, base_sha, branch, paths.checkout)
            setup = prepare_tests(req, repo, paths.checkout, paths.scratch)
            sandbox, tests, test_command = setup.sandbox, setup.tests, setup.command
            _log_setup(setup)
            tools: list[Tool] = [EditorTool(paths.checkout, sandbox.workdir), BashTool(sandbox), tests]
            system = system_prompt()
            trajectory.write(
                "start",
                run_id=run_id,
                run_dir=str(paths.root),
                repo=str(repo),
                base=base_sha,
                branch=branch,
                task=req.task,
                task_untrusted=req.task_untrusted,
                model=model.name,
                provider=req.provider,
                test_cmd=test_command.command,
                workdir=sandbox.workdir,
                python=setup.toolchain.python,
                named_tests=req.named_tests,
                system=system,
                tools=[t.spec() for t in tools] + [FINISH_SPEC],
                sandbox=req.sandbox,
            )
            guard = install_guard(paths.guard)
            harness = HarnessTests(
                _harness_runner(tests, guard, paths.pycache),
                paths.checkout,
                paths.harness,
                base=base_sha,
                keep=req.keep,
            )
            first = harness.first_baseline(req.baseline, paths.pycache, test_command.command)
            baseline = first.report
            check_baseline(baseline, setup, paths.checkout, trajectory)
            flaky = _rerun_disagreements(harness, baseline)
            # what the suite writes as it runs is never part of the change
            ws.exclude_from_change(paths.checkout, first.written)
            baseline_text = tests.summarise(baseline)
            trajectory.write("baseline", report=baseline.model_dump(), summary=baseline_text, flaky=flaky)
            task_ids = tg.ids_in_text(req.task)
            gate = FinishGate(
                baseline,
                named=req.named_tests,
                in_force=req.targets_in_force,
                requested=req.targets_requested,
                task_ids=task_ids,
                flaky=flaky,
                structured_runner=test_command.pytest,
                changed_paths=lambda: ws.changed_paths(paths.checkout, base_sha),
                edited_targets=lambda names: edited_targets(paths.checkout, base_sha, names),
            )
            # edits through the editor or bash, found at a cost that follows what changed (see agent/changes.py)
            watch = TreeWatch(paths.checkout)
            if watch.fallback_reason:
                log.warning("change_detection_fallback", reason=watch.fallback_reason)
            loop = AgentLoop(
                model,
                tools,
                system,
                gate=gate,
                finish_spec=FINISH_SPEC,
                limits=Limits(
                    req.max_steps,
                    req.max_cost,
                    req.max_time,
                    started=started,
                    host_tool_time=req.command_timeout,
                ),
                pricing=Pricing(req.prices, provider=PROVIDER_INFO[req.provider].price_table),
                trajectory=trajectory,
                worktree_fingerprint=watch.fingerprint,
                on_step=_progress_callback(progress, started),
                disk_check=DiskQuota(paths.root, req.disk_limit, within=("checkout", "scratch")).exceeded,
            )
            try:
                first_message = _first_message(
                    req, paths.checkout, test_command.command, baseline_text, gate.targets(), setup.notes
                )
                state = loop.run(first_message)
                stop = RunStopped("")
            except RunStopped as stopped:
                state, stop = loop.state, stopped
            try:
                result = _conclude(
                    req,
                    repo,
                    paths,
                    base_sha,
                    branch,
                    existing_tip,
                    harness,
                    gate,
                    test_command,
                    baseline,
                    flaky,
                    state,
                    stop,
                    run_id,
                )
            except RunStopped as refused:
                result = _loop_result(
                    paths, base_sha, baseline, state, run_id, status="not_fixed", reason=refused.reason
                )
            trajectory.write("end", **json.loads(result.model_dump_json()))
    except AgentError as exc:
        result.status, result.reason = "error", exc.message
        exc.details.update(_save_diff(paths, base_sha, result))
        trajectory.write("end", status="error", reason=exc.message, exit_code=exc.exit_code)
        raise
    except KeyboardInterrupt as exc:
        result.status, result.reason = "error", "interrupted"
        details = _save_diff(paths, base_sha, result)
        trajectory.write("end", status="error", reason="interrupted", exit_code=ExitCode.INTERRUPTED)
        raise Interrupted("interrupted", details=details) from exc
    except Exception as exc:
        log.exception("internal_error")
        result.status, result.reason = "error", f"internal error: {type(exc).__name__}: {exc}"
        details = _save_diff(paths, base_sha, result)
        trajectory.write("end", status="error", reason=result.reason, exit_code=ExitCode.INTERNAL)
        raise InternalError(
            f"{result.reason} (this is a bug in be-agent; the run's log is {paths.root / 'log.jsonl'})",
            details=details,
        ) from exc
    finally:
        if watch is not None:
            watch.close()
        if sandbox is not None:
            sandbox.close()
        result.duration_s = round(time.monotonic() - started, 3)
        result.provider, result.model = req.provider, model.name
        trajectory.close()
        log.info("run_ended", status=result.status, reason=result.reason)
        close_logging()
        result.page = save_run_page(paths.root, result.model_dump(mode="json"))
        paths.result.write_text(result.model_dump_json(indent=2))
        if not req.keep:
            for tree in (paths.checkout, paths.scratch, paths.harness, paths.pycache):
                shutil.rmtree(tree, ignore_errors=True)
    return result


MAX_CHANGE_BYTES = 256 * 1024**2


def _oversized_change(checkout: Path, changed: list[str]) -> str | None:
    """A change this large is not a code change; copying it into commits, diffs and the user's repository
    would only fill disks."""
    total = 0
    for rel in changed:
        try:
            total += os.lstat(checkout / rel).st_size
        except OSError:
            continue
    if total <= MAX_CHANGE_BYTES:
        return None
    return (
        f"the change is {total / 1024**2:,.0f} MiB of files (at most {MAX_CHANGE_BYTES // 1024**2} MiB): "
        "not committed, not verified"
    )


def _loop_result(
    paths: RunPaths,
    base_sha: str,
    baseline: TestReport,
    state: LoopState,
    run_id: str,
    *,
    status: Status,
    reason: str,
) -> RunResult:
    """The result as far as the loop and the baseline know it; the verdict fills in the rest."""
    return RunResult(
        status=status,
        reason=reason,
        base=base_sha,
        tests_before=baseline.brief(),
        steps=state.steps,
        phases=summarise(state.phases),
        tokens=state.usage.as_dict(),
        cost_usd=None if state.cost is None else round(state.cost, 6),
        price_source=state.price_source,
        model_latency_s=round(state.model_latency, 3),
        trajectory=str(paths.trajectory),
        run_dir=str(paths.root),
        report=state.report,
        run_id=run_id,
    )


def _save_diff(paths: RunPaths, base_sha: str, result: RunResult) -> dict[str, str]:
    """Whatever the model changed before a run failed stays reviewable in the run directory; returns where
    to look (for the error's details)."""
    details = {"run_dir": str(paths.root), "trajectory": str(paths.trajectory)}
    if paths.checkout.is_dir():
        try:
            ws.write_diff(paths.checkout, base_sha, paths.diff)
            result.diff = details["diff"] = str(paths.diff)
        except (AgentError, OSError):
            pass
    return details


def _harness_runner(tests: RunTestsTool, guard: GuardPlugin, pycache: Path) -> TreeRunner:
    """The harness's runs: the tests tool in a sandbox like the model's, with the runtime check and the
    shared read-only bytecode (see RunTestsTool.run_in)."""

    def run(tree: Path, ids: list[str]) -> TestReport:
        with lower_layer_errors():
            return tests.run_in(tree, ids, guard=guard, pycache=pycache)

    return run


def _rerun_disagreements(harness: HarnessTests, first: TestReport) -> list[str]:
    """Run the baseline's failing tests once more on the same code; those whose outcome changes are flaky,
    not evidence."""
    if not first.failing or not first.structured:
        return []
    return disagreements(first, harness.baseline(first.failing).report, first.failing)


def _progress_callback(progress: Progress | None, started: float) -> Any:
    if progress is None:
        return None

    def update(state: LoopState) -> None:
        tokens = state.usage.input + state.usage.output + state.usage.cache_read + state.usage.cache_write
        progress.update(
            step=state.steps,
            last_tool=state.last_tool,
            tokens=tokens,
            cost_usd=state.cost,
            elapsed_s=time.monotonic() - started,
        )

    return update


def _conclude(
    req: RunRequest,
    repo: Path,
    paths: RunPaths,
    base_sha: str,
    branch: str,
    existing_tip: str | None,
    harness: HarnessTests,
    gate: FinishGate,
    test_command: TestCommand,
    baseline: TestReport,
    flaky: list[str],
    state: LoopState,
    stop: RunStopped,
    run_id: str,
) -> RunResult:
    """The harness's own verdict, then the hand-back when (and only when) it says fixed.

    The change is committed first and every verification run happens in a fresh copy of that commit, so
    what is verified is exactly what the branch holds: nothing ignored or left over in the checkout can
    help, and nothing one run writes reaches another."""
    if not stop.judged:
        raise RunStopped(stop.reason)  # caught below: nothing is committed, diffed or copied
    changed = ws.changed_paths(paths.checkout, base_sha)
    too_big = _oversized_change(paths.checkout, changed) or ws.unrepresentable_names(changed)
    if too_big:
        raise RunStopped(too_big)  # caught below: nothing is committed, diffed or copied
    subject = ws.subject_from_task(req.task)
    trailers = {**req.commit_trailers, "Be-Agent-Run": run_id}
    commit = (
        ws.commit_all(paths.checkout, base_sha, subject, "(verification pending)", trailers)
        if changed
        else None
    )
    ws.neutral_diff(paths.checkout, base_sha, commit or base_sha, paths.diff)
    claimed = _finish_report(state).fixes_tests if state.report and not state.gave_up else []
    verified = verify(
        harness,
        paths.checkout,
        base=base_sha,
        commit=commit,
        baseline=baseline,
        flaky=flaky,
        targets=gate.targets(claimed),
        structured_runner=test_command.pytest,
    )
    verdict = decide(verified.evidence)
    block = verification(
        verified.evidence,
        verdict,
        changed_config=verified.facts.changed_config,
        binary_files=verified.facts.binary_files,
    ).as_json()
    status, reason = verdict.status, verdict.reason
    if state.gave_up or not stop.conclusive:
        status = "not_fixed"
    stop_reason = stop.reason
    if stop_reason and (state.gave_up or status != "fixed" or not stop_reason.startswith("the model")):
        # how the loop ended comes first: a limit or giving up explains a not_fixed better than the tests
        reason = f"{stop_reason}; {reason}"
    final = verified.evidence.final
    result = _loop_result(paths, base_sha, baseline, state, run_id, status=status, reason=reason)
    result.tests_after = final.brief() if final is not None else baseline.brief()
    result.verification, result.diff = block, str(paths.diff)
    if status == "fixed":
        # what a follow-up on this branch must keep passing (agent/targets.py): the targets, and the change's
        # tests shown to fail without it
        added = verified.evidence.added
        fixed_by = {*verdict.target_ids, *(added.failing_on_base if added and added.fail_on_base else [])}
        if fixed_by:
            trailers[TARGETS_TRAILER] = json.dumps(sorted(fixed_by))
        body = render_markdown_report(state.report, block, status=status, reason=reason)
        result.commit = ws.reword_head(paths.checkout, subject, body, trailers)
        if req.fetch_back:
            ws.fetch_back(repo, paths.checkout, branch, expected_old=existing_tip)
        result.branch = branch
    return result


def _finish_report(state: LoopState) -> FinishReport:
    """The accepted finish report (the gate validated it before accepting)."""
    try:
        return FinishReport.model_validate(state.report)
    except ValueError:
        return FinishReport()
