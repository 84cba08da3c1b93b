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
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Literal

from agent import console
from agent import targets as tg
from agent import workspace as ws
from agent.baseline import ImportsOutsideCheckout, baseline_problem, make_imports_local
from agent.changes import TreeWatch
from agent.config import RunRequest, RunResult
from agent.disk import DiskQuota
from agent.errors import AgentError, InternalError, Interrupted, UsageError, lower_layer_errors
from agent.finish_gate import FinishGate
from agent.first_message import Briefing, first_message
from agent.guidance import system_prompt
from agent.harness_tests import HarnessTests, TreeRunner
from agent.logs import close_logging, configure_logging, get_logger
from agent.loop import AgentLoop, Limits, LoopOutcome, LoopState
from agent.lower_layers import detect_test_command, make_sandbox, preflight
from agent.model import Model
from agent.phases import summarise
from agent.pricing import Pricing
from agent.progress import Progress
from agent.providers import PROVIDER_INFO
from agent.remote import TARGETS_TRAILER
from agent.report import render_markdown_report
from agent.setup_step import SETUP_STORE, prepare_environment
from agent.toolchain import Toolchain, find_python_toolchain
from agent.trajectory import Trajectory
from agent.verdict import Verdict, decide, disagreements, verification
from agent.verification import Verification
from agent.verify import Verified, edited_targets, verify
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
    def setup_output(self) -> Path:
        return self.root / SETUP_STORE  # what the setup step made, shown read-only in every tree

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
        for tree in (paths.checkout, paths.scratch, paths.harness, paths.pycache, paths.setup_output):
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


@dataclass(frozen=True)
class Destination:
    """Where a run starts and where its branch goes."""

    repo: Path  # the user's repository
    base: str  # the commit the run starts from (full sha)
    branch: str
    existing_tip: str | None  # the branch's tip, when it exists and may be fast-forwarded (--update-branch)


def validate(req: RunRequest, run_id: str) -> Destination:
    """Check everything the user gave us before anything is created."""
    if not req.task.strip():
        raise UsageError("the task is empty: give --task TEXT or a non-empty --task-file")
    repo = ws.open_user_repo(req.repo.expanduser())
    base_sha = ws.resolve_commit(repo, req.base)
    branch = req.branch or f"be-agent/{ws.slugify(req.task)}-{run_id[:6]}"
    ws.check_branch_name(repo, branch)
    existing = ws.branch_tip(repo, branch)
    if existing and not (req.update_branch and existing == base_sha):
        raise UsageError(f"branch {branch!r} already exists in {repo}; choose another name with --branch")
    return Destination(repo, base_sha, branch, existing)


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
    test_command = detect_test_command(checkout, req.test_cmd, source, junit_report=req.junit_report)
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
    # Node.js and Go, and the repository's setup step (agent/setup_step.py)
    config, _, _ = prepare_environment(req, repo, checkout, config)
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


# --- one run: its context, then its stages in order ----------------------------------------------------------


@dataclass
class RunContext:
    """What every stage of a run reads: the request, where the run starts and lives, the model and the
    run's record. `cleanup` closes what the stages open (the sandbox, the tree watch), however the run ends."""

    req: RunRequest
    run_id: str
    started: float  # time.monotonic() when the run began
    dest: Destination
    paths: RunPaths
    model: Model
    trajectory: Trajectory
    progress: Progress | None = None
    cleanup: ExitStack = field(default_factory=ExitStack)


def run_task(req: RunRequest, *, model: Model | None = None, progress: Progress | None = None) -> RunResult:
    """One run: prepare → baseline → work → verify → decide → hand back, each stage a function below.

    The result is built once, at the end: from the stages' conclusion, or from the error that ended them
    (raised again, with where to look, once the run's record is complete)."""
    ctx = open_run(req, model=model, progress=progress)
    try:
        with _signals_interrupt(), ctx.cleanup:
            space = prepare(ctx)
            baseline = take_baseline(ctx, space)
            done = work(ctx, space, baseline)
            checked = verify_change(ctx, baseline, done)
            if isinstance(checked, NotJudged):
                conclusion = Conclusion("not_fixed", checked.reason, done.outcome.state, baseline.report)
            else:
                decision = decide_run(done.outcome, checked.verified)
                conclusion = hand_back(ctx, done, checked, decision)
    except BaseException as exc:
        error = _as_run_error(ctx, exc)
        details = _keep_what_changed(ctx)
        reason = _failure_reason(exc)
        close_run(ctx, _error_result(ctx, reason, details), exit_code=error.exit_code if error else None)
        if error is None:  # not ours to translate (SystemExit): the result says error, the exception goes on
            raise
        error.details.update(details)
        if error is exc:
            raise
        raise error from exc
    return close_run(ctx, _result(ctx, conclusion))


def open_run(req: RunRequest, *, model: Model | None, progress: Progress | None) -> RunContext:
    """Check the request, connect the model, create the run's directory, log and trajectory. Nothing is
    created when the request or the model's credentials are refused."""
    started = time.monotonic()
    run_id = new_run_id()
    dest = validate(req, run_id)
    warning = preflight(req.sandbox)
    if warning:
        console.warn(warning)
    model = model or _default_model(req)
    req.state_dir.mkdir(parents=True, exist_ok=True)
    paths = RunPaths(req.state_dir / "runs" / run_id)
    paths.root.mkdir(parents=True)
    paths.owner.write_text(json.dumps({"pid": os.getpid(), "repo": str(dest.repo), "branch": dest.branch}))
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
        repo=str(dest.repo),
        base=dest.base,
        branch=dest.branch,
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
    return RunContext(req, run_id, started, dest, paths, model, trajectory, progress)


# --- stage 1: prepare ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workspace:
    """What `prepare` set up: the checkout's tests in the sandbox, the model's tools, the system prompt."""

    setup: TestSetup
    tools: list[Tool]
    system: str


def prepare(ctx: RunContext) -> Workspace:
    """Copy the repository at the base commit, set up its tests in the sandbox, record the run's start."""
    req, dest, paths = ctx.req, ctx.dest, ctx.paths
    ws.clone_for_run(dest.repo, dest.base, dest.branch, paths.checkout)
    setup = prepare_tests(req, dest.repo, paths.checkout, paths.scratch)
    ctx.cleanup.callback(setup.sandbox.close)
    _log_setup(setup)
    tools: list[Tool] = [
        EditorTool(paths.checkout, setup.sandbox.workdir),
        BashTool(setup.sandbox),
        setup.tests,
    ]
    system = system_prompt()
    ctx.trajectory.write(
        "start",
        run_id=ctx.run_id,
        run_dir=str(paths.root),
        repo=str(dest.repo),
        base=dest.base,
        branch=dest.branch,
        task=req.task,
        task_untrusted=req.task_untrusted,
        model=ctx.model.name,
        provider=req.provider,
        test_cmd=setup.command.command,
        workdir=setup.sandbox.workdir,
        python=setup.toolchain.python,
        named_tests=req.named_tests,
        system=system,
        tools=[t.spec() for t in tools] + [FINISH_SPEC],
        sandbox=req.sandbox,
    )
    return Workspace(setup, tools, system)


# --- stage 2: baseline ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    """The harness's run of the suite before any change, and which of its failures are flaky."""

    harness: HarnessTests  # runs the tests on a commit, in a fresh copy, with the runtime check
    report: TestReport
    flaky: list[str]
    summary: str  # the report as the model is shown it


def take_baseline(ctx: RunContext, space: Workspace) -> Baseline:
    """Run the suite on the base commit (and its failures once more, to find the flaky ones). A suite that
    cannot run at all stops the run here, before any model call (exit 2)."""
    paths, tests = ctx.paths, space.setup.tests
    harness = HarnessTests(
        _harness_runner(tests, install_guard(paths.guard), paths.pycache),
        paths.checkout,
        paths.harness,
        base=ctx.dest.base,
        keep=ctx.req.keep,
    )
    first = harness.first_baseline(ctx.req.baseline, paths.pycache, space.setup.command.command)
    report = first.report
    check_baseline(report, space.setup, paths.checkout, ctx.trajectory)
    flaky = _rerun_disagreements(harness, report)
    # what the suite writes as it runs is never part of the change
    ws.exclude_from_change(paths.checkout, first.written)
    summary = tests.summarise(report)
    ctx.trajectory.write("baseline", report=report.model_dump(), summary=summary, flaky=flaky)
    return Baseline(harness, report, flaky, summary)


# --- stage 3: work -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Work:
    """How the model's work ended, and the gate that held its `finish` (it knows the run's targets)."""

    outcome: LoopOutcome
    gate: FinishGate


def work(ctx: RunContext, space: Workspace, baseline: Baseline) -> Work:
    """The model works in the checkout through the agent loop until it finishes or a limit ends it. A model
    API failure ends the run here (exit 3)."""
    req, paths = ctx.req, ctx.paths
    gate = FinishGate(
        baseline.report,
        named=req.named_tests,
        in_force=req.targets_in_force,
        requested=req.targets_requested,
        task_ids=tg.ids_in_text(req.task),
        flaky=baseline.flaky,
        structured_runner=space.setup.command.structured,
        changed_paths=lambda: ws.changed_paths(paths.checkout, ctx.dest.base),
        edited_targets=lambda names: edited_targets(paths.checkout, ctx.dest.base, names),
    )
    # edits through the editor or bash, found at a cost that follows what changed (see agent/changes.py)
    watch = TreeWatch(paths.checkout)
    ctx.cleanup.callback(watch.close)
    if watch.fallback_reason:
        log.warning("change_detection_fallback", reason=watch.fallback_reason)
    loop = AgentLoop(
        ctx.model,
        space.tools,
        space.system,
        gate=gate,
        finish_spec=FINISH_SPEC,
        limits=Limits(
            req.max_steps,
            req.max_cost,
            req.max_time,
            started=ctx.started,
            host_tool_time=req.command_timeout,
        ),
        pricing=Pricing(req.prices, provider=PROVIDER_INFO[req.provider].price_table),
        trajectory=ctx.trajectory,
        worktree_fingerprint=watch.fingerprint,
        on_step=_progress_callback(ctx.progress, ctx.started),
        disk_check=DiskQuota(paths.root, req.disk_limit, within=("checkout", "scratch")).exceeded,
    )
    brief = Briefing(
        task=req.task,
        task_untrusted=req.task_untrusted,
        checkout=paths.checkout,
        test_command=space.setup.command.command,
        baseline_summary=baseline.summary,
        targets=gate.targets(),
        notes=space.setup.notes,
    )
    outcome = loop.run(first_message(brief))
    if outcome.error is not None:  # the "model_error" ending: the run fails as the model API did
        raise outcome.error
    return Work(outcome, gate)


# --- stage 4: verify -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotJudged:
    """The change is not looked at: nothing is committed, diffed or copied, and the run is not fixed."""

    reason: str


@dataclass(frozen=True)
class Checked:
    """The change, committed for verification, and what the harness's own runs of that commit showed."""

    commit: str | None  # None: nothing changed
    subject: str
    trailers: dict[str, str]
    verified: Verified


MAX_CHANGE_BYTES = 256 * 1024**2


def verify_change(ctx: RunContext, baseline: Baseline, done: Work) -> Checked | NotJudged:
    """Commit the change and gather the verdict's evidence from the harness's own runs of that commit.

    Every verification run happens in a fresh copy of the commit, so what is verified is exactly what the
    branch would hold: nothing ignored or left over in the checkout can help, and nothing one run writes
    reaches another."""
    outcome, paths, base = done.outcome, ctx.paths, ctx.dest.base
    if not outcome.judged:
        return NotJudged(outcome.reason)
    changed = ws.changed_paths(paths.checkout, base)
    too_big = _oversized_change(paths.checkout, changed) or ws.unrepresentable_names(changed)
    if too_big:
        return NotJudged(too_big)
    subject = ws.subject_from_task(ctx.req.task)
    trailers = {**ctx.req.commit_trailers, "Be-Agent-Run": ctx.run_id}
    commit = (
        ws.commit_all(paths.checkout, base, subject, "(verification pending)", trailers) if changed else None
    )
    ws.neutral_diff(paths.checkout, base, commit or base, paths.diff)
    state = outcome.state
    claimed = _finish_report(state).fixes_tests if state.report and not state.gave_up else []
    verified = verify(
        baseline.harness,
        paths.checkout,
        base=base,
        commit=commit,
        baseline=baseline.report,
        flaky=baseline.flaky,
        targets=done.gate.targets(claimed),
        structured_runner=done.gate.structured_runner,
    )
    return Checked(commit, subject, trailers, verified)


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


# --- stage 5: decide (pure) ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """The run's status and reason: the harness's verdict, then how the model's work ended."""

    status: Literal["fixed", "not_fixed"]
    reason: str
    verdict: Verdict
    verification: Verification  # the block the result, the commit and the pull request show


def decide_run(outcome: LoopOutcome, verified: Verified) -> Decision:
    """`fixed` only when the verdict says so and the work ended conclusively (not given up, not a script that
    ran out). How the work ended leads the reason, unless the model finished and the change is fixed: a limit
    or giving up explains a not_fixed better than the tests."""
    verdict = decide(verified.evidence)
    status = verdict.status if outcome.conclusive else "not_fixed"
    reason = verdict.reason
    if outcome.state.gave_up or status != "fixed" or not outcome.by_the_model:
        reason = f"{outcome.reason}; {reason}"
    block = verification(
        verified.evidence,
        verdict,
        changed_config=verified.facts.changed_config,
        binary_files=verified.facts.binary_files,
    )
    return Decision(status, reason, verdict, block)


# --- stage 6: hand back --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Conclusion:
    """What the stages found, for the result: its status and reason, and what backs them."""

    status: Literal["fixed", "not_fixed"]
    reason: str
    loop: LoopState
    tests_before: TestReport
    tests_after: TestReport | None = None  # the verdict run (None: not judged)
    verification: Verification | None = None
    diff: str = ""
    commit: str | None = None
    branch: str | None = None  # set only when the branch was handed back


def hand_back(ctx: RunContext, done: Work, checked: Checked, decision: Decision) -> Conclusion:
    """When (and only when) the decision is fixed: the commit gets its report and the targets a follow-up
    must keep passing, and the branch goes into the user's repository."""
    evidence = checked.verified.evidence
    conclusion = Conclusion(
        decision.status,
        decision.reason,
        done.outcome.state,
        evidence.baseline,
        tests_after=evidence.final if evidence.final is not None else evidence.baseline,
        verification=decision.verification,
        diff=str(ctx.paths.diff),
    )
    if decision.status != "fixed":
        return conclusion
    # what a follow-up on this branch must keep passing (agent/targets.py): the targets, and the change's tests
    # shown to fail without it
    added = evidence.added
    fixed_by = {
        *decision.verdict.target_ids,
        *(added.failing_on_base if added and added.fail_on_base else []),
    }
    trailers = dict(checked.trailers)
    if fixed_by:
        trailers[TARGETS_TRAILER] = json.dumps(sorted(fixed_by))
    report, block = done.outcome.state.report, decision.verification.as_json()
    body = render_markdown_report(report, block, status="fixed", reason=decision.reason)
    commit = ws.reword_head(ctx.paths.checkout, checked.subject, body, trailers)
    if ctx.req.fetch_back:
        ws.fetch_back(ctx.dest.repo, ctx.paths.checkout, ctx.dest.branch, expected_old=ctx.dest.existing_tip)
    return dataclasses.replace(conclusion, commit=commit, branch=ctx.dest.branch)


# --- the end: the result, built once, and the run's record closed ------------------------------------------


def _result(ctx: RunContext, c: Conclusion) -> RunResult:
    state = c.loop
    return RunResult(
        status=c.status,
        reason=c.reason,
        branch=c.branch,
        commit=c.commit,
        base=ctx.dest.base,
        tests_before=c.tests_before.brief(),
        tests_after=c.tests_after.brief() if c.tests_after is not None else {},
        verification=c.verification.as_json() if c.verification is not None else {},
        steps=state.steps,
        phases=summarise(state.phases),
        tokens=state.usage.as_dict(),
        provider=ctx.req.provider,
        model=ctx.model.name,
        cost_usd=None if state.cost is None else round(state.cost, 6),
        price_source=state.price_source,
        duration_s=_elapsed(ctx),
        model_latency_s=round(state.model_latency, 3),
        trajectory=str(ctx.paths.trajectory),
        run_dir=str(ctx.paths.root),
        diff=c.diff,
        report=state.report,
        run_id=ctx.run_id,
    )


def _error_result(ctx: RunContext, reason: str, details: dict[str, str]) -> RunResult:
    return RunResult(
        status="error",
        reason=reason,
        base=ctx.dest.base,
        provider=ctx.req.provider,
        model=ctx.model.name,
        duration_s=_elapsed(ctx),
        trajectory=str(ctx.paths.trajectory),
        run_dir=str(ctx.paths.root),
        diff=details.get("diff", ""),
        run_id=ctx.run_id,
    )


def _elapsed(ctx: RunContext) -> float:
    return round(time.monotonic() - ctx.started, 3)


def _failure_reason(exc: BaseException) -> str:
    """The result's reason for a run `exc` ended."""
    if isinstance(exc, AgentError):
        return exc.message
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, Exception):
        return f"internal error: {type(exc).__name__}: {exc}"
    return ""


def _as_run_error(ctx: RunContext, exc: BaseException) -> AgentError | None:
    """The error a run that `exc` ended raises: its own AgentError, an interruption, or an internal error
    (a bug). None for what is not ours to translate (SystemExit)."""
    if isinstance(exc, AgentError):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        return Interrupted("interrupted")
    if isinstance(exc, Exception):
        log.exception("internal_error")
        log_file = ctx.paths.root / "log.jsonl"
        return InternalError(
            f"{_failure_reason(exc)} (this is a bug in be-agent; the run's log is {log_file})"
        )
    return None


def _keep_what_changed(ctx: RunContext) -> dict[str, str]:
    """Whatever the model changed before a run failed stays reviewable in the run directory; returns where
    to look (for the error's details and the result)."""
    paths = ctx.paths
    details = {"run_dir": str(paths.root), "trajectory": str(paths.trajectory)}
    if paths.checkout.is_dir():
        try:
            ws.write_diff(paths.checkout, ctx.dest.base, paths.diff)
            details["diff"] = str(paths.diff)
        except (AgentError, OSError):
            pass
    return details


def close_run(ctx: RunContext, result: RunResult, *, exit_code: int | None = None) -> RunResult:
    """Complete the run's record: the trajectory's end, the log, the run's page and result.json; then remove
    the run's trees unless --keep. Returns the result with its page."""
    if result.status == "error":
        if exit_code is not None:
            ctx.trajectory.write("end", status="error", reason=result.reason, exit_code=exit_code)
    else:
        ctx.trajectory.write("end", **json.loads(result.model_dump_json()))
    ctx.trajectory.close()
    log.info("run_ended", status=result.status, reason=result.reason)
    close_logging()
    result = result.model_copy(update={"page": save_run_page(ctx.paths.root, result.model_dump(mode="json"))})
    ctx.paths.result.write_text(result.model_dump_json(indent=2))
    if not ctx.req.keep:
        for tree in (
            ctx.paths.checkout,
            ctx.paths.scratch,
            ctx.paths.harness,
            ctx.paths.pycache,
            ctx.paths.setup_output,
        ):
            shutil.rmtree(tree, ignore_errors=True)
    return result


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


def _progress_callback(progress: Progress | None, started: float) -> Callable[[LoopState], None] | None:
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


def _finish_report(state: LoopState) -> FinishReport:
    """The accepted finish report (the gate validated it before accepting)."""
    try:
        return FinishReport.model_validate(state.report)
    except ValueError:
        return FinishReport()
