"""The command line: every be-agent command (`run`, `replay`, `fix-issue`, `respond`, `ci`, `bench`, `view`) is
defined here and only here.

A command reads its options (the shared ones come from `agent.cli_options`), calls one feature function that
returns an outcome, prints it through `agent.console` and exits with the outcome's code. Errors take one
path: an exception becomes one line `be-agent: error: ...` on stderr and the exit code
`agent.errors.failure_of` gives it (with `--json`, a JSON object as the last line of stdout too). A mistake on
the command line itself (an unknown option, a missing argument, a bad value) is one such line with exit 2.

Exit codes (README): 0 fixed, 1 not fixed, 2 usage or configuration, 3 a remote failed (the model API,
GitHub, a git push), 4 sandbox unavailable, 70 internal error, 130 interrupted.

Nothing heavy is imported before a command runs, so `--help` and usage errors answer at once.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from agent import console
from agent.bench_options import (
    ExecutorKind,
    OnOff,
    RetryPolicy,
    cpus,
    executor_kind,
    memory_size,
    on_off,
    retry_policy,
)
from agent.cli_options import (
    AcceptRepoSandbox,
    BenchAgent,
    CommandTimeout,
    DiskLimit,
    Json,
    MaxCost,
    MaxSteps,
    MaxTime,
    Model,
    Network,
    NetworkSetup,
    Prices,
    ProviderOption,
    Quiet,
    RetryBudget,
    Sandbox,
    StateDir,
    TestCmd,
    TestTimeout,
    Verbose,
    bench_agent,
    positive_whole_number,
    whole_number,
)
from agent.errors import ExitCode, Failure, UsageError, as_agent_error, failure_of
from agent.settings import RunSettings, default_state_dir

try:  # typer >= 0.22 carries its own copy of click
    from typer._click.exceptions import ClickException, MissingParameter, NoArgsIsHelpError
    from typer._click.exceptions import UsageError as CommandLineError
except ImportError:  # pragma: no cover - older typer depends on click itself
    from click.exceptions import ClickException, MissingParameter, NoArgsIsHelpError  # type: ignore[no-redef,assignment,unused-ignore]
    from click.exceptions import UsageError as CommandLineError  # type: ignore[no-redef,assignment,unused-ignore]

if TYPE_CHECKING:  # loaded only when a command runs
    from agent.config import RunResult

F = TypeVar("F", bound=Callable[..., Any])
ErrorReport = Callable[[Failure, bool], None]


# --- one error path -----------------------------------------------------------------------------------------


def usage_line(exc: ClickException) -> str:
    """A command-line mistake as one plain sentence that names the option and where to read more."""
    param = getattr(exc, "param", None)
    if isinstance(exc, typer.BadParameter) and param is not None:
        if param.param_type_name == "option" and param.opts:
            name = max(param.opts, key=len)
        else:
            name = getattr(param, "metavar", None) or str(param.name).upper()
        if isinstance(exc, MissingParameter):
            text = f"missing {param.param_type_name} {name}"
        elif exc.message.startswith("must"):
            text = f"{name} {exc.message}"
        else:
            text = f"{name}: {exc.message}"
    else:
        text = exc.format_message()
    text = " ".join(text.split()).rstrip(".")
    if text[:1].isupper() and not text[1:2].isupper():
        text = text[0].lower() + text[1:]
    ctx = exc.ctx if isinstance(exc, CommandLineError) else None
    command = ctx.command_path if ctx is not None else "be-agent"
    return f"{text} (see `{command} --help`)"


def _error_json(failure: Failure, as_json: bool) -> None:
    if as_json:
        payload = {
            **failure.details,
            "status": "error",
            "reason": failure.message,
            "exit_code": failure.exit_code,
        }
        console.json_line(payload)


class _Commands(TyperGroup):
    """Typer's command group with be-agent's way of failing: plain lines, documented exit codes."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        try:
            code = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError as exc:
            console.report(exc.format_message())
            code = ExitCode.USAGE
        except ClickException as exc:
            failure = Failure(usage_line(exc), ExitCode.USAGE)
            console.error(failure.message)
            _error_json(failure, "--json" in argv)
            code = ExitCode.USAGE
        except typer.Abort:
            console.error("interrupted")
            code = ExitCode.INTERRUPTED
        if not standalone_mode:
            return code
        sys.exit(code or 0)


def reports_errors(on_error: ErrorReport) -> Callable[[F], F]:
    """Every exception a command raises leaves as one line and its exit code (`failure_of`); `on_error`
    prints the JSON line (with `--json`) and anything else the command reports when it fails."""

    def decorate(func: F) -> F:
        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            as_json = bool(kwargs.get("json_output"))
            try:
                return func(*args, **kwargs)
            except (typer.Exit, typer.Abort, ClickException):
                raise
            except (Exception, KeyboardInterrupt) as exc:
                failure = failure_of(exc)
                console.error(failure.message)
                on_error(failure, as_json)
                # a bug keeps its traceback attached for whoever debugs it; a known failure says it all
                raise typer.Exit(failure.exit_code) from (None if as_agent_error(exc) else exc)

        return wrapper  # type: ignore[return-value]

    return decorate


def handles_errors(func: F) -> F:
    """`reports_errors` with the usual JSON error line: status, reason, exit code and where to look."""
    return reports_errors(_error_json)(func)


app = typer.Typer(
    cls=_Commands,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="An autonomous backend engineer: a task on a git repository becomes a tested branch.",
)


def _print_version(wanted: bool) -> None:
    if wanted:
        from agent import __version__

        console.say(f"be-agent {__version__}")
        raise typer.Exit(0)


@app.callback()
def _global_options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """An autonomous backend engineer: a task on a git repository becomes a tested branch."""


def read_task(task: str | None, task_file: Path | None) -> str:
    if task is not None and task_file is not None:
        raise UsageError("give either --task or --task-file, not both")
    if task_file is not None:
        try:
            return task_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise UsageError(f"cannot read task file {task_file}: {reason}") from None
    if task is None:
        raise UsageError("no task: give --task TEXT or --task-file FILE")
    return task


def emit_result(result: RunResult, *, as_json: bool, quiet: bool) -> None:
    from agent.report import render_terminal_summary

    if not quiet or not as_json:
        console.report(render_terminal_summary(result), to_stderr=as_json)
    if as_json:
        console.json_line(result.model_dump(mode="json"))


def _unconfined_warning() -> None:
    from sandbox.preflight import UNCONFINED_WARNING

    console.warn(UNCONFINED_WARNING.removeprefix("warning: "))


def run_settings(
    repo: Path | None,
    *,
    prices: list[str] | None = None,
    accept_repo_sandbox: bool = False,
    **flags: Any,
) -> RunSettings:
    """The settings a command's runs use: its flags (None: not given), then the environment, the
    repository's config (`repo`; None for commands without one), the user's config, the built-in defaults
    (`agent.config_file`). Refused values are usage errors, before anything starts."""
    from agent.config import check_settings
    from agent.config_file import resolve_settings

    settings = resolve_settings(flags, repo=repo, price_flags=prices, accept_repo_sandbox=accept_repo_sandbox)
    check_settings(settings)
    return settings


# --- run, replay ----------------------------------------------------------------------------------------------


@app.command("run")
@handles_errors
def run_command(
    repo: Annotated[Path, typer.Option("--repo", help="The git repository to work on.")] = Path("."),
    task: Annotated[str | None, typer.Option("--task", help="What to do, as text.")] = None,
    task_file: Annotated[Path | None, typer.Option("--task-file", help="What to do, from a file.")] = None,
    base: Annotated[str, typer.Option("--base", help="Commit or ref to start from.")] = "HEAD",
    branch: Annotated[
        str | None, typer.Option("--branch", help="Branch to create (default be-agent/<slug>-<id>).")
    ] = None,
    test_cmd: TestCmd = None,
    tests: Annotated[
        list[str] | None,
        typer.Option(
            "--tests",
            help="A test the run is judged by (repeatable): a test id, a file, or an id without its "
            "[parameters] for all of them.",
        ),
    ] = None,
    model: Model = None,
    provider: ProviderOption = None,
    price: Prices = None,
    max_steps: MaxSteps = None,
    max_cost: MaxCost = None,
    max_time: MaxTime = None,
    command_timeout: CommandTimeout = None,
    test_timeout: TestTimeout = None,
    retry_budget: RetryBudget = None,
    disk_limit: DiskLimit = None,
    sandbox: Sandbox = None,
    network: Network = None,
    network_setup: NetworkSetup = None,
    accept_repo_sandbox: AcceptRepoSandbox = False,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the run's checkout.")] = False,
    state_dir: StateDir = None,
    json_output: Json = False,
    verbose: Verbose = False,
    quiet: Quiet = False,
) -> None:
    """Work on a task in a private copy of REPO and hand back a tested branch."""
    from agent.config import build_request
    from agent.progress import Progress
    from agent.run import run_task

    settings = run_settings(
        repo,
        prices=price,
        accept_repo_sandbox=accept_repo_sandbox,
        model=model,
        provider=provider,
        max_steps=max_steps,
        max_cost=max_cost,
        max_time=max_time,
        command_timeout=command_timeout,
        test_timeout=test_timeout,
        retry_budget=retry_budget,
        disk_limit=disk_limit,
        sandbox=sandbox,
        network=network,
        network_setup=None if network_setup is None else network_setup == "on",
        state_dir=state_dir,
        test_cmd=test_cmd,
    )
    request = build_request(
        settings,
        repo=repo,
        task=read_task(task, task_file),
        base=base,
        branch=branch,
        named_tests=tests or [],
        keep=keep,
        verbose=verbose,
        quiet=quiet,
    )
    progress = Progress(sys.stderr, enabled=not quiet)
    try:
        result = run_task(request, progress=progress)
    finally:
        progress.close()
    emit_result(result, as_json=json_output, quiet=quiet)
    raise typer.Exit(result.exit_code)


@app.command("replay")
@handles_errors
def replay_command(
    trajectory: Annotated[
        Path, typer.Argument(metavar="TRAJECTORY", help="A trajectory.jsonl recorded by a run.")
    ],
    repo: Annotated[
        Path | None, typer.Option("--repo", help="Repository to replay on (default: recorded).")
    ] = None,
    sandbox: Sandbox = None,
    state_dir: StateDir = None,
    json_output: Json = False,
    quiet: Quiet = False,
) -> None:
    """Re-run a recorded run's model turns through the real loop and tools, with no API key."""
    from agent.replay import replay

    outcome = replay(
        trajectory,
        repo=repo,
        sandbox=sandbox or "auto",
        state_dir=state_dir or default_state_dir(),
        quiet=quiet,
        warn=console.warn,
    )
    emit_result(outcome.result, as_json=False, quiet=quiet or json_output)
    if outcome.differences:
        console.note(f"replay differs from the recording in {len(outcome.differences)} place(s):")
        for diff in outcome.differences:
            console.note(f"  - {diff}")
    else:
        console.note(f"replay matches the recording ({outcome.compared} tool results compared)")
    if json_output:
        payload = outcome.result.model_dump(mode="json")
        payload["replay"] = {
            "matches": not outcome.differences,
            "compared": outcome.compared,
            "differences": outcome.differences,
        }
        console.json_line(payload)
    raise typer.Exit(outcome.exit_code)


# --- fix-issue, respond, ci ------------------------------------------------------------------------------------------


@app.command("fix-issue")
@handles_errors
def fix_issue_command(
    number: Annotated[
        int, typer.Argument(metavar="NUMBER", parser=positive_whole_number, help="The issue number.")
    ],
    repo: Annotated[Path, typer.Option("--repo", help="A checkout of the repository.")] = Path("."),
    github_repo: Annotated[
        str | None,
        typer.Option(
            "--github-repo",
            metavar="OWNER/NAME",
            help="GitHub repository (default: GITHUB_REPOSITORY, else the remote's URL).",
        ),
    ] = None,
    remote: Annotated[str, typer.Option("--remote", help="Git remote to fetch from and push to.")] = "origin",
    base: Annotated[
        str | None,
        typer.Option(
            "--base", help="Branch the pull request targets (default: the repository's default branch)."
        ),
    ] = None,
    ready: Annotated[
        bool, typer.Option("--ready", help="Open the pull request ready for review, not draft.")
    ] = False,
    no_pr: Annotated[
        bool, typer.Option("--no-pr", help="Push the branch only: no pull request, no comment.")
    ] = False,
    test_cmd: TestCmd = None,
    model: Model = None,
    provider: ProviderOption = None,
    price: Prices = None,
    max_steps: MaxSteps = None,
    max_cost: MaxCost = None,
    max_time: MaxTime = None,
    command_timeout: CommandTimeout = None,
    test_timeout: TestTimeout = None,
    retry_budget: RetryBudget = None,
    disk_limit: DiskLimit = None,
    sandbox: Sandbox = None,
    network: Network = None,
    network_setup: NetworkSetup = None,
    accept_repo_sandbox: AcceptRepoSandbox = False,
    state_dir: StateDir = None,
    json_output: Json = False,
) -> None:
    """Fix GitHub issue NUMBER: push be-agent/issue-NUMBER-<slug> and open (or update) a draft pull request."""
    from agent.github.fix_issue import FixIssueOptions, fix_issue, render_outcome
    from agent.progress import Progress

    settings = run_settings(
        repo,
        prices=price,
        accept_repo_sandbox=accept_repo_sandbox,
        model=model,
        provider=provider,
        max_steps=max_steps,
        max_cost=max_cost,
        max_time=max_time,
        command_timeout=command_timeout,
        test_timeout=test_timeout,
        retry_budget=retry_budget,
        disk_limit=disk_limit,
        sandbox=sandbox,
        network=network,
        network_setup=None if network_setup is None else network_setup == "on",
        state_dir=state_dir,
        test_cmd=test_cmd,
    )
    options = FixIssueOptions(
        number=number,
        repo=repo,
        github_repo=github_repo,
        remote=remote,
        base=base,
        ready=ready,
        open_pr=not no_pr,
        test_cmd=settings.test_cmd,
        settings=settings,
    )
    progress = Progress(sys.stderr, enabled=True)
    try:
        outcome = fix_issue(options, progress=progress, warn=console.warn)
    finally:
        progress.close()
    console.report(render_outcome(outcome), to_stderr=json_output)
    if json_output:
        console.json_line(outcome.as_dict())
    raise typer.Exit(outcome.exit_code)


@app.command("respond")
@handles_errors
def respond_command(
    number: Annotated[
        int,
        typer.Argument(metavar="PR_NUMBER", parser=positive_whole_number, help="The pull request number."),
    ],
    repo: Annotated[Path, typer.Option("--repo", help="A checkout of the repository.")] = Path("."),
    github_repo: Annotated[
        str | None,
        typer.Option(
            "--github-repo",
            metavar="OWNER/NAME",
            help="GitHub repository (default: GITHUB_REPOSITORY, else the remote's URL).",
        ),
    ] = None,
    remote: Annotated[str, typer.Option("--remote", help="Git remote to fetch from and push to.")] = "origin",
    test_cmd: TestCmd = None,
    model: Model = None,
    provider: ProviderOption = None,
    price: Prices = None,
    max_steps: MaxSteps = None,
    max_cost: MaxCost = None,
    max_time: MaxTime = None,
    command_timeout: CommandTimeout = None,
    test_timeout: TestTimeout = None,
    retry_budget: RetryBudget = None,
    disk_limit: DiskLimit = None,
    sandbox: Sandbox = None,
    network: Network = None,
    network_setup: NetworkSetup = None,
    accept_repo_sandbox: AcceptRepoSandbox = False,
    state_dir: StateDir = None,
    json_output: Json = False,
) -> None:
    """Answer new review comments on be-agent's pull request PR_NUMBER with a verified commit on its branch."""
    from agent.github.respond import RespondOptions, render_outcome, respond
    from agent.progress import Progress

    settings = run_settings(
        repo,
        prices=price,
        accept_repo_sandbox=accept_repo_sandbox,
        model=model,
        provider=provider,
        max_steps=max_steps,
        max_cost=max_cost,
        max_time=max_time,
        command_timeout=command_timeout,
        test_timeout=test_timeout,
        retry_budget=retry_budget,
        disk_limit=disk_limit,
        sandbox=sandbox,
        network=network,
        network_setup=None if network_setup is None else network_setup == "on",
        state_dir=state_dir,
        test_cmd=test_cmd,
    )
    options = RespondOptions(
        number=number,
        repo=repo,
        github_repo=github_repo,
        remote=remote,
        test_cmd=settings.test_cmd,
        settings=settings,
    )
    progress = Progress(sys.stderr, enabled=True)
    try:
        outcome = respond(options, progress=progress, warn=console.warn)
    finally:
        progress.close()
    console.report(render_outcome(outcome), to_stderr=json_output)
    if json_output:
        console.json_line(outcome.as_dict())
    raise typer.Exit(outcome.exit_code)


def _ci_failure(failure: Failure, as_json: bool) -> None:
    """`ci` fails like it finishes: the GitHub Actions files and the JSON line say `error`."""
    from agent.ci import CiOutcome, write_github_files

    outcome = CiOutcome("error", failure.message, failure.exit_code)
    write_github_files(outcome, os.environ, warn=console.warn)
    if as_json:
        console.json_line(outcome.as_json(), sort_keys=True)


@app.command("ci")
@reports_errors(_ci_failure)
def ci_command(
    repo: Annotated[Path, typer.Option("--repo", help="The repository CI checked out.")] = Path("."),
    test_cmd: TestCmd = None,
    push: Annotated[
        bool, typer.Option("--push", help="Push the verified fix branch (never forced).")
    ] = False,
    open_pr: Annotated[
        bool,
        typer.Option(
            "--open-pr",
            help="Push the fix branch with the GitHub credentials and open a draft pull request from it to "
            "the branch that failed, so CI runs on it (implies --push).",
        ),
    ] = False,
    github_repo: Annotated[
        str | None,
        typer.Option(
            "--github-repo",
            metavar="OWNER/NAME",
            help="With --open-pr: the GitHub repository (default: GITHUB_REPOSITORY, else the remote's URL).",
        ),
    ] = None,
    remote: Annotated[str, typer.Option("--remote", help="Remote to push to.")] = "origin",
    log: Annotated[Path | None, typer.Option("--log", help="CI log file; its tail joins the task.")] = None,
    model: Model = None,
    provider: ProviderOption = None,
    price: Prices = None,
    max_steps: MaxSteps = None,
    max_cost: MaxCost = None,
    max_time: MaxTime = None,
    command_timeout: CommandTimeout = None,
    test_timeout: TestTimeout = None,
    retry_budget: RetryBudget = None,
    disk_limit: DiskLimit = None,
    sandbox: Sandbox = None,
    network: Network = None,
    network_setup: NetworkSetup = None,
    accept_repo_sandbox: AcceptRepoSandbox = False,
    state_dir: StateDir = None,
    json_output: Json = False,
) -> None:
    """Run the tests; when they fail, try a fix and hand it back as a verified branch."""
    from agent.ci import CiOptions, run_ci, write_github_files

    settings = run_settings(
        repo,
        prices=price,
        accept_repo_sandbox=accept_repo_sandbox,
        model=model,
        provider=provider,
        max_steps=max_steps,
        max_cost=max_cost,
        max_time=max_time,
        command_timeout=command_timeout,
        test_timeout=test_timeout,
        retry_budget=retry_budget,
        disk_limit=disk_limit,
        sandbox=sandbox,
        network=network,
        network_setup=None if network_setup is None else network_setup == "on",
        state_dir=state_dir,
        test_cmd=test_cmd,
    )
    if settings.sandbox == "none":
        _unconfined_warning()
    options = CiOptions(
        repo=repo,
        test_cmd=settings.test_cmd,
        push=push or open_pr,
        remote=remote,
        log=log,
        open_pr=open_pr,
        github_repo=github_repo,
        settings=settings,
    )
    outcome = run_ci(options, say=console.say)
    if outcome.error:
        console.error(outcome.error)
    write_github_files(outcome, os.environ, warn=console.warn)
    if json_output:
        console.json_line(outcome.as_json(), sort_keys=True)
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


# --- bench ----------------------------------------------------------------------------------------------------


@app.command("bench")
@handles_errors
def bench_command(
    tasks: Annotated[Path, typer.Argument(metavar="TASKS", help="A JSONL file of SWE-bench-style tasks.")],
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            metavar="N",
            parser=whole_number,
            help="Tasks run at once: processes (local), or the CPUs of the Ray cluster started for the bench.",
        ),
    ] = 1,
    out: Annotated[
        Path, typer.Option("--out", help="Directory for results.jsonl, report.md, patches and runs.")
    ] = Path("bench-out"),
    agent: Annotated[
        BenchAgent,
        typer.Option(
            "--agent",
            metavar="be-agent|gold|empty",
            parser=bench_agent,
            help="be-agent, or gold / empty to check the task set.",
        ),
    ] = "be-agent",
    runs: Annotated[
        int,
        typer.Option(
            "--runs",
            metavar="N",
            parser=positive_whole_number,
            help="Run every task N times; report mean and spread.",
        ),
    ] = 1,
    retry: Annotated[
        RetryPolicy,
        typer.Option(
            "--retry",
            metavar="infra|none",
            parser=retry_policy,
            help="infra: run again the results that are infrastructure failures (never the model's).",
        ),
    ] = "none",
    executor: Annotated[
        ExecutorKind,
        typer.Option("--executor", metavar="local|ray", parser=executor_kind, help="Where tasks run."),
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address", metavar="ADDR", help="An existing Ray cluster (default: start a local one)."
        ),
    ] = None,
    task_cpus: Annotated[
        float, typer.Option("--task-cpus", metavar="N", parser=cpus, help="CPUs each Ray task declares.")
    ] = 1.0,
    task_memory: Annotated[
        int,
        typer.Option(
            "--task-memory",
            metavar="SIZE",
            parser=memory_size,
            help="Memory each Ray task declares.",
            show_default="4G",
        ),
    ] = 4 * 1024**3,
    repos_dir: Annotated[
        Path | None,
        typer.Option(
            "--repos-dir", metavar="DIR", help="Mirror of the task repositories: owner__name or owner/name."
        ),
    ] = None,
    repo_url: Annotated[
        str | None,
        typer.Option(
            "--repo-url",
            metavar="TEMPLATE",
            help="Clone URL for repositories not found locally, e.g. https://host/{repo}.git.",
        ),
    ] = None,
    environments: Annotated[
        Path | None,
        typer.Option(
            "--environments", metavar="FILE", help="Setup commands per repository and version (TOML)."
        ),
    ] = None,
    network_setup: Annotated[
        OnOff,
        typer.Option(
            "--network-setup",
            metavar="on|off",
            parser=on_off,
            help="Network during the setup step (only there).",
        ),
    ] = "on",
    model: Model = None,
    provider: ProviderOption = None,
    price: Prices = None,
    max_steps: MaxSteps = None,
    max_cost: MaxCost = None,
    max_time: MaxTime = None,
    command_timeout: CommandTimeout = None,
    test_timeout: TestTimeout = None,
    retry_budget: RetryBudget = None,
    disk_limit: DiskLimit = None,
    sandbox: Sandbox = None,
    network: Network = None,
    accept_repo_sandbox: AcceptRepoSandbox = False,
) -> None:
    """Run the agent on every task, judge each patch like SWE-bench, and write results.jsonl and report.md."""
    from rich.console import Console

    from agent.bench import BenchOptions, ExecutorOptions, run_bench
    from agent.bench_env import Environments, load_environments
    from agent.bench_tasks import RepoSources
    from agent.view_bench import REPORT_NAME

    settings = run_settings(
        None,
        prices=price,
        accept_repo_sandbox=accept_repo_sandbox,
        model=model,
        provider=provider,
        max_steps=max_steps,
        max_cost=max_cost,
        max_time=max_time,
        command_timeout=command_timeout,
        test_timeout=test_timeout,
        retry_budget=retry_budget,
        disk_limit=disk_limit,
        sandbox=sandbox,
        network=network,
    )
    if repos_dir is not None and not repos_dir.is_dir():
        raise UsageError(f"--repos-dir {repos_dir} is not a directory")
    options = BenchOptions(
        out=out,
        agent=agent,
        settings=settings,
        sources=RepoSources(tasks.parent, repos_dir.resolve() if repos_dir else None, repo_url),
        environments=load_environments(environments) if environments else Environments(),
        setup_network=network_setup == "on",
    )
    placement = ExecutorOptions(executor, ray_address, task_cpus, task_memory)
    rows = run_bench(
        tasks,
        options,
        workers=workers,
        runs=runs,
        retry=retry,
        executor=placement,
        console=Console(stderr=True),
    )
    resolved = sum(1 for r in rows if r["resolved"])
    console.say(f"resolved {resolved}/{len(rows)}; report: {out / 'report.md'}, {out / REPORT_NAME}")


# --- view -----------------------------------------------------------------------------------------------------


@app.command("view")
@handles_errors
def view_command(
    target: Annotated[Path, typer.Argument(metavar="TARGET", help="A run directory, or a trajectory.jsonl.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write the page (default: run.html beside it).")
    ] = None,
    open_page: Annotated[bool, typer.Option("--open", help="Open the page in a browser.")] = False,
) -> None:
    """Write one self-contained HTML page showing what a run did (no scripts; it loads nothing)."""
    from agent.view import write_run_view

    path, opened = write_run_view(target, out=out, open_page=open_page)
    console.say(str(path))
    if open_page and not opened:
        console.warn(f"no browser could be started; open {path} yourself")


def main() -> None:
    app(prog_name="be-agent")


if __name__ == "__main__":
    main()
